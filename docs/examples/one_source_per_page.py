"""A custom postprocessor: at most one source per page, so an answer cites several pages."""

from __future__ import annotations

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from typing_extensions import override

from rag.engine import TextbookQA
from rag.retrieval.postprocessors import TopKPostprocessor


def page_of(item: NodeWithScore) -> str:
    """The page a chunk belongs to: its URL without the heading anchor."""
    return str(item.node.metadata.get("url", "")).split("#", 1)[0]


class OnePerPagePostprocessor(BaseNodePostprocessor):
    """Keep the best chunk of each page; the reader's selection (pinned first) always stays."""

    @classmethod
    def class_name(cls) -> str:
        return "OnePerPagePostprocessor"

    @override
    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        seen: set[str] = set()
        kept = []
        for item in nodes:  # best first: the retriever and earlier steps ordered them
            if item.node.metadata.get("selection"):
                kept.append(item)
            elif page_of(item) not in seen:
                seen.add(page_of(item))
                kept.append(item)
        return kept

    @override
    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return self._postprocess_nodes(nodes, query_bundle)  # cheap: no thread needed


class OnePerPageQA(TextbookQA):
    """The default steps, with one source per page applied before the cut to the top k."""

    @override
    def _postprocessors(
        self, selected_text: str | None, page_url: str | None
    ) -> list[BaseNodePostprocessor]:
        steps = super()._postprocessors(selected_text, page_url)
        cut = next(i for i, step in enumerate(steps) if isinstance(step, TopKPostprocessor))
        return [*steps[:cut], OnePerPagePostprocessor(), *steps[cut:]]

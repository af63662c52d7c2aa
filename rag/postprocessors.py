"""Node postprocessors: the reader's selection, and the final cut to the top k."""

from __future__ import annotations

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import Field
from typing_extensions import override

from rag.prompts import SELECTION_TITLE
from rag.text import terms

SELECTION_NODE_ID = "selection"


class SelectedTextPostprocessor(BaseNodePostprocessor):
    """Pin the passage the reader selected first, and prefer chunks close to it.

    Built per request: the selection never lives on a shared object. Chunks from the reader's
    page and chunks that share many terms with the selection (its own section, typically) move up.
    """

    selected_text: str = Field(min_length=1, max_length=10_000)
    page_url: str | None = None
    page_boost: float = 0.05
    overlap_boost: float = 0.2

    @classmethod
    def class_name(cls) -> str:
        return "SelectedTextPostprocessor"

    def selection_node(self) -> NodeWithScore:
        """The selection itself as a node (score 1.0), cited like any passage."""
        node = TextNode(
            id_=SELECTION_NODE_ID,
            text=self.selected_text,
            metadata={
                "title": SELECTION_TITLE,
                "section": "",
                "url": self.page_url or "",
                "source_path": None,
                "selection": True,
            },
        )
        return NodeWithScore(node=node, score=1.0)

    def _rerank(self, nodes: list[NodeWithScore]) -> list[NodeWithScore]:
        wanted = set(terms(self.selected_text))
        reranked = []
        for item in nodes:
            got = set(terms(item.node.get_content()))
            overlap = len(wanted & got) / max(1, min(len(wanted), len(got)))
            same_page = bool(self.page_url) and item.node.metadata.get("page_url") == self.page_url
            score = (item.score or 0.0) + self.overlap_boost * overlap + self.page_boost * same_page
            reranked.append(NodeWithScore(node=item.node, score=score))
        return sorted(reranked, key=lambda n: n.score or 0.0, reverse=True)

    @override
    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        others = [n for n in nodes if n.node.node_id != SELECTION_NODE_ID]
        return [self.selection_node(), *self._rerank(others)]

    @override
    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return self._postprocess_nodes(nodes, query_bundle)


class TopKPostprocessor(BaseNodePostprocessor):
    """Keep the first ``top_k`` nodes (after reranking), dropping repeats of the same text."""

    top_k: int = Field(ge=1)

    @classmethod
    def class_name(cls) -> str:
        return "TopKPostprocessor"

    @override
    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        seen: set[str] = set()
        kept = []
        for item in nodes:
            key = item.node.get_content().strip()
            if key in seen:
                continue
            seen.add(key)
            kept.append(item)
            if len(kept) == self.top_k:
                break
        return kept

    @override
    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return self._postprocess_nodes(nodes, query_bundle)

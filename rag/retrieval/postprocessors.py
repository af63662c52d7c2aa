"""Node postprocessors: the reader's selection, and the final cut to the top k."""

from __future__ import annotations

import re

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import Field
from typing_extensions import override

from rag.answer.prompts import SELECTION_TITLE
from rag.text import terms

SELECTION_NODE_ID = "selection"
# a selection is copied from the rendered page: markdown marks are gone, spaces may differ
_MARKUP_RE = re.compile(r"[*_`#>|~]+")
_PROBE_CHARS = 200
_MIN_PROBE_CHARS = 24


def comparable_text(text: str) -> str:
    """Text as a reader sees it: markdown marks dropped, spaces collapsed, lower case."""
    return " ".join(_MARKUP_RE.sub(" ", text).split()).lower()


class SelectedTextPostprocessor(BaseNodePostprocessor):
    """Pin the passage the reader selected first, and prefer chunks close to it.

    Built per request: the selection never lives on a shared object. Chunks from the reader's
    page and chunks that share many terms with the selection (its own section, typically) move up.
    When a retrieved chunk holds the selection itself, that chunk comes right after the selection
    and the selection is cited with its page, section and link.
    """

    selected_text: str = Field(min_length=1, max_length=10_000)
    page_url: str | None = None
    page_boost: float = 0.05
    overlap_boost: float = 0.2

    @classmethod
    def class_name(cls) -> str:
        return "SelectedTextPostprocessor"

    def selection_node(self, origin: NodeWithScore | None = None) -> NodeWithScore:
        """The selection itself as a node (score 1.0), cited like any passage.

        Args:
            origin: the book chunk the selection was copied from, when known: the selection is
                then cited with that chunk's section, link and source file.
        """
        meta = origin.node.metadata if origin is not None else {}
        node = TextNode(
            id_=SELECTION_NODE_ID,
            text=self.selected_text,
            metadata={
                "title": SELECTION_TITLE,
                "section": meta.get("section", ""),
                "url": meta.get("url") or self.page_url or "",
                "source_path": meta.get("source_path"),
                "selection": True,
            },
        )
        return NodeWithScore(node=node, score=1.0)

    def origin(self, nodes: list[NodeWithScore]) -> NodeWithScore | None:
        """The first of ``nodes`` whose text holds the selection, if any.

        The selection's first and last 200 characters are looked for (after ``comparable_text``),
        so a long selection that spans two chunks is still found; one too short to be distinctive
        is not.
        """
        selection = comparable_text(self.selected_text)
        if len(selection) < _MIN_PROBE_CHARS:
            return None
        probes = {selection[:_PROBE_CHARS], selection[-_PROBE_CHARS:]}
        for item in nodes:
            text = comparable_text(item.node.get_content())
            if any(probe in text for probe in probes):
                return item
        return None

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
        ranked = self._rerank([n for n in nodes if n.node.node_id != SELECTION_NODE_ID])
        origin = self.origin(ranked)
        if origin is not None:
            ranked = [origin, *(n for n in ranked if n is not origin)]
        return [self.selection_node(origin), *ranked]

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

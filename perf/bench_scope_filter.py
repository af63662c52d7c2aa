"""Retrieval time with and without the version/locale filter, over one local-mode index.

``python -m perf.bench_scope_filter [--docs sample_book/docs] [--rounds 20]`` ingests the docs
folder into a temporary local Qdrant, then times the same hybrid queries unfiltered and with the
filter a multi-version site needs (every chunk matches it, so the results are equal). Local mode
evaluates filters point by point; a Qdrant server uses the payload indexes ingest creates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llama_index.core.schema import QueryBundle
from qdrant_client import QdrantClient

from ingest.pipeline import IngestOptions, run_ingest
from rag.retrieval.embeddings import build_embed_model
from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.scopes import BookScope
from rag.retrieval.vector_store import build_vector_store
from rag.settings import Settings

QUESTIONS = (
    "What is the zero moment point?",
    "How does ROS 2 use topics?",
    "What sensors does a humanoid robot use?",
)


def main(argv: list[str] | None = None) -> int:
    """Print the median time per query, unfiltered and filtered, and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m perf.bench_scope_filter", description=__doc__)
    parser.add_argument("--docs", type=Path, default=Path("sample_book/docs"))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(_env_file=None, data_dir=Path(data))
        embed = build_embed_model(settings)
        client = QdrantClient(path=str(settings.qdrant_path))
        try:
            options = IngestOptions(docs_dir=args.docs, collection="bench", show_progress=False)
            run_ingest(options, client=client, embed_model=embed)
            base = QdrantRetriever(
                client=client,
                vector_store=build_vector_store(client, "bench"),
                embed_model=embed,
                top_k=settings.candidate_k,
            )
            scoped = base.scoped(BookScope().query_filter())
            bundles = [QueryBundle(q, embedding=embed.get_query_embedding(q)) for q in QUESTIONS]
            same = all(
                [n.node.node_id for n in base.retrieve(b)]
                == [n.node.node_id for n in scoped.retrieve(b)]
                for b in bundles
            )
            times: dict[str, list[float]] = {"unfiltered": [], "filtered": []}
            for _ in range(args.rounds):
                for name, retriever in (("unfiltered", base), ("filtered", scoped)):
                    started = time.perf_counter()
                    for bundle in bundles:
                        retriever.retrieve(bundle)
                    times[name].append((time.perf_counter() - started) / len(bundles) * 1000)
            points = client.count("bench").count
        finally:
            client.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["filtered"] / medians["unfiltered"]
    sys.stdout.write(
        f"{points} points: unfiltered {medians['unfiltered']:.1f} ms/query, filtered "
        f"{medians['filtered']:.1f} ms/query, ratio {ratio:.2f}; same results: {same}\n"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

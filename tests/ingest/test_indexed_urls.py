"""Every chunk URL in the sample book's index is a page route or heading anchor of the real site."""

import json
from pathlib import Path

from qdrant_client import QdrantClient

from rag.settings import Settings

TRUTH_FILE = Path(__file__).parent / "data" / "docusaurus_truth.json"


def test_every_indexed_url_exists_in_the_built_site(sample_index: Settings):
    pages = json.loads(TRUTH_FILE.read_text())["corpora"]["sample-book"]["pages"]
    valid = set()
    for page in pages.values():
        valid.add(page["route"])
        valid.update(f"{page['route']}#{anchor}" for _, anchor in page["anchors"])
    client = QdrantClient(path=str(sample_index.qdrant_path))
    try:
        points, _ = client.scroll(sample_index.collection, limit=10_000, with_payload=True)
    finally:
        client.close()
    urls = {p.payload["url"] for p in points}
    assert len(points) > 100
    assert urls - valid == set()
    # most anchors of the book are reachable from some chunk
    anchored = {u for u in urls if "#" in u}
    assert len(anchored) > 0.8 * (len(valid) - len(pages))

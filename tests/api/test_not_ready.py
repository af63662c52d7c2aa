from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding


def test_before_any_ingest_chat_is_503_and_readyz_says_why(
    tmp_path: Path, embed_model: LocalEmbedding
):
    settings = ServiceSettings(_env_file=None, data_dir=tmp_path)
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "rag-ingest" in ready.json()["checks"]["index"]
        chat = client.post("/v1/chat", json={"question": "What is a robot?"})
        assert chat.status_code == 503
        assert chat.headers["Retry-After"] == "30"
        assert chat.json()["error"]["code"] == "index_not_ready"

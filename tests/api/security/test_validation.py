"""Validation and sanitising: limits on what the client sent, refused before any model work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import PrivateAttr, SecretStr

from api.app import create_app
from api.security.input_text import clean_text
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.http_security import assert_error_body, secured_settings
from tests.utils.simulator import Simulator

ROUTES = ["/v1/chat", "/v1/chat/stream"]


class CountingEmbedding(LocalEmbedding):
    """The real local embedding model, counting the texts it embeds."""

    _embedded: list[int] = PrivateAttr(default_factory=list)

    @classmethod
    def sharing(cls, loaded: LocalEmbedding) -> CountingEmbedding:
        counting = cls(loaded.model_path, embed_batch_size=loaded.embed_batch_size)
        counting._model = loaded.load()  # the weights already in memory
        return counting

    @property
    def calls(self) -> int:
        return len(self._embedded)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        self._embedded.append(len(texts))
        return super()._encode(texts)


@pytest.fixture(scope="module")
def counting_embed(embed_model: LocalEmbedding) -> CountingEmbedding:
    return CountingEmbedding.sharing(embed_model)


@pytest.fixture(scope="module")
def client(  # the module's one app (the sample index admits one at a time): the simulator as LLM
    sample_index: ServiceSettings,
    counting_embed: CountingEmbedding,
    sim: Simulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    settings = secured_settings(
        sample_index,
        tmp_path_factory,
        llm_base_url=sim.v1_url,
        llm_api_key=SecretStr("test"),
        llm_model="primary",
        llm_fallback_models=["backup"],
    )
    with TestClient(create_app(settings, embed_model=counting_embed)) as test_client:
        yield test_client


def llm_requests(sim: Simulator) -> int:
    return sum(int(model["requests"]) for model in sim.stats()["models"].values())


def post(client: TestClient, route: str, body: dict[str, Any]):
    with client.stream("POST", route, json=body) as response:
        response.read()
    return response


@pytest.mark.parametrize("route", ROUTES)
def test_a_valid_question_costs_an_embedding_and_a_model_call(
    client: TestClient, counting_embed: CountingEmbedding, sim: Simulator, route: str
):
    # The counters work: without this, "zero calls" below would prove nothing.
    sim.reset()
    before = counting_embed.calls

    response = post(client, route, {"question": f"What is the zero moment point? ({route})"})

    assert response.status_code == 200, response.text
    assert counting_embed.calls > before
    assert llm_requests(sim) >= 1


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "x" * 501}, "question"),
        ({"question": "What is this?", "selected_text": "y" * 10_001}, "selected_text"),
        ({"question": "x" * 501, "selected_text": "y" * 10_001}, "question"),
    ],
    ids=["501-char question", "10001-char selection", "both"],
)
def test_oversized_input_is_422_with_zero_embedding_and_model_calls(
    client: TestClient,
    counting_embed: CountingEmbedding,
    sim: Simulator,
    route: str,
    body: dict[str, Any],
    field: str,
):
    sim.reset()
    before = counting_embed.calls

    response = post(client, route, body)

    error = assert_error_body(response, 422, "invalid_request")
    assert field in error["message"]
    assert counting_embed.calls == before
    assert llm_requests(sim) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"question": "x" * 500},
        {"question": "What is this?", "selected_text": "y" * 10_000},
    ],
    ids=["500-char question", "10000-char selection"],
)
def test_input_at_the_limits_is_accepted(client: TestClient, body: dict[str, Any]):
    assert client.post("/v1/chat", json=body).status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"question": "   "}, "question: must contain some text"),
        ({"question": "\x00\x07"}, "question: must contain some text"),
        ({"question": "<script>alert(1)</script>"}, "no text is left"),
        ({"question": "What?", "page_url": "javascript:alert(1)"}, "page_url: must be an http"),
        ({"question": "What?", "page_url": "//evil.example/x"}, "page_url: must be an http"),
        ({"question": "What?", "page_url": "ftp://book.example/x"}, "page_url: must be an http"),
        ({"question": "What?", "page_url": "/docs/a b"}, "page_url: must be an http"),
        ({"question": "What?", "unknown": 1}, "unknown"),
        ({"question": "What?", "selection_only": True}, "selection_only needs selected_text"),
        ({"question": "What?", "selection_only": True, "selected_text": "<b></b>"}, "selection"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(
    client: TestClient, body: dict[str, Any], words: str
):
    error = assert_error_body(client.post("/v1/chat", json=body), 422, "invalid_request")

    assert words in error["message"]


@pytest.mark.parametrize(
    "page_url",
    ["/docs/humanoids/zmp#balance", "https://book.example/docs/x?y=1", "http://localhost:3000/"],
)
def test_page_urls_of_the_book_are_accepted(client: TestClient, page_url: str):
    response = client.post("/v1/chat", json={"question": "What is ZMP?", "page_url": page_url})

    assert response.status_code == 200, response.text


def test_a_comment_over_1000_characters_is_422(client: TestClient):
    response = client.post(
        "/v1/messages/any-message/feedback", json={"rating": "up", "comment": "z" * 1001}
    )

    assert "comment" in assert_error_body(response, 422, "invalid_request")["message"]


def test_markup_and_control_characters_are_removed_before_use(client: TestClient):
    reply = client.post(
        "/v1/chat",
        json={
            "question": "What is <b>ZMP</b>?<script>fetch('//evil.example')</script>\x07\r\n",
            "selected_text": "The <i>zero moment point</i>\u202e keeps the robot\x00 upright."
            "<style>p{display:none}</style><img src=x onerror=alert(1)>",
        },
    )
    assert reply.status_code == 200, reply.text
    session = reply.json()["session_id"]
    feedback = client.post(
        f"/v1/messages/{reply.json()['message_id']}/feedback",
        json={"rating": "down", "comment": "<a href='//evil.example'>see</a> this"},
    )

    stored = client.get(f"/v1/sessions/{session}/messages").json()["messages"][0]
    assert stored["content"] == "What is ZMP?"
    assert stored["selected_text"] == "The zero moment point keeps the robot upright."
    assert feedback.json()["comment"] == "see this"


def test_the_openapi_schema_declares_the_limits(client: TestClient):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    chat = schemas["ChatRequest"]["properties"]
    feedback = schemas["FeedbackIn"]["properties"]

    def string_schema(prop: dict[str, Any]) -> dict[str, Any]:
        return next((s for s in prop.get("anyOf", [prop]) if s.get("type") == "string"), {})

    assert chat["question"]["maxLength"] == 500
    assert chat["question"]["minLength"] == 1
    assert string_schema(chat["selected_text"])["maxLength"] == 10_000
    assert string_schema(chat["page_url"])["pattern"].startswith("^(https?://")
    assert string_schema(feedback["comment"])["maxLength"] == 1000
    assert schemas["ChatRequest"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<b>ZMP</b>", "ZMP"),
        ("before<script>alert(1)</script>after", "beforeafter"),
        ("<SCRIPT type='text/javascript'>x</SCRIPT>ok", "ok"),
        ("<scr<script>x</script>ipt>alert(1)</script>", ""),
        ("<p>one</p><p>two</p>", "one  two"),
        ('<a href="x>y" onclick="evil()">link</a>', "link"),
        ("<!-- hidden instructions -->shown", "shown"),
        ("<script>never closed", ""),
        ("std::vector<double> v; #include <rclcpp/rclcpp.hpp>", None),
        ("if a < b and c > d", None),
        ("tab\tand\nnewline kept\r\n\x1b[31m", "tab\tand\nnewline kept\n[31m"),
        ("\u202eevil\u2066 \U000e0041hidden", "evil hidden"),
    ],
)
def test_clean_text(text: str, expected: str | None):
    assert clean_text(text) == (text if expected is None else expected)

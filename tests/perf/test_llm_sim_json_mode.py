"""The simulator's JSON mode: schema-shaped replies for requests that ask for a JSON object."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from perf.llm_sim.json_mode import find_schema, instance, json_reply, wants_json
from tests.utils.simulator import ModelKnobs, run_simulator

MODEL = "judge"


class Verdict(BaseModel):
    statement: str
    reason: str
    verdict: int


class Verdicts(BaseModel):
    statements: list[Verdict]
    kind: str = "nli"


SCHEMA = Verdicts.model_json_schema()
# How Instructor's JSON mode sends the schema: in the system message, after "json_schema".
INSTRUCTOR_SYSTEM = (
    "As a genius expert, your task is to understand the content and provide\n"
    "the parsed objects in json that match the following json_schema:\n\n"
    f"{json.dumps(SCHEMA, indent=2)}\n\n"
    "Make sure to return an instance of the JSON, not the schema itself"
)


def test_instance_follows_refs_arrays_enums_and_minimums() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2},
            "mode": {"enum": ["fast", "slow"]},
            "count": {"type": "integer", "minimum": 3},
            "ratio": {"anyOf": [{"type": "null"}, {"type": "number"}]},
            "ok": {"type": "boolean"},
        },
        "$defs": {"Item": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    assert instance(schema, schema) == {
        "items": [{"name": "simulated name"}, {"name": "simulated name"}],
        "mode": "fast",
        "count": 3,
        "ratio": 0.0,
        "ok": False,
    }
    assert Verdicts.model_validate(instance(SCHEMA, SCHEMA)).kind == "nli"


def test_schema_is_found_in_the_prompt_or_the_response_format() -> None:
    body = {"response_format": {"type": "json_object"}}
    assert wants_json(body)
    assert find_schema(body, ["no schema here", INSTRUCTOR_SYSTEM]) == SCHEMA
    assert find_schema(body, ["json_schema: {not json", "nothing"]) is None
    strict = {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}
    assert find_schema(strict, []) == SCHEMA
    assert not wants_json({"response_format": {"type": "text"}})
    assert not wants_json({})
    reply = json.loads(json_reply(body, ["[1] Balance needs fast loops."], "Question: balance?"))
    assert set(reply) == {"answer"}


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with (
        run_simulator({MODEL: ModelKnobs(ttft_ms=0, tps=0)}) as sim,
        openai.OpenAI(base_url=sim.v1_url, api_key="k", max_retries=0) as llm,
    ):
        yield llm


def test_a_json_request_gets_a_reply_its_schema_accepts(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        response_format={"type": "json_object"},
        messages=[
            {"role": "system", "content": INSTRUCTOR_SYSTEM},
            {"role": "user", "content": "Judge: the robot balances."},
        ],
    )
    content = reply.choices[0].message.content or ""
    assert Verdicts.model_validate_json(content).statements
    again = client.chat.completions.create(
        model=MODEL,
        response_format={"type": "json_object"},
        messages=[
            {"role": "system", "content": INSTRUCTOR_SYSTEM},
            {"role": "user", "content": "Judge: the robot balances."},
        ],
    )
    assert again.choices[0].message.content == content


def test_other_requests_still_get_prose(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "[1] Balance needs fast loops.\n\nQuestion: loops?"}],
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("Balance needs fast loops")
    assert not content.startswith("{")

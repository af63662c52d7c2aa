"""JSON mode: a deterministic JSON reply for requests that ask for a JSON object.

A request asks for JSON with ``response_format`` ``{"type": "json_object"}`` (the schema then
travels in the prompt, as Instructor's JSON mode sends it after the words ``json_schema``) or
``{"type": "json_schema", "json_schema": {"schema": ...}}``. The reply is the smallest instance
of that schema: every property present, one item per array, the first of an enum, an integer or
number at its minimum (else 0), ``false``, and strings ``"simulated <property>"``. With no schema
to be found, the reply wraps the simulator's usual answer as ``{"answer": ...}``.

It is a pure function of the request; it checks shapes, not sense (an LLM judge fed by it gives
scores that mean nothing, which is all a wiring test needs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from perf.llm_sim.answer import answer

_SCHEMA_MARKER = "json_schema"
_MAX_DEPTH = 12


def wants_json(body: Mapping[str, Any]) -> bool:
    """True when the request's ``response_format`` asks for a JSON object or schema."""
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def find_schema(body: Mapping[str, Any], texts: list[str]) -> dict[str, Any] | None:
    """The JSON schema of the reply: from ``response_format``, else the first one in the prompt."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        if isinstance(schema, dict):
            return schema
    decoder = json.JSONDecoder()
    for text in texts:
        at = text.find(_SCHEMA_MARKER)
        while at != -1:
            start = text.find("{", at)
            if start == -1:
                break
            try:
                schema, _ = decoder.raw_decode(text, start)
            except ValueError:
                at = text.find(_SCHEMA_MARKER, at + 1)
                continue
            if isinstance(schema, dict):
                return schema
            at = text.find(_SCHEMA_MARKER, at + 1)
    return None


def instance(
    schema: Mapping[str, Any], root: Mapping[str, Any], name: str = "value", depth: int = 0
) -> Any:
    """The smallest value that ``schema`` accepts (see the module docstring)."""
    if depth > _MAX_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return instance(target, root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return instance(options[0], root, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        return {
            key: instance(sub, root, key, depth + 1)
            for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        items = schema.get("items", {})
        count = max(1, int(schema.get("minItems", 1)))
        return [instance(items, root, name, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    if kind == "string":
        return f"simulated {name}"
    return None


def json_reply(body: Mapping[str, Any], texts: list[str], question_text: str) -> str:
    """The reply's content: an instance of the requested schema, as compact JSON.

    Args:
        body: The chat-completions request.
        texts: The text of every message.
        question_text: The text of the last user message (for the ``{"answer": ...}`` reply).
    """
    schema = find_schema(body, texts)
    if schema is None:
        return json.dumps({"answer": answer(texts, question_text)}, ensure_ascii=False)
    return json.dumps(instance(schema, schema), ensure_ascii=False)

"""Read metric names: those a PromQL expression selects, and those a /metrics page exports."""

from __future__ import annotations

import re

# PromQL words that look like metric names: operators, modifiers and literals. Functions and
# aggregations are told apart by the "(" that follows them.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$")
_SAMPLE_LINE = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{.*\})?\s+\S+")

BUILT_INS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (Grafana's ``$__...`` variables allowed)."""
    text = _GRAFANA_VARIABLE.sub("", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    return {
        name
        for name, call in _IDENTIFIER.findall(text)
        if not call and name.lower() not in _KEYWORDS
    }


def exported_names(exposition: str) -> set[str]:
    """The series names a text exposition offers, declared families included.

    A counter family offers ``<name>_total`` and a histogram ``_bucket``, ``_sum`` and ``_count``,
    whether or not a labelled child exists yet.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        if type_line := _TYPE_LINE.match(line):
            name, kind = type_line.groups()
            if kind == "counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind == "histogram":
                names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(name)
        elif not line.startswith("#") and (sample := _SAMPLE_LINE.match(line)):
            names.add(sample.group(1))
    return names


_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_LITERALS = re.compile(r"[\w/{}<>.-]+(?:\|[\w/{}<>.-]+)*")


def label_literals(expr: str) -> list[tuple[str, str, str]]:
    """(metric, label, value) for each literal value a selector matches or excludes.

    ``route=~"/a|/b"`` gives both routes; a pattern such as ``status=~"5.."`` gives nothing.
    """
    found = []
    for metric, matchers in _SELECTOR.findall(_GRAFANA_VARIABLE.sub("", expr)):
        for label, op, value in _MATCHER.findall(matchers):
            if op in {"=", "!="}:
                found.append((metric, label, value))
            elif op == "=~" and _LITERALS.fullmatch(value) and "." not in value:
                found.extend((metric, label, alternative) for alternative in value.split("|"))
    return found

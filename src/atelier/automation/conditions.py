"""A rule's conditions: `{field, op, value}` tests on its trigger's typed fields, all of
which must hold. Checked against the trigger's fields when the rule is saved, so a rule
cannot name a field its event lacks or compare a number with text."""

from __future__ import annotations

import operator
import re
from typing import Any

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "in")
ORDERED = ("gt", "gte", "lt", "lte")
COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class ConditionError(ValueError):
    """A condition that cannot apply to its trigger (said in words, with its index)."""


def check(conditions: list[dict[str, Any]], fields: dict[str, str]) -> None:
    for index, condition in enumerate(conditions):
        name, op, value = condition.get("field"), condition.get("op"), condition.get("value")
        where = f"condition {index + 1}"
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConditionError(f"{where}: the event has no field {name!r} (it has {known})")
        if op not in OPS:
            raise ConditionError(f"{where}: {op!r} is not one of {', '.join(OPS)}")
        kind = fields[str(name)]
        if op == "in" and not isinstance(value, list):
            raise ConditionError(f"{where}: 'in' takes a list of values")
        values: list[Any] = value if isinstance(value, list) else [value]
        for item in values:
            if not _of_kind(item, kind):
                raise ConditionError(f"{where}: {item!r} is not a {kind} like {name!r}")
        if op in ORDERED and kind != "number":
            raise ConditionError(f"{where}: {op} compares numbers; {name!r} is a {kind}")
        if op == "contains" and kind != "string":
            raise ConditionError(f"{where}: contains looks inside text; {name!r} is a {kind}")


def kind_of(value: Any) -> str:
    """The kind a webhook field has, from the value a condition compares it with."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _of_kind(value: Any, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def holds(conditions: list[dict[str, Any]], payload: dict[str, Any]) -> bool:
    return all(_holds(c, payload.get(str(c["field"]))) for c in conditions)


def _holds(condition: dict[str, Any], actual: Any) -> bool:
    op, expected = condition["op"], condition["value"]
    if actual is None:
        return op == "ne" and expected is not None
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return bool(actual in expected)
    if op == "contains":
        return str(expected).lower() in str(actual).lower()
    try:
        return bool(COMPARE[op](actual, expected))
    except TypeError:
        return False


PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def is_template(text: str) -> bool:
    """Whether the text takes an event's field (`{field}`): checked once it is filled in."""
    return PLACEHOLDER.search(text) is not None


def render(template: str, payload: dict[str, Any], limit: int = 2000) -> str:
    """`{field}` placeholders replaced by the event's fields (nothing else is evaluated: no
    attribute access, no format specs); unknown names stay as written."""
    out: list[str] = []
    at = 0
    while at < len(template):
        start = template.find("{", at)
        if start < 0:
            out.append(template[at:])
            break
        end = template.find("}", start)
        if end < 0:
            out.append(template[at:])
            break
        name = template[start + 1 : end]
        out.append(template[at:start])
        if name.isidentifier() and name in payload:
            out.append(str(payload[name]))
            at = end + 1
        else:  # not a placeholder (a JSON brace, say): keep it and look on after it
            out.append("{")
            at = start + 1
    return "".join(out)[:limit]

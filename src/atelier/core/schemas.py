"""What every API input must be before any code sees it: of the JSON type documented,
storable and bounded.

PostgreSQL refuses a NUL in text, a lone UTF-16 surrogate cannot be encoded at all, a
BIGINT holds 64 bits, NUMERIC and Python's datetime have ranges of their own. Each of these
was once a 500 somewhere. Rather than bound every field by hand, every request body derives
from `Body`, whose one validator walks each field's value (into lists and dicts, keys
included) and refuses what could not be stored or computed with. Query, path and form
parameters, which are not models, use the `Text`, `Int64` and `Instant` types below, which
run the same check.

Pydantic's lax mode would also take `false` for a number, `"3"` for an integer, `1.5` for a
date (a Unix time): the document says otherwise, so `Body` refuses a value whose JSON type
is not its field's (numbers may come as strings only for decimals, whose precision a JSON
number cannot carry).
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# NUMERIC values we accept: token amounts up to 2**256 (78 digits), 18 decimal places (wei).
DECIMAL_MAX = Decimal(10) ** 78
DECIMAL_PLACES = 18
# Dates a person can mean, and that date arithmetic (a window plus a grace period) survives.
YEAR_MIN, YEAR_MAX = 1970, 2200


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def value_problem(value: Any) -> str | None:
    """Why `value` (a validated field value) cannot be stored or computed with, or None."""
    if isinstance(value, bool) or value is None or isinstance(value, BaseModel):
        return None
    for kind, check in _CHECKS:
        if isinstance(value, kind):
            return check(value)
    return None


def _int_problem(value: int) -> str | None:
    return None if INT64_MIN <= value <= INT64_MAX else "is out of range (a 64-bit integer)"


def _float_problem(value: float) -> str | None:
    return None if math.isfinite(value) else "is not a finite number"


def _decimal_problem(value: Decimal) -> str | None:
    if not value.is_finite():
        return "is not a finite number"
    if abs(value) >= DECIMAL_MAX:
        return "is out of range (at most 78 digits)"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -DECIMAL_PLACES:
        return f"has more than {DECIMAL_PLACES} decimal places"
    return None


def _date_problem(value: date) -> str | None:
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        return "needs a time zone (e.g. 2026-01-31T12:00:00Z)"
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        return f"must lie between the years {YEAR_MIN} and {YEAR_MAX}"
    return None


def _mapping_problem(value: dict[Any, Any]) -> str | None:
    for key, item in value.items():
        problem = value_problem(key) or value_problem(item)
        if problem:
            return f"[{str(key)[:40]!r}] {problem}"
    return None


def _sequence_problem(value: Iterable[Any]) -> str | None:
    for index, item in enumerate(value):
        problem = value_problem(item)
        if problem:
            return f"[{index}] {problem}"
    return None


# In order: bool is an int and datetime a date, so they are taken first (above, or here).
_CHECKS: tuple[tuple[Any, Callable[[Any], str | None]], ...] = (
    (str, text_problem),
    (int, _int_problem),
    (float, _float_problem),
    (Decimal, _decimal_problem),
    (date, _date_problem),
    (dict, _mapping_problem),
    (list | tuple | set | frozenset, _sequence_problem),
)


_NUMERIC_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@cache
def _json_kind(annotation: Any) -> str | None:
    """ "number", "decimal", "boolean" or "date-time" for a field of that JSON type (optional
    or not), else None (strings, objects, arrays, unions of kinds: pydantic's own rules)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _json_kind(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = {_json_kind(a) for a in get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is bool:
        return "boolean"
    if annotation in (int, float):
        return "number"
    if annotation is Decimal:
        return "decimal"
    if annotation is datetime:
        return "date-time"
    return None


def json_type_problem(kind: str | None, value: Any) -> str | None:
    if kind is None or value is None:
        return None
    if kind == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    if kind in ("number", "decimal") and isinstance(value, bool):
        return "must be a number, not true or false"
    if kind == "number" and isinstance(value, str):
        return "must be a JSON number, not a string"
    if kind == "date-time" and (
        isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC_TEXT.match(value))
    ):
        return "must be an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z), not a number"
    return None


class Body(BaseModel):
    """Base of every request body: unknown fields refused, every value of its JSON type and
    storable."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_type(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        annotation: Any = field.annotation if field else None
        problem = json_type_problem(_json_kind(annotation), value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Self:
        """The body an HTML form describes: its fields by name, empty inputs left out,
        numeric text as numbers and checkboxes as booleans where the field wants them (a form
        has no JSON types), then validated like any body."""
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            text = form.get(name, "")
            annotation: Any = field.annotation
            kind = _json_kind(annotation)
            if kind == "boolean":
                values[name] = text.strip().lower() in ("on", "true", "1", "yes")
            elif not text.strip():
                continue
            elif kind == "number" and _NUMERIC_TEXT.match(text):
                number = float(text)
                values[name] = int(number) if number.is_integer() and "." not in text else number
            else:
                values[name] = text
        return cls.model_validate(values)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def _checked(value: Any) -> Any:
    problem = value_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _date_time_text(value: Any) -> Any:
    problem = json_type_problem("date-time", value)
    if problem is not None:
        raise ValueError(problem)
    return value


# For parameters that are not part of a body (query, path, form fields), and date-times.
Text = Annotated[str, AfterValidator(_checked)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Instant = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(_checked)]

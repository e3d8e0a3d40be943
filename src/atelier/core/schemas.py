"""What every API input must be before any code sees it: storable and bounded.

PostgreSQL refuses a NUL in text, a lone UTF-16 surrogate cannot be encoded at all, a
BIGINT holds 64 bits, NUMERIC and Python's datetime have ranges of their own. Each of these
was once a 500 somewhere. Rather than bound every field by hand, every request body derives
from `Body`, whose one validator walks each field's value (into lists and dicts, keys
included) and refuses what could not be stored or computed with. Query, path and form
parameters, which are not models, use the `Text`, `Int64` and `Instant` types below, which
run the same check.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

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
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None or isinstance(value, BaseModel):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return "is out of range (a 64-bit integer)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "is not a finite number"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "is not a finite number"
        if abs(value) >= DECIMAL_MAX:
            return "is out of range (at most 78 digits)"
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -DECIMAL_PLACES:
            return f"has more than {DECIMAL_PLACES} decimal places"
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return "needs a time zone (e.g. 2026-01-31T12:00:00Z)"
        if not YEAR_MIN <= value.year <= YEAR_MAX:
            return f"must lie between the years {YEAR_MIN} and {YEAR_MAX}"
        return None
    if isinstance(value, date):
        if not YEAR_MIN <= value.year <= YEAR_MAX:
            return f"must lie between the years {YEAR_MIN} and {YEAR_MAX}"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = value_problem(key) or value_problem(item)
            if problem:
                return f"[{str(key)[:40]!r}] {problem}"
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            problem = value_problem(item)
            if problem:
                return f"[{index}] {problem}"
    return None


class Body(BaseModel):
    """Base of every request body: unknown fields refused, every value storable."""

    model_config = ConfigDict(extra="forbid")

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


# For parameters that are not part of a body (query, path, form fields).
Text = Annotated[str, AfterValidator(_checked)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Instant = Annotated[datetime, AfterValidator(_checked)]

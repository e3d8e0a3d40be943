"""What a rule can react to: the platform's events a person may be shown (each names its
audience), by topic, with the fields a condition may test. A rule sees an event only when its
owner could (their scopes meet the event's audience), as a live client would."""

from __future__ import annotations

import types
import typing
from typing import Any

from atelier.core.events import Event
from atelier.grid.events import JobChanged
from atelier.provenance.events import ArtifactSigned
from atelier.social.events import CastIndexed

TRIGGERS: dict[str, type[Event]] = {
    event.topic: event for event in (JobChanged, ArtifactSigned, CastIndexed)
}
SCALARS = (str, int, float, bool)


def fields_of(topic: str) -> dict[str, str]:
    """A trigger's fields a condition may test, by name, with their JSON kind."""
    event = TRIGGERS[topic]
    kinds: dict[str, str] = {}
    for name, info in event.model_fields.items():
        annotation = info.annotation
        options: tuple[Any, ...] = ()
        if isinstance(annotation, types.UnionType):
            options = typing.get_args(annotation)
        base = next((o for o in options if o is not type(None)), annotation)
        kinds[name] = _kind(base)
    return kinds


def _kind(annotation: Any) -> str:
    if annotation is bool:
        return "boolean"
    if annotation in (int, float):
        return "number"
    return "string"

"""The states of the grid's jobs, workers and leases. No database here: the volunteer
worker's client reads them too."""

from __future__ import annotations

from enum import StrEnum


class RequestState(StrEnum):
    """A creator's job: queued → assigned (leased) → processing → done, or faulted after its
    last failed attempt, or cancelled by its owner; a lost lease puts it back in the queue."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    PROCESSING = "processing"
    DONE = "done"
    FAULTED = "faulted"
    CANCELLED = "cancelled"


class WorkerState(StrEnum):
    ACTIVE = "active"
    OFFLINE = "offline"  # not seen for a while; back to active on its next call
    MAINTENANCE = "maintenance"  # too many failures in a row; its owner resumes it
    RETIRED = "retired"  # unregistered (its stats are kept for payouts)


class AttemptState(StrEnum):
    """One lease (what a worker holds as `lease_id`)."""

    ACTIVE = "active"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    RELEASED = "released"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({RequestState.DONE, RequestState.FAULTED, RequestState.CANCELLED})
ACTIVE_STATES = frozenset({RequestState.ASSIGNED, RequestState.PROCESSING})


def known(states: type[StrEnum], column: str = "state") -> str:
    """A CHECK constraint's condition: `column` holds one of `states`."""
    return f"{column} IN (" + ", ".join(f"'{s.value}'" for s in states) + ")"

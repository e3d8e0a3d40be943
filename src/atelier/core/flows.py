"""Flows: multi-step work that survives a crash, one committed transaction per step.

A domain declares a flow in its `flows.py`: a name, the model of its input, and its steps in
order. `start` records a run in the caller's transaction (once per key: starting it again is
a no-op); once that commits, the `core:run_flow` task runs it. Each step

- does its slow work (decoding, signing, publishing) with no transaction open: reads go
  through `ctx.read()`, a short read-only transaction that locks nothing;
- then writes what it found in `ctx.finish()`, the step's one transaction, which also
  records the step as done with its output. The writes and the record commit together, so a
  step that committed is never run again and a step that did not left nothing behind.

After a crash or a failure the run resumes at the first step not done, with the outputs of
the steps before it; a failing step is retried alone (with backoff, up to `max_attempts`),
then the flow's `on_give_up` records the failure. A step that knows its failure is final
writes it in `ctx.fail()`. A step that must wait for work done elsewhere (grid jobs) records
what it has so far in `ctx.wait()`: the run stops there, still running, and runs again when
`wake_run` wakes it (or when the stalled-run sweep finds it quiet), resuming at that step.
Slow work may repeat after a crash, so it must be safe to repeat (content-addressed writes,
idempotent uploads), as an outbox handler's must.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.core.transactions import FLOWS_STARTED, wake

log = get_logger("atelier.flows")


class RunState(StrEnum):
    PENDING = "pending"  # started, no step ended yet
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepState(StrEnum):
    DONE = "done"
    FAILED = "failed"  # final: the run ended here
    RETRYING = "retrying"  # an attempt failed; the step runs again
    WAITING = "waiting"  # the step waits for work done elsewhere; it runs again when woken


I = TypeVar("I", bound=BaseModel)  # noqa: E741 (a flow's input)
M = TypeVar("M", bound=BaseModel)


class FlowRun(Base):
    __tablename__ = "flow_runs"
    __table_args__ = (UniqueConstraint("flow", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    flow: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))  # what the run is about (unique per flow)
    input: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(20), default=RunState.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class FlowStep(Base):
    __tablename__ = "flow_steps"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("flow_runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))  # done | failed | retrying | waiting
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)  # shown in status views
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed attempts
    error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StepRaced(Exception):
    """Another runner of the same run committed this step first: ours rolls back."""


class StepContext(Generic[I]):
    """What a step gets: its run's input, the outputs of the steps before it, and the two
    ways to touch the database (`read` and, once, `finish` or `fail`)."""

    def __init__(
        self,
        runtime: Runtime,
        run: FlowRun,
        step: str,
        flow_input: I,
        done: dict[str, FlowStep],
        *,
        last: bool = False,
    ) -> None:
        self.runtime = runtime
        self.last = last  # the flow's last step: finishing it finishes the run, together
        self.run_id = run.id
        self.key = run.key
        self.step = step
        self.input = flow_input
        self._done = done
        self.attempt = 1 + (done[step].attempts if step in done else 0)
        self.closed: FlowStep | None = None  # how the step ended, once it has

    def output(self, step: str, model: type[M]) -> M | None:
        """The output an earlier step finished with (None when it had none)."""
        row = self._done.get(step)
        if row is None or row.output is None:
            return None
        return model.model_validate(row.output)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction: it sees committed data and locks no row."""
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(text("SET TRANSACTION READ ONLY"))
            yield session

    @asynccontextmanager
    async def finish(
        self, output: BaseModel | None = None, *, note: str | None = None
    ) -> AsyncIterator[AsyncSession]:
        """The step's one transaction: its writes and its completion commit together."""
        async with self._closing(StepState.DONE, output, note, None) as session:
            yield session

    @asynccontextmanager
    async def wait(self, note: str) -> AsyncIterator[AsyncSession]:
        """Not done yet: the writes (what the step found so far) commit with the step shown
        waiting (`note`), and the run stops here until it is woken."""
        async with self._closing(StepState.WAITING, None, note, None) as session:
            yield session

    @asynccontextmanager
    async def fail(self, error: str) -> AsyncIterator[AsyncSession]:
        """End the run here, for good: the writes (the failure, where it is shown) and the
        failed step commit together, and no later step runs."""
        async with self._closing(StepState.FAILED, None, None, error) as session:
            yield session

    @asynccontextmanager
    async def _closing(
        self, state: str, output: BaseModel | None, note: str | None, error: str | None
    ) -> AsyncIterator[AsyncSession]:
        if self.closed is not None:
            raise RuntimeError(f"step {self.step} already has its transaction")
        dumped = output.model_dump(mode="json") if output is not None else None
        ended = FlowStep(name=self.step, state=state, output=dumped, note=note, error=error)
        async with self.runtime.sessions() as session:
            async with session.begin():
                yield session
                if not await _close_step(session, self.run_id, ended):
                    raise StepRaced(self.step)
                if state == StepState.FAILED:
                    await _close_run(session, self.run_id, RunState.FAILED, error)
                elif state == StepState.DONE and self.last:
                    # in the step's own transaction: a runner killed after it commits
                    # leaves no run that did everything shown as still running
                    await _close_run(session, self.run_id, RunState.SUCCEEDED, None)
            self.closed = ended
            await wake(self.runtime.tasks, session)


Step = Callable[[StepContext[Any]], Awaitable[None]]
GiveUp = Callable[[AsyncSession, StepContext[Any], str], Awaitable[None]]


@dataclass
class Flow(Generic[I]):
    """A named sequence of steps over an input of type `I`."""

    name: str
    input: type[I]
    max_attempts: int = 5
    steps: list[tuple[str, Step]] = field(default_factory=list)
    on_give_up: GiveUp | None = None

    def __post_init__(self) -> None:
        existing = _FLOWS.get(self.name)
        if existing is not None and existing is not self:
            raise ValueError(f"flow name {self.name!r} is used twice")
        _FLOWS[self.name] = self

    def step(self, name: str) -> Callable[[Step], Step]:
        """Add the decorated `async def step(ctx)` as the next step."""

        def register(function: Step) -> Step:
            if any(existing == name for existing, _ in self.steps):
                raise ValueError(f"flow {self.name} has two steps named {name!r}")
            self.steps.append((name, function))
            return function

        return register

    def give_up(self, function: GiveUp) -> GiveUp:
        """The decorated `async def (session, ctx, error)` records a run that failed a step
        `max_attempts` times, in the transaction that ends the run."""
        self.on_give_up = function
        return function


_FLOWS: dict[str, Flow[Any]] = {}


def registered() -> list[Flow[Any]]:
    return sorted(_FLOWS.values(), key=lambda f: f.name)


async def start(session: AsyncSession, flow: Flow[I], key: str, flow_input: I) -> uuid.UUID:
    """Record a run of `flow` about `key` in the caller's transaction (the run it already
    has, if any). It runs once the caller commits."""
    values = {"flow": flow.name, "key": key, "input": flow_input.model_dump(mode="json")}
    run_id: uuid.UUID | None = await session.scalar(
        insert(FlowRun)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_update(index_elements=["flow", "key"], set_={"flow": flow.name})
        .returning(FlowRun.id)
    )
    assert run_id is not None
    session.info.setdefault(FLOWS_STARTED, []).append(str(run_id))
    return run_id


async def wake_run(session: AsyncSession, flow: Flow[Any], key: str) -> bool:
    """Run `flow`'s run about `key` again once the caller commits (a waiting step looks
    again); False when there is no such run still going."""
    run_id = await session.scalar(
        select(FlowRun.id).where(
            FlowRun.flow == flow.name,
            FlowRun.key == key,
            FlowRun.state.in_((RunState.PENDING, RunState.RUNNING)),
        )
    )
    if run_id is None:
        return False
    session.info.setdefault(FLOWS_STARTED, []).append(str(run_id))
    return True


async def run(runtime: Runtime, run_id: uuid.UUID) -> str:
    """Run (or resume) a flow run until it ends or a step fails; its state after."""
    async with runtime.sessions() as session:
        loaded = await _load(session, run_id)
    if loaded is None:
        return "missing"
    flow_run, done = loaded
    if flow_run.state in (RunState.SUCCEEDED, RunState.FAILED):
        return flow_run.state
    flow = _FLOWS.get(flow_run.flow)
    if flow is None:
        raise LookupError(f"flow {flow_run.flow!r} is not registered in this process")
    flow_input = flow.input.model_validate(flow_run.input)
    for name, function in flow.steps:
        if name in done and done[name].state == StepState.DONE:
            continue
        last = name == flow.steps[-1][0]
        ctx: StepContext[Any] = StepContext(runtime, flow_run, name, flow_input, done, last=last)
        try:
            await function(ctx)
            if ctx.closed is None:  # a step with nothing to write
                async with ctx.finish():
                    pass
        except StepRaced:
            log.info("flows.step_raced", flow=flow.name, run_id=str(run_id), step=name)
            return "raced"
        except Exception as exc:
            return await _failed(runtime, flow, ctx, exc)
        assert ctx.closed is not None
        if ctx.closed.state == StepState.FAILED:
            return RunState.FAILED
        if ctx.closed.state == StepState.WAITING:
            return StepState.WAITING
        done = {**done, name: ctx.closed}
    async with runtime.sessions() as session, session.begin():
        await _close_run(session, run_id, RunState.SUCCEEDED, None)
    return RunState.SUCCEEDED


async def _failed(runtime: Runtime, flow: Flow[Any], ctx: StepContext[Any], exc: Exception) -> str:
    """Record a failed attempt; raise to be retried, or give up after `max_attempts`."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    final = ctx.attempt >= flow.max_attempts
    async with runtime.sessions() as session, session.begin():
        await _record_attempt(session, ctx.run_id, ctx.step, error, final)
        if final:
            if flow.on_give_up is not None:
                await flow.on_give_up(session, ctx, error)
            await _close_run(session, ctx.run_id, RunState.FAILED, f"{ctx.step}: {error}")
    log.warning(
        "flows.step_failed",
        flow=flow.name,
        run_id=str(ctx.run_id),
        step=ctx.step,
        attempt=ctx.attempt,
        final=final,
        error=error,
    )
    if final:
        return RunState.FAILED
    raise exc


async def _load(
    session: AsyncSession, run_id: uuid.UUID
) -> tuple[FlowRun, dict[str, FlowStep]] | None:
    flow_run = await session.get(FlowRun, run_id)
    if flow_run is None:
        return None
    steps = await session.scalars(select(FlowStep).where(FlowStep.run_id == run_id))
    return flow_run, {s.name: s for s in steps}


# One round trip per step: the step's row (unless another runner closed it first) and the
# run's touch, which `stalled` reads.
_CLOSE_STEP = text(
    """
    WITH step AS (
        INSERT INTO flow_steps (run_id, name, state, output, note, error, attempts, finished_at)
        VALUES (:run_id, :name, :state, CAST(:output AS jsonb), :note, :error, 0, now())
        ON CONFLICT (run_id, name) DO UPDATE
        SET state = excluded.state, output = excluded.output, note = excluded.note,
            error = excluded.error, finished_at = now()
        WHERE flow_steps.state NOT IN (:done, :failed)
        RETURNING run_id
    )
    UPDATE flow_runs SET state = :running, updated_at = now()
    WHERE id = (SELECT run_id FROM step)
    RETURNING id
    """
)


async def _close_step(session: AsyncSession, run_id: uuid.UUID, ended: FlowStep) -> bool:
    """Record the step's end, unless another runner already did (False)."""
    closed = await session.scalar(
        _CLOSE_STEP,
        {
            "run_id": run_id,
            "name": ended.name,
            "state": ended.state,
            "output": json.dumps(ended.output) if ended.output is not None else None,
            "note": ended.note,
            "error": ended.error,
            "done": StepState.DONE.value,
            "failed": StepState.FAILED.value,
            "running": RunState.RUNNING.value,
        },
    )
    return closed is not None


async def _record_attempt(
    session: AsyncSession, run_id: uuid.UUID, name: str, error: str, final: bool
) -> None:
    state = StepState.FAILED if final else StepState.RETRYING
    await session.execute(
        insert(FlowStep)
        .values(run_id=run_id, name=name, state=state, attempts=1, error=error)
        .on_conflict_do_update(
            index_elements=["run_id", "name"],
            set_={
                "state": state,
                "attempts": FlowStep.attempts + 1,
                "error": error,
                "finished_at": func.now(),
            },
        )
    )
    await session.execute(update(FlowRun).where(FlowRun.id == run_id).values(updated_at=func.now()))


async def _close_run(
    session: AsyncSession, run_id: uuid.UUID, state: str, error: str | None
) -> None:
    await session.execute(
        update(FlowRun)
        .where(FlowRun.id == run_id)
        .values(state=state, error=error, updated_at=func.now(), finished_at=func.now())
    )


async def stalled(session: AsyncSession, quiet_s: float, limit: int = 100) -> list[uuid.UUID]:
    """Runs not finished and not touched for `quiet_s` seconds: their runner died, or the
    wake-up after their start was lost."""
    rows = await session.scalars(
        select(FlowRun.id)
        .where(
            FlowRun.state.in_((RunState.PENDING, RunState.RUNNING)),
            FlowRun.updated_at < func.now() - timedelta(seconds=quiet_s),
        )
        .order_by(FlowRun.updated_at)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class StepView:
    state: str  # done | failed | retrying | waiting
    note: str | None
    error: str | None
    attempts: int

    @property
    def shown(self) -> str:
        """One phrase for a status view: `done`, its note (`skipped (…)`), or the failure."""
        if self.state == StepState.DONE:
            return self.note or "done"
        if self.state == StepState.WAITING:
            return self.note or "waiting"
        if self.state == StepState.RETRYING:
            return f"retrying (attempt {self.attempts + 1}: {self.error})"
        return f"failed ({self.error})" if self.error else "failed"


@dataclass(frozen=True)
class RunView:
    """A run as status pages show it."""

    state: str
    error: str | None
    steps: dict[str, StepView]


async def run_of(session: AsyncSession, flow_name: str, key: str) -> RunView | None:
    """The run of the named flow about `key`, its steps in the order they ended."""
    flow_run = await session.scalar(
        select(FlowRun).where(FlowRun.flow == flow_name, FlowRun.key == key)
    )
    if flow_run is None:
        return None
    steps = await session.scalars(
        select(FlowStep).where(FlowStep.run_id == flow_run.id).order_by(FlowStep.finished_at)
    )
    views = {s.name: StepView(s.state, s.note, s.error, s.attempts) for s in steps}
    return RunView(flow_run.state, flow_run.error, views)

"""The flow runner: one committed transaction per step, resume after a failure or a crash
without redoing a committed step, a failing step retried alone, then given up."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events, flows
from atelier.core.flows import Flow, FlowRun, FlowStep, StepContext
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.grid.events import ArtifactAccepted
from tests.helpers import drain_tasks


class Order(BaseModel):
    item: str
    fail_times: int = 0  # how many attempts of `charge` fail before one succeeds
    final_failure: bool = False


class Priced(BaseModel):
    cents: int


calls: Counter[tuple[str, str]] = Counter()  # (key, step) → times the step's code ran
given_up: list[tuple[str, str]] = []

SHOP = Flow("tests.shop", Order, max_attempts=3)


async def _mark(session: AsyncSession, key: str, step: str) -> None:
    await session.execute(
        text("INSERT INTO flow_test_marks (key, step) VALUES (:k, :s)"), {"k": key, "s": step}
    )


@SHOP.step("price")
async def price(ctx: StepContext[Order]) -> None:
    calls[ctx.key, "price"] += 1
    async with ctx.finish(Priced(cents=len(ctx.input.item) * 100)) as session:
        await _mark(session, ctx.key, "price")


@SHOP.step("charge")
async def charge(ctx: StepContext[Order]) -> None:
    calls[ctx.key, "charge"] += 1
    priced = ctx.output("price", Priced)
    assert priced is not None and priced.cents > 0
    if ctx.input.final_failure:
        async with ctx.fail("card declined") as session:
            await _mark(session, ctx.key, "declined")
        return
    if calls[ctx.key, "charge"] <= ctx.input.fail_times:
        raise ConnectionError("payment provider unreachable")
    async with ctx.finish(note=f"charged {priced.cents}") as session:
        await _mark(session, ctx.key, "charge")


@SHOP.step("ship")
async def ship(ctx: StepContext[Order]) -> None:
    calls[ctx.key, "ship"] += 1  # nothing to write: the runner closes the step itself


@SHOP.give_up
async def refund(session: AsyncSession, ctx: StepContext[Order], error: str) -> None:
    given_up.append((ctx.key, ctx.step))
    await _mark(session, ctx.key, "gave up")


@pytest.fixture(scope="module", autouse=True)
async def marks_table(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(text("CREATE TABLE flow_test_marks (key text, step text)"))


async def _start(runtime: Runtime, order: Order) -> tuple[str, uuid.UUID]:
    key = uuid.uuid4().hex
    async with unit_of_work(runtime) as session:
        run_id = await flows.start(session, SHOP, key, order)
    return key, run_id


async def _marks(runtime: Runtime, key: str) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            text("SELECT step FROM flow_test_marks WHERE key = :k ORDER BY ctid"), {"k": key}
        )
        return list(rows)


async def _steps(runtime: Runtime, run_id: uuid.UUID) -> dict[str, FlowStep]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(FlowStep).where(FlowStep.run_id == run_id))
        return {s.name: s for s in rows}


async def test_steps_commit_one_by_one_and_a_run_ends_once(runtime: Runtime) -> None:
    key, run_id = await _start(runtime, Order(item="lamp"))
    async with unit_of_work(runtime) as session:  # started again: the same run
        assert await flows.start(session, SHOP, key, Order(item="other")) == run_id
    assert await flows.run(runtime, run_id) == "succeeded"
    assert await _marks(runtime, key) == ["price", "charge"]
    steps = await _steps(runtime, run_id)
    assert {n: s.state for n, s in steps.items()} == dict.fromkeys(
        ("price", "charge", "ship"), "done"
    )
    assert steps["price"].output == {"cents": 400}
    assert steps["charge"].note == "charged 400"
    assert await flows.run(runtime, run_id) == "succeeded"  # finished: nothing runs again
    assert [calls[key, s] for s in ("price", "charge", "ship")] == [1, 1, 1]
    async with runtime.sessions() as session:
        view = await flows.run_of(session, SHOP.name, key)
    assert view is not None and view.state == "succeeded"
    assert [(n, s.shown) for n, s in view.steps.items()] == [
        ("price", "done"),
        ("charge", "charged 400"),
        ("ship", "done"),
    ]


async def test_a_failing_step_is_retried_alone(runtime: Runtime) -> None:
    key, run_id = await _start(runtime, Order(item="desk", fail_times=1))
    with pytest.raises(ConnectionError):
        await flows.run(runtime, run_id)  # the task queue retries it later
    steps = await _steps(runtime, run_id)
    assert steps["charge"].state == "retrying" and steps["charge"].attempts == 1
    assert "unreachable" in (steps["charge"].error or "")
    price_done_at = steps["price"].finished_at
    assert await flows.run(runtime, run_id) == "succeeded"
    assert calls[key, "price"] == 1 and calls[key, "charge"] == 2  # price was not redone
    assert (await _steps(runtime, run_id))["price"].finished_at == price_done_at
    assert await _marks(runtime, key) == ["price", "charge"]


async def test_after_max_attempts_the_flow_gives_up_in_one_transaction(runtime: Runtime) -> None:
    key, run_id = await _start(runtime, Order(item="sofa", fail_times=99))
    for _ in range(SHOP.max_attempts - 1):
        with pytest.raises(ConnectionError):
            await flows.run(runtime, run_id)
    assert await flows.run(runtime, run_id) == "failed"
    assert (key, "charge") in given_up
    assert await _marks(runtime, key) == ["price", "gave up"]
    async with runtime.sessions() as session:
        run = await session.get(FlowRun, run_id)
    assert run is not None and run.state == "failed"
    assert run.error is not None and run.error.startswith("charge: ConnectionError")
    assert calls[key, "ship"] == 0


async def test_a_final_failure_ends_the_run_with_its_writes(runtime: Runtime) -> None:
    key, run_id = await _start(runtime, Order(item="rug", final_failure=True))
    assert await flows.run(runtime, run_id) == "failed"
    assert await _marks(runtime, key) == ["price", "declined"]
    assert (await _steps(runtime, run_id))["charge"].error == "card declined"
    assert calls[key, "ship"] == 0


async def test_a_step_another_runner_closed_first_rolls_back(runtime: Runtime) -> None:
    """Two runners of one run (a retried job beside a stalled one): the second to commit a
    step loses, and what it wrote goes with it."""
    key, run_id = await _start(runtime, Order(item="clock"))
    raced = Flow("tests.raced", Order)

    @raced.step("price")
    async def price_twice(ctx: StepContext[Order]) -> None:
        async with runtime.sessions() as other, other.begin():  # the other runner commits
            await other.execute(
                text(
                    "INSERT INTO flow_steps (run_id, name, state, attempts) "
                    "VALUES (:r, 'price', 'done', 0)"
                ),
                {"r": ctx.run_id},
            )
        async with ctx.finish() as session:
            await _mark(session, ctx.key, "raced price")

    async with unit_of_work(runtime) as session:
        raced_id = await flows.start(session, raced, key, Order(item="clock"))
    assert await flows.run(runtime, raced_id) == "raced"
    assert await _marks(runtime, key) == []
    assert run_id != raced_id


async def test_reads_in_a_step_lock_and_write_nothing(runtime: Runtime) -> None:
    key, run_id = await _start(runtime, Order(item="vase"))
    async with runtime.sessions() as session:
        run = await session.get(FlowRun, run_id)
    assert run is not None
    ctx: StepContext[Order] = StepContext(runtime, run, "price", Order(item="vase"), {})
    with pytest.raises(DBAPIError, match="read-only transaction"):
        async with ctx.read() as session:
            await _mark(session, key, "written in a read")


async def test_the_task_worker_runs_a_started_flow(runtime: Runtime) -> None:
    """Started in a unit of work, the run is queued when it commits (core:run_flow)."""
    key, run_id = await _start(runtime, Order(item="chair"))
    await drain_tasks(runtime)
    assert await _marks(runtime, key) == ["price", "charge"]
    async with runtime.sessions() as session:
        run = await session.get(FlowRun, run_id)
        assert run is not None and run.state == "succeeded"
        assert run_id not in await flows.stalled(session, 0)


async def test_stalled_runs_are_found_for_resuming(runtime: Runtime) -> None:
    _, run_id = await _start(runtime, Order(item="bench"))
    async with runtime.sessions() as session:
        assert run_id in await flows.stalled(session, 0)
        assert run_id not in await flows.stalled(session, 3600)


def test_flow_and_step_names_are_unique() -> None:
    with pytest.raises(ValueError, match="used twice"):
        Flow("tests.shop", Order)
    with pytest.raises(ValueError, match="two steps"):
        SHOP.step("price")(price)


def test_events_are_typed_and_their_topics_derived() -> None:
    assert ArtifactAccepted.topic == "grid.artifact_accepted"
    assert ArtifactAccepted.publisher == "grid"
    with pytest.raises(TypeError, match=r"events\.py"):

        class Stray(events.Event):  # not in a domain's events.py
            thing: int

    reacting: dict[str, Any] = {}
    for subscription in events.reactions():
        reacting.setdefault(subscription.event.topic, []).append(subscription.name)
    assert "provenance.process_artifact" in reacting["grid.artifact_accepted"]
    assert "governance.job_proposal" in reacting["grid.artifact_accepted"]


class Parcel(BaseModel):
    arrivals_needed: int


arrivals: Counter[str] = Counter()  # key → parcels arrived (work done elsewhere)
DELIVERY = Flow("tests.delivery", Parcel)


@DELIVERY.step("await")
async def await_parcels(ctx: StepContext[Parcel]) -> None:
    calls[ctx.key, "await"] += 1
    if arrivals[ctx.key] < ctx.input.arrivals_needed:
        async with ctx.wait(f"{arrivals[ctx.key]} of {ctx.input.arrivals_needed} arrived"):
            return
    async with ctx.finish() as session:
        await _mark(session, ctx.key, "arrived")


@DELIVERY.step("sign")
async def sign_for(ctx: StepContext[Parcel]) -> None:
    async with ctx.finish() as session:
        await _mark(session, ctx.key, "signed")


async def test_a_waiting_step_stops_the_run_until_it_is_woken(runtime: Runtime) -> None:
    key = uuid.uuid4().hex
    async with unit_of_work(runtime) as session:
        run_id = await flows.start(session, DELIVERY, key, Parcel(arrivals_needed=2))
    assert await flows.run(runtime, run_id) == "waiting"
    arrivals[key] += 1
    assert await flows.run(runtime, run_id) == "waiting"
    async with runtime.sessions() as session:
        view = await flows.run_of(session, DELIVERY.name, key)
        assert view is not None and view.state == "running"
        assert view.steps["await"].shown == "1 of 2 arrived"
        run = await session.get(FlowRun, run_id)
        assert run is not None and run.state == "running"
    assert await _marks(runtime, key) == []  # a waiting step wrote nothing final
    arrivals[key] += 1
    async with unit_of_work(runtime) as session:  # woken: runs once the caller commits
        assert await flows.wake_run(session, DELIVERY, key)
    await drain_tasks(runtime)
    assert await _marks(runtime, key) == ["arrived", "signed"]
    assert (await _steps(runtime, run_id))["await"].attempts == 0  # waiting is no failure
    async with unit_of_work(runtime) as session:  # an ended run is not woken
        assert not await flows.wake_run(session, DELIVERY, key)
    assert calls[key, "await"] == 3


async def test_the_last_step_ends_the_run_in_its_own_transaction(runtime: Runtime) -> None:
    """A runner killed just after the last step commits (here: it raises out of the runner
    right after) leaves a finished run, not one shown running with every step done."""
    killed = Flow("tests.killed_after_last", Order)

    @killed.step("only")
    async def only(ctx: StepContext[Order]) -> None:
        async with ctx.finish() as session:
            await _mark(session, ctx.key, "only")
        raise SystemExit  # the process dies before the runner's own closing

    key = uuid.uuid4().hex
    async with unit_of_work(runtime) as session:
        run_id = await flows.start(session, killed, key, Order(item="fan"))
    with pytest.raises(SystemExit):
        await flows.run(runtime, run_id)
    async with runtime.sessions() as session:
        assert (await session.get(FlowRun, run_id)).state == "succeeded"  # type: ignore[union-attr]
    assert await _marks(runtime, key) == ["only"]

"""The flow runner's own cost: what a step costs beyond the work it does.

A flow of empty steps (each still commits its transaction: the step row and the run's
touch) is run end to end with `flows.run`, and the time per step is reported; beside it, the
same number of empty transactions on the same pool (what one transaction per step costs at
the least), so the runner's bookkeeping shows as the difference.

    python -m benchmarks.bench_flows [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import text

from atelier.core import flows
from atelier.core.config import Settings
from atelier.core.flows import Flow, StepContext
from atelier.core.startup import close_runtime, open_runtime
from atelier.core.transactions import unit_of_work
from benchmarks.common import Row, embedded_database, summary_ms, write_results

STEPS = 10


class Nothing(BaseModel):
    n: int = 0


class Output(BaseModel):
    value: int


EMPTY: Flow[Nothing] = Flow("bench.empty", Nothing, max_attempts=1)


def _declare_steps() -> None:
    for index in range(STEPS):

        async def step(ctx: StepContext[Nothing], index: int = index) -> None:
            async with ctx.finish(Output(value=index)):
                pass

        EMPTY.step(f"step{index}")(step)


async def bench(runs: int) -> list[Row]:
    _declare_steps()
    server, url = embedded_database("bench_flows")
    settings = Settings(_env_file=None, home=Path(tempfile.mkdtemp()), database_url=url)  # type: ignore[call-arg]
    runtime = await open_runtime(settings, url)
    per_step, per_start, bare = [], [], []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            async with unit_of_work(runtime) as session:
                run_id = await flows.start(session, EMPTY, uuid.uuid4().hex, Nothing())
            begun = time.perf_counter()
            assert await flows.run(runtime, run_id) == "succeeded"
            ended = time.perf_counter()
            per_start.append(begun - started)
            per_step.append((ended - begun) / STEPS)
            started = time.perf_counter()
            for _ in range(STEPS):
                async with runtime.sessions() as session, session.begin():
                    await session.execute(text("SELECT 1"))
            bare.append((time.perf_counter() - started) / STEPS)
    finally:
        await close_runtime(runtime)
        server.cleanup()
    step_ms = summary_ms(per_step)
    note = f"{runs} runs of {STEPS} empty steps (each commits its step row and output)"
    return [
        Row("flow runner, per step", step_ms["p50"], "ms p50", "< 2 ms", note),
        Row("flow runner, per step, p99", step_ms["p99"], "ms", "", note),
        Row(
            "one empty transaction (SELECT 1), for comparison",
            summary_ms(bare)["p50"],
            "ms p50",
            "",
            "the least a committed step can cost on this pool",
        ),
        Row(
            "flows.start in a unit of work",
            summary_ms(per_start)["p50"],
            "ms p50",
            "",
            "the run recorded (upsert) and committed; its wake-up deferred",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(bench(30 if args.quick else 200))
    context = {"cores": os.cpu_count() or 0, "postgres": "embedded, same machine"}
    path = write_results("flows", rows, context)
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())

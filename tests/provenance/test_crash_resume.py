"""A task worker SIGKILLed in the middle of signing: the provenance flow resumes at the step it
was in, and the steps it had committed are not done again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from atelier.core import flows
from atelier.core.flows import FlowRun, FlowStep
from atelier.core.runtime import Runtime
from atelier.grid.models import GenerationRequest
from atelier.provenance import service, signing
from atelier.provenance.flows import SIGN_ARTIFACT
from atelier.provenance.models import CorpusItem, ProvenanceRecord
from tests.grid.helpers import account_with_key, asgi_client, worker_loop
from tests.servers import atelier_env

# A real task worker (the outbox dispatcher, the handlers, the flow runner), except that the
# C2PA signer kills its own process: the crash lands in the sign step's slow work, after
# hash, fingerprint and originality committed.
CRASHING_WORKER = textwrap.dedent(
    """
    import asyncio, os, signal

    from atelier.provenance import signing

    def crash(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    signing.sign = crash

    from atelier.core.config import Settings
    from atelier.core.startup import close_runtime, open_runtime
    from atelier.core.transactions import kick_dispatcher
    from atelier.server.modules import task_blueprints

    async def main():
        settings = Settings()
        runtime = await open_runtime(settings, blueprints=task_blueprints())
        await kick_dispatcher(runtime.tasks)
        for _ in range(3):
            await runtime.tasks.run_worker_async(
                wait=False, install_signal_handlers=False, concurrency=1, listen_notify=False
            )
        await close_runtime(runtime)

    asyncio.run(main())
    """
)


async def test_a_sigkilled_pipeline_resumes_without_redoing_committed_steps(
    client: httpx.AsyncClient, runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate({"kind": "image", "prompt": "a lighthouse at dusk"})
    async with worker_loop(client, volunteer, "crash-worker", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), 60)  # accepted: ArtifactAccepted is in the outbox

    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CRASHING_WORKER],
        env=atelier_env(runtime.settings.home, database_url),
        capture_output=True,
        timeout=120,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr.decode()[-2000:]

    async with runtime.sessions() as session:
        request = await session.get(GenerationRequest, job.id)
        assert request is not None and request.artifact_id is not None
        artifact_id = request.artifact_id
        run = await session.scalar(
            select(FlowRun).where(
                FlowRun.flow == SIGN_ARTIFACT.name, FlowRun.key == str(artifact_id)
            )
        )
        assert run is not None and run.state == "running"
        committed = await _finished(runtime, run.id)
        assert set(committed) == {"hash", "fingerprint", "originality"}  # sign died mid-way
        record = await session.get(ProvenanceRecord, artifact_id)
        assert record is not None and record.manifest_state == "pending"
        assert run.id in await flows.stalled(session, 0)  # what resume_flows re-queues
    status = await grid.status(job.id)
    assert status.state == "signing"  # the creator waits; nothing half-signed is served

    assert await flows.run(runtime, run.id) == "succeeded"  # the resumed runner

    after = await _finished(runtime, run.id)
    for step in ("hash", "fingerprint", "originality"):
        assert after[step] == committed[step], f"{step} ran again"
    assert set(after) == {"hash", "fingerprint", "originality", "sign", "publish"}
    async with runtime.sessions() as session:
        corpus = await session.scalar(
            select(func.count())
            .select_from(CorpusItem)
            .where(CorpusItem.artifact_id == artifact_id)
        )
        assert corpus == 1  # originality added it to the corpus once
    path = await grid.download(job.id, tmp_path / "out")
    await grid.close()
    identity = service.signing_identity(runtime.settings)
    assert signing.read(path, "image/png", identity.root_pem).state == "Trusted"


async def _finished(runtime: Runtime, run_id: object) -> dict[str, datetime]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(FlowStep.name, FlowStep.finished_at).where(
                FlowStep.run_id == run_id, FlowStep.state == "done"
            )
        )
        return dict(rows.tuples().all())

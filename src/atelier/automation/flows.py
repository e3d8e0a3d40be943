"""A rule's run, as a flow keyed by its run id: one step per action (`action_1` …), each
committing what it did with its result, so a failing action is retried alone (with backoff)
and the actions before it are never repeated; after `max_attempts` the run is logged failed
with the error, the actions done so far kept in its results.

Events a step's transaction emits carry the run's chain of rules (`events.CAUSE`), so a rule
triggered by its own action is cut off as a loop (service.py)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.automation import actions as acts
from atelier.automation import conditions as conds
from atelier.automation import repository as repo
from atelier.automation.models import RunOutcome
from atelier.automation.service import Fired
from atelier.chain.evm.client import chain_for
from atelier.core import events, flows
from atelier.core.clock import now_utc
from atelier.core.flows import Flow, StepContext
from atelier.governance import service as governance
from atelier.grid import service as grid
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.market import trading
from atelier.market.models import ListingKind
from atelier.social import farcaster
from atelier.social import service as social
from atelier.studio import flows as studio_flows
from atelier.studio import service as studio

SOURCE = "automation"


class RuleFired(BaseModel):
    run_id: uuid.UUID
    rule_id: uuid.UUID
    owner_id: uuid.UUID
    inputs: dict[str, Any]
    chain: list[str]
    actions: list[dict[str, Any]]
    fired_at: float  # unix seconds: a cast's timestamp, the same on every retry


class Done(BaseModel):
    result: dict[str, Any]


RUN_RULE: Flow[RuleFired] = Flow("automation.run_rule", RuleFired, max_attempts=4)
Ctx = StepContext[RuleFired]


async def start(session: AsyncSession, fired: list[Fired]) -> None:
    for one in fired:
        flow_input = RuleFired(
            run_id=one.run_id,
            rule_id=one.rule_id,
            owner_id=one.owner_id,
            inputs=one.inputs,
            chain=one.chain,
            actions=one.actions,
            fired_at=now_utc().timestamp(),
        )
        await flows.start(session, RUN_RULE, str(one.run_id), flow_input)


def _rendered(ctx: Ctx, action: dict[str, Any]) -> dict[str, Any]:
    return {k: v if k == "kind" else conds.render(v, ctx.input.inputs) for k, v in action.items()}


async def _perform(ctx: Ctx, index: int) -> None:
    actions = ctx.input.actions
    if index >= len(actions):
        async with ctx.finish(note="—") as session:
            await _close_if_last(session, ctx, index)
        return
    action = _rendered(ctx, actions[index])
    kind = action["kind"]
    result: dict[str, Any]
    if kind == "submit_job":
        async with ctx.finish() as session:
            session.info[events.CAUSE] = [*ctx.input.chain, str(ctx.input.rule_id)]
            owner = await accounts.principal_for(session, ctx.input.owner_id, SOURCE)
            fields = {"prompt": action["prompt"]}
            job = await grid.submit(
                session, ctx.runtime.settings, owner, action["job"], fields, source=SOURCE
            )
            await _record(session, ctx, index, {"kind": kind, "job_id": str(job.id)})
        return
    if kind in IN_STEP:
        async with ctx.finish() as session:
            session.info[events.CAUSE] = [*ctx.input.chain, str(ctx.input.rule_id)]
            owner = await accounts.principal_for(session, ctx.input.owner_id, SOURCE)
            made = await IN_STEP[kind](session, ctx, owner, action)
            await _record(session, ctx, index, {"kind": kind, **made})
        return
    if kind == "post_cast":
        result = await _cast(ctx, action)
    elif kind == "webhook":
        result = await _webhook(ctx, action, index)
    else:
        result = await _email(ctx, action)
    async with ctx.finish(Done(result=result)) as session:
        session.info[events.CAUSE] = [*ctx.input.chain, str(ctx.input.rule_id)]
        await _record(session, ctx, index, {"kind": kind, **result})


async def _proposal(
    session: AsyncSession, ctx: Ctx, owner: Principal, action: dict[str, Any]
) -> dict[str, Any]:
    spec = governance.ProposalSpec(title=action["title"], body=action.get("body", ""))
    proposal = await governance.create_proposal(
        session,
        ctx.runtime.settings,
        await chain_for(ctx.runtime),
        spec,
        author_id=owner.user_id,
        on_chain=False,
    )
    return {"proposal_id": str(proposal.id)}


async def _agent(
    session: AsyncSession, ctx: Ctx, owner: Principal, action: dict[str, Any]
) -> dict[str, Any]:
    asked = studio.AgentRequest(
        template=action["template"],
        prompt=action["prompt"],
        n=None,
        keep=None,
        studio_id=None,
        collection_name=None,
        cast=False,
    )
    run = await studio.plan(session, ctx.runtime.settings, owner, asked)
    run = await studio.mark_started(session, owner, run.id)
    await studio_flows.start(session, run)
    return {"agent_id": str(run.id)}


async def _listed(
    session: AsyncSession, ctx: Ctx, owner: Principal, action: dict[str, Any]
) -> dict[str, Any]:
    nft_id, price = _filled_nft_action(action)
    if action["kind"] == "reprice_nft":
        listing = await trading.reprice_nft(session, ctx.runtime, owner, nft_id, price)
    else:
        the_step = uuid.uuid5(ctx.input.run_id, ctx.step)  # the same on every retry
        terms = trading.Terms(ListingKind.FIXED, price=price)
        listing = await trading.list_nft(
            session, ctx.runtime, owner, nft_id, terms, listing_id=the_step
        )
    return {"listing_id": str(listing.id), "price": price}


def _filled_nft_action(action: dict[str, Any]) -> tuple[uuid.UUID, int]:
    """The NFT and lamports once the event's fields are in (a template that filled in to
    something else fails the step, in words)."""
    nft_id, price = acts.nft_and_price(action)
    if nft_id is None or price is None:
        raise ValueError(f"the event did not fill in {action['nft']!r} / {action['price']!r}")
    return nft_id, price


IN_STEP = {
    "create_proposal": _proposal,
    "run_agent": _agent,
    "list_nft": _listed,
    "reprice_nft": _listed,
}


async def _cast(ctx: Ctx, action: dict[str, Any]) -> dict[str, Any]:
    settings = ctx.runtime.settings
    message = await social.post_cast(
        settings,
        social.hub_client(settings),
        action["text"],
        timestamp=farcaster.farcaster_time(ctx.input.fired_at),
    )
    return {"hash": message["hash"]}


async def _webhook(ctx: Ctx, action: dict[str, Any], index: int) -> dict[str, Any]:
    body = acts.webhook_body(action.get("body"), ctx.input.inputs, conds.render)
    key = hashlib.sha256(f"atelier-automation:{ctx.input.rule_id}".encode()).digest()
    delivery = acts.Delivery(
        url=action["url"],
        body=body,
        delivery_id=f"{ctx.input.run_id}:{index + 1}",
        signature="sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    )
    return await acts.post_webhook(ctx.runtime.settings, delivery)


async def _email(ctx: Ctx, action: dict[str, Any]) -> dict[str, Any]:
    async with ctx.read() as session:
        owner = await accounts.get_user(session, ctx.input.owner_id)
    if not owner.email:
        return {"skipped": "the rule's owner has no email address"}
    await ctx.runtime.mailer.send(owner.email, action["subject"], action["body"])
    return {"sent": True}


async def _record(session: AsyncSession, ctx: Ctx, index: int, result: dict[str, Any]) -> None:
    run = await repo.run(session, ctx.input.run_id, lock=True)
    assert run is not None
    run.results = [*run.results, result]
    await _close_if_last(session, ctx, index)


async def _close_if_last(session: AsyncSession, ctx: Ctx, index: int) -> None:
    if index + 1 < acts.MAX_ACTIONS:
        return
    run = await repo.run(session, ctx.input.run_id, lock=True)
    assert run is not None
    run.outcome, run.finished_at = RunOutcome.DONE, now_utc()


def _step(index: int) -> Any:
    async def step(ctx: Ctx) -> None:
        await _perform(ctx, index)

    step.__name__ = f"action_{index + 1}"
    return step


for _index in range(acts.MAX_ACTIONS):
    RUN_RULE.step(f"action_{_index + 1}")(_step(_index))


@RUN_RULE.give_up
async def record_failure(session: AsyncSession, ctx: Ctx, error: str) -> None:
    run = await repo.run(session, ctx.input.run_id, lock=True)
    if run is not None:
        run.outcome, run.finished_at = RunOutcome.FAILED, now_utc()
        run.error = f"{ctx.step} failed: {error}"[:2000]

"""Provenance queries."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.provenance.models import CorpusItem, ProvenanceRecord


async def record_for_update(
    session: AsyncSession, artifact_id: uuid.UUID, sha256: str
) -> ProvenanceRecord:
    """The artifact's record, created on first sight, locked for this transaction."""
    await session.execute(
        insert(ProvenanceRecord)
        .values(artifact_id=artifact_id, sha256=sha256)
        .on_conflict_do_nothing()
    )
    record = await session.get(ProvenanceRecord, artifact_id, with_for_update=True)
    assert record is not None
    return record


async def in_corpus(session: AsyncSession, artifact_id: uuid.UUID) -> bool:
    found = await session.scalar(select(CorpusItem.id).where(CorpusItem.artifact_id == artifact_id))
    return found is not None


async def record_by_content(session: AsyncSession, sha256: str) -> ProvenanceRecord | None:
    """The record whose original or signed copy has these bytes."""
    return await session.scalar(
        select(ProvenanceRecord)
        .where(or_(ProvenanceRecord.signed_sha256 == sha256, ProvenanceRecord.sha256 == sha256))
        .limit(1)
    )

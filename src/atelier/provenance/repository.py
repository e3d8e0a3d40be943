"""Provenance queries: the records of accepted artifacts and the corpus originality is
measured against."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.provenance.models import (
    AudioPrint,
    ClipEmbedding,
    CorpusItem,
    PdqHash,
    ProvenanceRecord,
)


async def record_for_update(
    session: AsyncSession, artifact_id: uuid.UUID, sha256: str
) -> ProvenanceRecord:
    """The artifact's record, created on first sight, locked for this transaction."""
    await session.execute(
        insert(ProvenanceRecord)
        .values(artifact_id=artifact_id, sha256=sha256)
        .on_conflict_do_nothing()
    )
    record = await session.get(
        ProvenanceRecord, artifact_id, with_for_update=True, populate_existing=True
    )
    assert record is not None
    return record


async def upsert_record(
    session: AsyncSession, artifact_id: uuid.UUID, sha256: str, **values: Any
) -> None:
    """Create the artifact's record, or set `values` on it: one statement."""
    statement = insert(ProvenanceRecord).values(artifact_id=artifact_id, sha256=sha256, **values)
    if values:
        await session.execute(
            statement.on_conflict_do_update(index_elements=["artifact_id"], set_=values)
        )
    else:
        await session.execute(statement.on_conflict_do_nothing())


async def update_record(session: AsyncSession, artifact_id: uuid.UUID, **values: Any) -> None:
    """Set `values` on the artifact's record (one statement, no read first)."""
    await session.execute(
        update(ProvenanceRecord).where(ProvenanceRecord.artifact_id == artifact_id).values(**values)
    )


async def record(
    session: AsyncSession, artifact_id: uuid.UUID, *, for_update: bool = False
) -> ProvenanceRecord | None:
    return await session.get(
        ProvenanceRecord, artifact_id, with_for_update=for_update, populate_existing=for_update
    )


async def record_by_content(session: AsyncSession, sha256: str) -> ProvenanceRecord | None:
    """The record whose original or signed copy has these bytes."""
    return await session.scalar(
        select(ProvenanceRecord)
        .where(or_(ProvenanceRecord.signed_sha256 == sha256, ProvenanceRecord.sha256 == sha256))
        .limit(1)
    )


async def in_corpus(session: AsyncSession, artifact_id: uuid.UUID) -> bool:
    found = await session.scalar(select(CorpusItem.id).where(CorpusItem.artifact_id == artifact_id))
    return found is not None


async def corpus_copies(session: AsyncSession, sha256: str, limit: int) -> list[CorpusItem]:
    """Known works with exactly these bytes."""
    rows = await session.scalars(select(CorpusItem).where(CorpusItem.sha256 == sha256).limit(limit))
    return list(rows)


async def corpus_items(session: AsyncSession, item_ids: list[int]) -> dict[int, CorpusItem]:
    """The corpus items with these ids, in one query."""
    if not item_ids:
        return {}
    rows = await session.scalars(select(CorpusItem).where(CorpusItem.id.in_(item_ids)))
    return {item.id: item for item in rows}


async def pdq_hashes_from(
    session: AsyncSession, first_id: int, min_quality: int
) -> list[tuple[int, int, bytes]]:
    """(hash id, item id, hash) of every usable PDQ hash from `first_id` on, by id."""
    rows = await session.execute(
        select(PdqHash.id, PdqHash.item_id, PdqHash.hash)
        .where(PdqHash.id >= first_id, PdqHash.quality >= min_quality)
        .order_by(PdqHash.id)
    )
    return [(int(hash_id), int(item_id), bytes(digest)) for hash_id, item_id, digest in rows.all()]


_NEAREST_EMBEDDINGS = text(
    "SELECT item_id, 1 - (embedding <=> CAST(:q AS vector)) AS similarity "
    "FROM clip_embeddings WHERE model = :model "
    "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :limit"
)


async def nearest_embeddings(
    session: AsyncSession, model: str, vector: str, limit: int
) -> list[tuple[int, float]]:
    """(item id, cosine similarity) of the closest CLIP embeddings of `model` (pgvector)."""
    rows = await session.execute(_NEAREST_EMBEDDINGS, {"q": vector, "model": model, "limit": limit})
    return [(int(item_id), float(similarity)) for item_id, similarity in rows.all()]


async def audio_prints(session: AsyncSession) -> list[tuple[CorpusItem, list[int]]]:
    rows = await session.execute(
        select(CorpusItem, AudioPrint.fingerprint).join(
            AudioPrint, AudioPrint.item_id == CorpusItem.id
        )
    )
    return [(item, list(fingerprint)) for item, fingerprint in rows.all()]


async def add_corpus_item(
    session: AsyncSession,
    item: CorpusItem,
    pdq: list[tuple[bytes, int]],
    audio: list[int] | None,
    embedding: tuple[str, str] | None,
) -> CorpusItem:
    """Store a known work with its PDQ hashes (hash, quality), its Chromaprint and its CLIP
    embedding (model, vector)."""
    session.add(item)
    await session.flush()
    for digest, quality in pdq:
        session.add(PdqHash(item_id=item.id, hash=digest, quality=quality))
    if audio:
        session.add(AudioPrint(item_id=item.id, fingerprint=audio))
    if embedding is not None:
        session.add(ClipEmbedding(item_id=item.id, model=embedding[0], embedding=embedding[1]))
    await session.flush()
    return item

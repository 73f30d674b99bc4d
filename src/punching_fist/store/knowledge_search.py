"""Full-text search over the knowledge base, with each database's own index.

SQLite: the FTS5 table ``knowledge_fts`` (porter stemming), ranked by ``bm25`` with the
subject (alertname, namespace, workload, container) and the title weighing most. PostgreSQL:
the generated ``search`` tsvector (english stemming, the same weights as A/B/C) under a GIN
index, ranked by ``ts_rank_cd``. Migration 0010 makes both.

A query is cut to its words (letters and digits) before it reaches either syntax, so nothing
a user or an alert writes is read as an operator. ``every`` word must match for the API's
search; for similar incidents any word may (an alert's text shares some words with a past
one, never all). Scores are ``rank / (1 + rank)``: in (0, 1), higher is closer; comparable
within one database, not across the two.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal_column, select, text

from punching_fist.store.database import Database
from punching_fist.store.knowledge import KnowledgeEntry
from punching_fist.store.tables import knowledge_entries

MAX_WORDS = 32
MIN_SCORE = 0.0001
WORD_CHARS = 64
_WORD = re.compile(r"[^\W_]+")
# bm25 weights per FTS5 column: entry_id (unindexed), title, subject, root_cause, fix, body.
_BM25 = "bm25(knowledge_fts, 0.0, 4.0, 6.0, 3.0, 2.0, 1.0)"


@dataclass(frozen=True)
class Hit:
    entry: KnowledgeEntry
    score: float


def words(query: str) -> list[str]:
    """The distinct words of ``query``, lowercased, at most ``MAX_WORDS``."""
    found = [w.lower()[:WORD_CHARS] for w in _WORD.findall(query)]
    return list(dict.fromkeys(found))[:MAX_WORDS]


async def search(
    database: Database,
    query: str,
    *,
    every: bool,
    limit: int,
    offset: int = 0,
    exclude: frozenset[uuid.UUID] = frozenset(),
) -> tuple[list[Hit], int]:
    """Entries matching ``query``'s words, best first, and how many match in all."""
    terms = words(query)
    if not terms:
        return [], 0
    if database.is_sqlite:
        return await _sqlite(database, terms, every, limit, offset, exclude)
    return await _postgres(database, terms, every, limit, offset, exclude)


async def _sqlite(
    database: Database,
    terms: list[str],
    every: bool,
    limit: int,
    offset: int,
    exclude: frozenset[uuid.UUID],
) -> tuple[list[Hit], int]:
    match = (" AND " if every else " OR ").join(f'"{term}"' for term in terms)
    # FTS5 answers MATCH on its own table only: ids and ranks first, then the rows.
    # Constants only in the f-string; the match expression is a bound parameter.
    ranked = text(
        f"SELECT entry_id, -{_BM25} AS rank FROM knowledge_fts"  # noqa: S608
        " WHERE knowledge_fts MATCH :match ORDER BY rank DESC"
    )
    async with database.connect() as conn:
        rows = (await conn.execute(ranked, {"match": match})).all()
    order = [(uuid.UUID(str(entry_id)), float(rank)) for entry_id, rank in rows]
    order = [(entry_id, rank) for entry_id, rank in order if entry_id not in exclude]
    page = order[offset : offset + limit]
    async with database.connect() as conn:
        found = await conn.execute(
            select(knowledge_entries).where(knowledge_entries.c.id.in_([i for i, _ in page]))
        )
        entries = {row.id: KnowledgeEntry.from_row(row) for row in found}
    hits = [Hit(entries[i], _score(rank)) for i, rank in page if i in entries]
    return hits, len(order)


async def _postgres(
    database: Database,
    terms: list[str],
    every: bool,
    limit: int,
    offset: int,
    exclude: frozenset[uuid.UUID],
) -> tuple[list[Hit], int]:
    tsquery = func.to_tsquery("english", (" & " if every else " | ").join(terms))
    search_column: Any = literal_column("knowledge_entries.search")
    matches: Any = search_column.op("@@")(tsquery)
    conditions = [matches]
    if exclude:
        conditions.append(knowledge_entries.c.id.not_in(exclude))
    rank = func.ts_rank_cd(search_column, tsquery).label("rank")
    query = (
        select(knowledge_entries, rank)
        .where(*conditions)
        .order_by(rank.desc(), knowledge_entries.c.created_at.desc())
        .limit(limit)
        .offset(offset)
    )
    async with database.connect() as conn:
        rows = (await conn.execute(query)).all()
        counted = select(func.count()).select_from(knowledge_entries).where(*conditions)
        total = (await conn.execute(counted)).scalar_one()
    hits = [Hit(KnowledgeEntry.from_row(row), _score(float(row.rank))) for row in rows]
    return hits, int(total)


def _score(rank: float) -> float:
    """In (0, 1): every match scores above zero, even where the ranking function gives
    next to nothing (FTS5's bm25 over a handful of entries, where every word is common)."""
    rank = max(rank, 0.0)
    return max(round(rank / (1.0 + rank), 4), MIN_SCORE)

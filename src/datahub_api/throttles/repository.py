"""SQL of the shared counters. Each statement is atomic on its own: the row lock of the
upsert orders concurrent hits of every process, and time is the database's clock, the one
clock all nodes share."""

from __future__ import annotations

from sqlalchemy import delete, text

from datahub_api.db import ReadSession, WriteSession
from datahub_api.throttles.models import ThrottleCounter

_INCR = text(
    """
    INSERT INTO throttle_counters AS c (key, count, expires_at)
    VALUES (:key, :amount, clock_timestamp() + make_interval(secs => :expiry))
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.expires_at <= clock_timestamp() THEN EXCLUDED.count
                     ELSE c.count + EXCLUDED.count END,
        expires_at = CASE WHEN c.expires_at <= clock_timestamp() THEN EXCLUDED.expires_at
                          ELSE c.expires_at END
    RETURNING count
    """
)


async def incr(session: WriteSession, key: str, expiry: float, amount: int) -> int:
    """Add ``amount``; a counter that is absent or expired starts again, expiring in
    ``expiry`` seconds (the expiry of a live counter is kept)."""
    result = await session.execute(_INCR, {"key": key, "amount": amount, "expiry": expiry})
    return int(result.scalar_one())


_GET = text(
    """
    SELECT count, extract(epoch FROM expires_at) AS expires
    FROM throttle_counters WHERE key = :key AND expires_at > clock_timestamp()
    """
)


async def get(session: ReadSession, key: str) -> tuple[int, float | None]:
    """The live count and its expiry (epoch seconds), or (0, None)."""
    row = (await session.execute(_GET, {"key": key})).first()
    return (int(row[0]), float(row[1])) if row else (0, None)


async def clear(session: WriteSession, key: str) -> None:
    await session.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))


async def clear_prefix(session: WriteSession, prefix: str) -> None:
    await session.execute(
        delete(ThrottleCounter).where(ThrottleCounter.key.startswith(prefix, autoescape=True))
    )


async def sweep(session: WriteSession) -> int:
    """Delete expired counters; how many went."""
    result = await session.execute(
        text("DELETE FROM throttle_counters WHERE expires_at <= clock_timestamp()")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# The sliding-window counter of the ``limits`` library, in one statement: the window of
# ``expiry`` seconds now running (its counter lives until the next one ends) and the one
# before, weighted by the share of it still inside the sliding window. A hit is taken only
# if the weighted count stays within the limit.
_WINDOW = """
    WITH clock AS (SELECT extract(epoch FROM clock_timestamp()) AS t),
    w AS (
        SELECT floor(t / :expiry)::bigint AS idx,
               1 - (t / :expiry - floor(t / :expiry)) AS share,
               t
        FROM clock
    ),
    prev AS (
        SELECT coalesce((
            SELECT c.count FROM throttle_counters c, w
            WHERE c.key = :key || '/' || (w.idx - 1) AND c.expires_at > clock_timestamp()
        ), 0) AS n
    ),
    weighted AS (SELECT floor(prev.n * w.share)::bigint AS n FROM prev, w)
"""

_ACQUIRE = text(
    _WINDOW  # noqa: S608 (constant SQL: only bound parameters vary)
    + """
    INSERT INTO throttle_counters AS c (key, count, expires_at)
    SELECT :key || '/' || w.idx, :amount, to_timestamp((w.idx + 2) * :expiry)
    FROM w, weighted
    WHERE weighted.n + :amount <= :limit
    ON CONFLICT (key) DO UPDATE SET count = c.count + EXCLUDED.count
    WHERE (SELECT n FROM weighted) + c.count + EXCLUDED.count <= :limit
    RETURNING count
    """
)


async def acquire_sliding_window_entry(
    session: WriteSession, key: str, limit: int, expiry: int, amount: int
) -> bool:
    params = {"key": key, "limit": limit, "expiry": expiry, "amount": amount}
    return (await session.execute(_ACQUIRE, params)).first() is not None


_SLIDING_WINDOW = text(
    _WINDOW  # noqa: S608 (constant SQL: only bound parameters vary)
    + """
    SELECT prev.n AS previous_count,
           w.share * :expiry AS previous_ttl,
           coalesce((
               SELECT c.count FROM throttle_counters c
               WHERE c.key = :key || '/' || w.idx AND c.expires_at > clock_timestamp()
           ), 0) AS current_count,
           (w.idx + 2) * :expiry - w.t AS current_ttl
    FROM prev, w
    """
)


async def sliding_window(
    session: ReadSession, key: str, expiry: int
) -> tuple[int, float, int, float]:
    """(previous count, previous TTL, current count, current TTL), as ``limits`` wants them."""
    row = (await session.execute(_SLIDING_WINDOW, {"key": key, "expiry": expiry})).one()
    previous_ttl = float(row.previous_ttl) if row.previous_count else 0.0
    return int(row.previous_count), previous_ttl, int(row.current_count), float(row.current_ttl)


_ACQUIRE_AND_WINDOW = text(
    _WINDOW  # noqa: S608 (constant SQL: only bound parameters vary)
    + """,
    taken AS (
        INSERT INTO throttle_counters AS c (key, count, expires_at)
        SELECT :key || '/' || w.idx, :amount, to_timestamp((w.idx + 2) * :expiry)
        FROM w, weighted
        WHERE weighted.n + :amount <= :limit
        ON CONFLICT (key) DO UPDATE SET count = c.count + EXCLUDED.count
        WHERE (SELECT n FROM weighted) + c.count + EXCLUDED.count <= :limit
        RETURNING count
    )
    SELECT (SELECT count FROM taken) AS taken_count,
           prev.n AS previous_count,
           w.share * :expiry AS previous_ttl,
           coalesce((
               SELECT c.count FROM throttle_counters c
               WHERE c.key = :key || '/' || w.idx AND c.expires_at > clock_timestamp()
           ), 0) AS current_count,
           (w.idx + 2) * :expiry - w.t AS current_ttl
    FROM prev, w
    """
)


async def acquire_and_window(
    session: WriteSession, key: str, limit: int, expiry: int, amount: int
) -> tuple[bool, tuple[int, float, int, float]]:
    """:func:`acquire_sliding_window_entry` and :func:`sliding_window` after it, in one
    statement (one round trip per API request)."""
    params = {"key": key, "limit": limit, "expiry": expiry, "amount": amount}
    row = (await session.execute(_ACQUIRE_AND_WINDOW, params)).one()
    taken = row.taken_count is not None
    current = int(row.taken_count) if taken else int(row.current_count)
    previous_ttl = float(row.previous_ttl) if row.previous_count else 0.0
    return taken, (int(row.previous_count), previous_ttl, current, float(row.current_ttl))

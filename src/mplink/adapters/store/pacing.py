"""A token bucket kept in one database row, so every worker on the database shares the seller's quota
(implements services.ports.Pacer; the arithmetic is domain.pacing's).

Taking a token is one conditional UPDATE: the refill and the take happen in the statement, so two workers
never spend the same token (PostgreSQL re-checks the condition on the row it locked; SQLite has one writer).
A worker that finds the bucket empty reads it, sleeps until a token is due, and tries again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, case, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from mplink.adapters.store import tables as t
from mplink.domain import pacing
from mplink.domain.pacing import DEFAULT_BURST, DEFAULT_RATE, Bucket

rb = t.rate_buckets
#: the bucket BatchMeterUsage calls take from
METERING_BUCKET = "BatchMeterUsage"


class SqlTokenBucket:
    def __init__(
        self,
        engine: Engine,
        name: str = METERING_BUCKET,
        rate: float = DEFAULT_RATE,
        burst: float = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be more than 0 calls a second")
        self.engine = engine
        self.name = name
        self.rate = rate
        self.burst = max(1.0, burst)
        self.clock = clock
        self.sleep = sleep
        self._ready = False
        self._lock = threading.Lock()

    def _ensure_row(self) -> None:
        if self._ready:
            return
        with self._lock:
            with self.engine.begin() as conn:
                if conn.execute(select(rb.c.name).where(rb.c.name == self.name)).first() is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(rb).values(name=self.name, tokens=self.burst, counted_at=self.clock()))
                    except IntegrityError:
                        pass  # another worker made it first
            self._ready = True

    def _try_take(self, now: float) -> bool:
        """The refill and the take of domain.pacing.take, as one statement: True when a token was taken."""
        elapsed = case((rb.c.counted_at < now, literal(now) - rb.c.counted_at), else_=0.0)
        refilled = rb.c.tokens + elapsed * self.rate
        available = case((refilled > self.burst, self.burst), else_=refilled)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(rb)
                .where(rb.c.name == self.name, available >= 1.0 - 1e-9)
                .values(tokens=available - 1.0, counted_at=case((rb.c.counted_at < now, now), else_=rb.c.counted_at))
            )
            return bool(taken.rowcount)

    def _bucket(self) -> Bucket:
        with self.engine.connect() as conn:
            row = conn.execute(select(rb.c.tokens, rb.c.counted_at).where(rb.c.name == self.name)).one()
        return Bucket(float(row.tokens), float(row.counted_at))

    def acquire(self) -> None:
        self._ensure_row()
        while True:
            now = self.clock()
            if self._try_take(now):
                return
            _, wait = pacing.take(self._bucket(), now, self.rate, self.burst)
            self.sleep(max(wait, 0.001))

    def throttled(self) -> None:
        self._ensure_row()
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(rb.c.tokens, rb.c.counted_at).where(rb.c.name == self.name).with_for_update()
            ).one()
            after = pacing.throttled(Bucket(float(row.tokens), float(row.counted_at)), now, self.rate, self.burst)
            conn.execute(update(rb).where(rb.c.name == self.name).values(tokens=after.tokens, counted_at=after.at))

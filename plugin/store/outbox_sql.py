"""The outbox worker's claims and holds, as methods of the SQL store's transaction: one ticket's
write-backs in order, held back while its platform asks us to wait, and a dead letter put back in
the queue by hand."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select, text, update
from sqlalchemy.engine import Connection

from .schema import outbox

UNFINISHED = ("pending", "sending")
SENDERS = 0x45534332        # the advisory-lock namespace of live outbox senders (tickets use ...31)
# A live sender holds its lock for life, so trying it fails; a dead one's is free (and held just for this commit).
_RELEASE_ORPHANS = text("UPDATE outbox SET status = 'pending' WHERE status = 'sending' AND claimed_by IS NOT NULL "
                        "AND pg_try_advisory_xact_lock(:namespace, claimed_by)")


class OutboxClaims:
    """Mixed into the SQL store's Transaction, which holds `conn`."""
    conn: Connection

    def claim_in_ticket_order(self, now: datetime, sender: int | None = None) -> dict | None:
        """Take the next due row whose ticket has no older row still unfinished; rows other workers are
        taking are skipped, never waited for. So a ticket's writes land one at a time in the order they
        were decided: a retried assignment never overwrites a later one."""
        older = outbox.alias("older")
        waits_behind = exists().where(older.c.platform == outbox.c.platform, older.c.key == outbox.c.key,
                                      older.c.id < outbox.c.id, older.c.status.in_(UNFINISHED))
        due = (select(outbox.c.id).where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now, ~waits_behind)
               .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(1)
               .with_for_update(skip_locked=True).scalar_subquery())
        row = self.conn.execute(update(outbox).where(outbox.c.id == due, outbox.c.status == "pending")
                                .values(status="sending", attempts=outbox.c.attempts + 1, next_attempt_at=now,
                                        claimed_by=sender)
                                .returning(*outbox.c)).mappings().first()
        return dict(row) if row is not None else None

    def release_orphans(self) -> int:
        """PostgreSQL: rows whose sender has died (its advisory lock is free) go back to `pending` at once,
        instead of after the sweep's wait, which also holds up each such ticket's later rows."""
        if self.conn.dialect.name != "postgresql":
            return 0
        return self.conn.execute(_RELEASE_ORPHANS, {"namespace": SENDERS}).rowcount

    def hold(self, platform: str, until: datetime, key: str | None = None) -> int:
        """Pending rows of `platform` (of one ticket, with `key`) wait until `until`; the number moved."""
        query = update(outbox).where(outbox.c.platform == platform, outbox.c.status == "pending",
                                     outbox.c.next_attempt_at < until)
        if key is not None:
            query = query.where(outbox.c.key == key)
        return self.conn.execute(query.values(next_attempt_at=until)).rowcount

    def requeue_dead(self, outbox_id: int, now: datetime) -> bool:
        """A dead letter back to pending with a fresh count of attempts; False if the row is not dead."""
        requeued = update(outbox).where(outbox.c.id == outbox_id, outbox.c.status == "dead").values(
            status="pending", attempts=0, next_attempt_at=now, finished_at=None)
        return bool(self.conn.execute(requeued).rowcount)

    def outbox_status(self, outbox_id: int) -> str | None:
        """The row's status; None if there is no such row."""
        return self.conn.execute(select(outbox.c.status).where(outbox.c.id == outbox_id)).scalar()

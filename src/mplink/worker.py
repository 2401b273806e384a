"""``mplink worker``: event intake from SQS, retries of failed events, entitlement refreshes and hourly
metering. Several workers may run at once: the inbox's unique event ids and the database constraints
keep their work from doubling."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from mplink.aws_session import new_session
from mplink.domain.errors import InvalidEvent
from mplink.services.events import envelope_from_eventbridge, envelope_from_sns, receive_event, replay_failed
from mplink.services.metering import catch_up, send_metering
from mplink.services.metering_send import worker_name
from mplink.services.ports import SellerMarketplace, UnitOfWorkFactory
from mplink.services.subscriptions import refresh_entitlements

log = structlog.get_logger("mplink.worker")


def sqs_client(queue_url: str) -> Any:
    """SQS at AWS, or at the queue URL's own host for a local queue (moto's server in tests)."""
    parts = urlsplit(queue_url)
    host = parts.hostname or ""
    if host.endswith("amazonaws.com"):
        region = host.split(".")[1] if host.startswith("sqs.") else "us-east-1"
        return new_session().client("sqs", region_name=region)
    return new_session().client("sqs", region_name="us-east-1", endpoint_url=f"{parts.scheme}://{parts.netloc}")


@dataclass
class Worker:
    uow_factory: UnitOfWorkFactory
    marketplace: SellerMarketplace
    queue_url: str | None = None
    replay_every: float = 30.0
    meter: bool = True
    _sqs: Any = None
    _last_replay: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)
    #: who holds this worker's claims on pending metering records
    worker_id: str = field(default_factory=worker_name)
    #: set on SIGTERM: the metering batch in flight is finished and recorded, no new one is started
    stopping: threading.Event = field(default_factory=threading.Event)

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def poll_queue(self, wait_seconds: int = 1) -> int:
        """Take up to 10 messages; each is stored in the inbox before it is deleted from the queue."""
        if not self.queue_url:
            return 0
        if self._sqs is None:
            self._sqs = sqs_client(self.queue_url)
        out = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        handled = 0
        for message in out.get("Messages", []):
            try:
                body = json.loads(message["Body"])
                # SNS delivered through SQS (raw delivery off) wraps the message; the queue policy authenticates
                envelope = (
                    envelope_from_sns(body) if body.get("Type") == "Notification" else envelope_from_eventbridge(body)
                )
            except (json.JSONDecodeError, InvalidEvent, AttributeError) as exc:
                # left in the queue: after its retries the queue's redrive policy moves it to a dead-letter queue
                log.warning("unreadable message left in the queue", message_id=message.get("MessageId"), error=str(exc))
                self._count("unreadable")
                continue
            receipt = receive_event(self.uow_factory, envelope, self.marketplace)
            self._count(f"events_{receipt.status}")
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
        return handled

    def retry_failed(self) -> int:
        now = time.monotonic()
        if now - self._last_replay < self.replay_every:
            return 0
        self._last_replay = now
        receipts = replay_failed(self.uow_factory, limit=200, marketplace=self.marketplace)
        self._count("replayed", len(receipts))
        return len(receipts)

    def metering_round(self, now: datetime | None = None) -> dict[str, int]:
        """Meter every finished hour not metered yet (the point is kept in the database, so a restart or an
        outage loses no hour AWS still takes; one it no longer takes is reported), then send what is pending."""
        hours = catch_up(self.uow_factory, now)
        sent = send_metering(self.uow_factory, self.marketplace, stop=self.stopping.is_set, worker_id=self.worker_id)
        self._count("records_written", hours.written)
        self._count("hours_metered", hours.hours_metered)
        self._count("hours_missed", len(hours.missed))
        for k, v in sent.items():
            self._count(f"records_{k}", v)
        return {
            "written": hours.written,
            "hours_metered": hours.hours_metered,
            "hours_missed": len(hours.missed),
            **sent,
        }

    def run_once(self) -> dict[str, int]:
        self.poll_queue(wait_seconds=1 if self.queue_url else 0)
        self.retry_failed()
        self._count("entitlements_refreshed", refresh_entitlements(self.uow_factory, self.marketplace))
        if self.meter:
            self.metering_round()
        return dict(self.stats)

    def run_forever(self, stop: threading.Event, interval: float = 2.0) -> None:
        log.info("worker started", queue=self.queue_url or "none")
        self.stopping = stop
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # keep running: the next round retries; the log says what failed
                log.error("worker round failed", error=f"{type(exc).__name__}: {exc}")
            stop.wait(interval if not self.queue_url else 0.1)
        log.info("worker stopped", **self.stats)

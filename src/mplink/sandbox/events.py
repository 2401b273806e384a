"""Deliver the sandbox's EventBridge events to the seller: an HTTP endpoint (an API destination, with
the secret header) and/or an SQS queue (an EventBridge rule target), at least once, retrying failures."""

from __future__ import annotations

import hmac
import json
import queue
import random
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from mplink.aws_session import new_session
from mplink.sandbox.event_shapes import aws_time
from mplink.sandbox.marketplace import Marketplace

SECRET_HEADER = "X-Mplink-Secret"
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


def _iso(value: Any) -> Any:
    """A time left in a detail is printed the way AWS prints event times (whole seconds, ``Z``)."""
    if isinstance(value, datetime):
        return aws_time(value)
    raise TypeError(type(value).__name__)


EVENT_SOURCE = "aws.agreement-marketplace"
#: AWS Marketplace sends its events to the default bus of us-east-1
EVENT_REGION = "us-east-1"


def envelope(detail_type: str, detail: dict[str, Any], resources: list[str], market: Marketplace) -> dict[str, Any]:
    """An EventBridge event as AWS Marketplace sends it to the seller's account."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": EVENT_SOURCE,
        "account": market.catalog.seller_account_id,
        "time": aws_time(market.now()),
        "region": EVENT_REGION,
        "resources": list(resources),
        "detail": detail,
    }


class EventDispatcher:
    def __init__(
        self,
        market: Marketplace,
        endpoint: str | None = None,
        secret: str | None = None,
        queue_url: str | None = None,
    ) -> None:
        self.market = market
        self.endpoint = endpoint
        self.secret = secret
        self.queue_url = queue_url
        self._initial_destinations = (endpoint, secret, queue_url)
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)
        #: (epoch, entry); reset() ends the epoch (sets its event): its entries are dropped, its retries stop
        self._queue: queue.Queue[tuple[threading.Event, dict[str, Any]] | None] = queue.Queue()
        self._epoch = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-events", daemon=True)
        self._sqs: Any = None
        #: one connection pool for every delivery (used by the delivery thread only)
        self._http = httpx.Client(timeout=10)
        self._rng = random.Random()
        market.on_event(self.publish)

    def set_destinations(self, endpoint: str | None, secret: str | None, queue_url: str | None) -> None:
        """Send the events from now on to this HTTP endpoint (with this secret) and/or this SQS queue."""
        with self.market.lock:
            self.endpoint, self.secret, self.queue_url = endpoint, secret, queue_url
            self._sqs = None

    def reset(self) -> None:
        """Forget every event: the log, what waits for delivery and what is being retried; deliver again to
        the destinations the sandbox was started with."""
        with self.market.lock:
            self._epoch.set()
            self._epoch = threading.Event()
            self.log.clear()
            _drain(self._queue)
            self._rng = random.Random()
            self.set_destinations(*self._initial_destinations)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._http.close()

    def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        """Called by the marketplace under its lock: wrap the detail in EventBridge's envelope (every key of
        AWS's examples, in their order: the seller's account, us-east-1, whole-second time) and queue it."""
        event = json.loads(json.dumps(envelope(detail_type, detail, resources, self.market), default=_iso))
        entry = {"event": event, "delivered_to": [], "attempts": 0, "error": None}
        self.log.append(entry)
        self._queue.put((self._epoch, entry))
        if self._chance(self.market.faults.duplicate_event_pct):
            self._queue.put((self._epoch, entry))  # at least once: the same event (same id) again

    def _chance(self, pct: float) -> bool:
        return pct > 0 and self._rng.random() * 100 < pct

    def pending(self) -> int:
        """Events queued or being delivered right now."""
        return self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            batch = [item]
            if self.market.faults.shuffle_events:
                time.sleep(0.3)  # gather what else arrives, then deliver in a random order
                while not self._queue.empty():
                    more = self._queue.get()
                    if more is None:
                        self._queue.task_done()
                        self._queue.put(None)
                        break
                    batch.append(more)
                self._rng.shuffle(batch)
            for epoch, entry in batch:
                if not epoch.is_set():
                    self._deliver(entry, epoch)
                self._queue.task_done()

    def _deliver(self, entry: dict[str, Any], epoch: threading.Event) -> None:
        body = json.dumps(entry["event"])
        targets = [
            (name, send)
            for name, send, url in (("http", self._send_http, self.endpoint), ("sqs", self._send_sqs, self.queue_url))
            if url
        ]
        errors: list[str] = []
        for target, send in targets:
            for delay in (0.0, *RETRY_DELAYS):
                if epoch.wait(delay):
                    return  # the sandbox was reset meanwhile: this event is forgotten
                entry["attempts"] += 1
                try:
                    send(body)
                    entry["delivered_to"].append(target)
                    break
                except PermanentError as exc:
                    errors.append(f"{target}: {exc}")
                    break
                except Exception as exc:  # keep trying; the log shows the error if all tries fail
                    if delay == RETRY_DELAYS[-1]:
                        errors.append(f"{target}: {type(exc).__name__}: {exc}")
        entry["error"] = "; ".join(errors) or None

    def _send_http(self, body: str) -> None:
        assert self.endpoint
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        response = self._http.post(self.endpoint, content=body, headers=headers)
        if response.status_code >= 500 or response.status_code == 429:
            raise RuntimeError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            # a 4xx will not get better by retrying (wrong secret, rejected event): record it
            raise PermanentError(f"HTTP {response.status_code}: {response.text[:200]}")

    def _send_sqs(self, body: str) -> None:
        assert self.queue_url
        if self._sqs is None:
            parts = urlsplit(self.queue_url)
            host = parts.hostname or ""
            region = host.split(".")[1] if host.startswith("sqs.") else "us-east-1"
            session = new_session()
            creds = session.get_credentials()
            kwargs: dict[str, Any] = {"region_name": region}
            if not host.endswith("amazonaws.com"):
                kwargs["endpoint_url"] = f"{parts.scheme}://{parts.netloc}"
            if creds is None:
                kwargs.update(aws_access_key_id="AKIA000000000000", aws_secret_access_key="sandbox")
            self._sqs = session.client("sqs", **kwargs)
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)


class PermanentError(RuntimeError):
    pass


def _drain(q: queue.Queue[Any]) -> None:
    """Take out everything waiting in ``q`` (marking it done), but keep a stop request (None) in it."""
    stop = False
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break
        q.task_done()
        stop = stop or item is None
    if stop:
        q.put(None)


class SnsPublisher:
    """Legacy products: signed SNS notifications POSTed to the seller's SNS endpoint, as SNS delivers them
    over HTTP. Timestamps are real time (a seller checks them against its own clock)."""

    def __init__(self, market: Marketplace, endpoint: str, base_url: str | None = None) -> None:
        from mplink.sandbox.sns import SnsSigner

        self.market = market
        self.endpoint = endpoint
        self.base_url = base_url
        self._signer: SnsSigner | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._queue: queue.Queue[tuple[threading.Event, dict[str, Any]] | None] = queue.Queue()
        self._epoch = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-sns", daemon=True)
        self._http = httpx.Client(timeout=10)
        market.on_legacy(self.publish)

    def reset(self) -> None:
        """Forget every notification: the log, what waits for delivery and what is being retried."""
        with self.market.lock:
            self._epoch.set()
            self._epoch = threading.Event()
            self.log.clear()
            _drain(self._queue)

    def signer(self) -> Any:
        from mplink.sandbox.sns import SnsSigner

        if self._signer is None:
            if not self.base_url:
                raise RuntimeError("the sandbox's public URL is not known yet")
            self._signer = SnsSigner(f"{self.base_url.rstrip('/')}/_sandbox/sns/cert.pem")
        return self._signer

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._http.close()

    def pending(self) -> int:
        return self._queue.unfinished_tasks

    def publish(self, action: str, product_code: str, customer_identifier: str, offer_id: str) -> None:
        from mplink.sandbox.sns import MARKETPLACE_SNS_ACCOUNT, marketplace_message, notification, topic_arn

        if action == "entitlement-updated":
            topic = f"arn:aws:sns:us-east-1:{MARKETPLACE_SNS_ACCOUNT}:aws-mp-entitlement-notification-{product_code}"
            body = marketplace_message(action, customer_identifier, product_code)
        else:
            topic = topic_arn(product_code)
            body = marketplace_message(
                action, customer_identifier, product_code, offer_identifier=offer_id, free_trial=False
            )
        envelope = notification(
            topic,
            body,
            timestamp=datetime.now(UTC),
            unsubscribe_url=f"{(self.base_url or '').rstrip('/')}/_sandbox/sns/unsubscribe",
        )
        entry: dict[str, Any] = {"envelope": envelope, "status": None, "error": None}
        self.log.append(entry)
        self._queue.put((self._epoch, entry))

    def _run(self) -> None:
        from mplink.sandbox.sns import delivery_headers

        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            epoch, entry = item
            try:
                signed = self.signer().sign(entry["envelope"])
                entry["envelope"] = signed
                for delay in (0.0, *RETRY_DELAYS[:4]):
                    if epoch.wait(delay):
                        break  # the sandbox was reset meanwhile: this notification is forgotten
                    try:
                        r = self._http.post(self.endpoint, content=json.dumps(signed), headers=delivery_headers(signed))
                        entry["status"] = r.status_code
                        if r.status_code < 500:
                            break
                    except httpx.HTTPError as exc:
                        entry["error"] = str(exc)
            except Exception as exc:  # recorded in the log for /_sandbox/sns/log
                entry["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                self._queue.task_done()

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


def envelope(
    detail_type: str, detail: dict[str, Any], resources: list[str], account: str, at: datetime
) -> dict[str, Any]:
    """An EventBridge event as AWS Marketplace sends it to ``account`` (the seller's) at ``at``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": EVENT_SOURCE,
        "account": account,
        "time": aws_time(at),
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
        event = envelope(detail_type, detail, resources, self.market.catalog.seller_account_id, self.market.now())
        event = json.loads(json.dumps(event, default=_iso))
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


@dataclass
class SnsSubscription:
    """The seller's endpoint subscribed to one topic. SNS delivers nothing to it while it is
    PendingConfirmation: the endpoint must GET the SubscribeURL of the SubscriptionConfirmation first."""

    topic_arn: str
    subscription_arn: str
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    status: str = "PendingConfirmation"  # Confirmed, Unsubscribed
    attempts: int = 0
    last_answer: int | None = None
    error: str | None = None
    confirmed: threading.Event = field(default_factory=threading.Event)
    #: set once the handshake is over, confirmed or not: notifications of the topic wait for it
    settled: threading.Event = field(default_factory=threading.Event)

    def view(self) -> dict[str, Any]:
        return {
            "topic_arn": self.topic_arn,
            "subscription_arn": self.subscription_arn,
            "status": self.status,
            "confirmation_attempts": self.attempts,
            "last_answer": self.last_answer,
            "error": self.error,
        }


class SnsRefused(Exception):
    """A request to the sandbox's SNS (a SubscribeURL or UnsubscribeURL) that SNS would refuse."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SnsPublisher:
    """Legacy products: signed SNS messages POSTed to the seller's SNS endpoint, as SNS delivers them over
    HTTP. Timestamps are real time (a seller checks them against its own clock).

    The endpoint is subscribed to each legacy product's two topics (subscription and entitlement). As SNS
    does, each subscription starts with a SubscriptionConfirmation, sent (on a thread of its own) once the
    sandbox answers at its own URL and retried while the endpoint fails (5xx, 429, no answer); a topic's
    notifications are delivered only once the endpoint has GET its SubscribeURL. They wait for a handshake
    in progress; a topic left unconfirmed gets none (each is logged with the reason). A reset forgets the
    notifications but keeps confirmed subscriptions (the endpoint did not change) and starts again the
    handshakes that gave up."""

    #: SubscriptionConfirmation retries while the endpoint fails (no answer, 5xx, 429); a 4xx is its refusal
    CONFIRM_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
    #: how long to wait for the SubscribeURL GET after the endpoint took the SubscriptionConfirmation
    CONFIRM_WAIT = 2.0

    def __init__(self, market: Marketplace, endpoint: str, base_url: str | None = None) -> None:
        from mplink.sandbox.sns import SnsSigner, entitlement_topic_arn, topic_arn

        self.market = market
        self.endpoint = endpoint
        self._signer: SnsSigner | None = None
        self._base_known = threading.Event()
        self._base_url: str | None = None
        self.base_url = base_url
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.subscriptions: dict[str, SnsSubscription] = {
            topic: SnsSubscription(topic, f"{topic}:{uuid.uuid4()}")
            for p in market.catalog.products
            if p.legacy
            for topic in (topic_arn(p.product_code), entitlement_topic_arn(p.product_code))
        }
        self._queue: queue.Queue[tuple[threading.Event, dict[str, Any]] | None] = queue.Queue()
        self._confirmations: queue.Queue[SnsSubscription | None] = queue.Queue()
        self._epoch = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-sns", daemon=True)
        self._handshake_thread = threading.Thread(
            target=self._run_handshakes, name="sandbox-sns-subscribe", daemon=True
        )
        self._http = httpx.Client(timeout=10)
        market.on_legacy(self.publish)

    @property
    def base_url(self) -> str | None:
        """Where the sandbox is reachable: its certificate URL, SubscribeURLs and UnsubscribeURLs start with it."""
        return self._base_url

    @base_url.setter
    def base_url(self, url: str | None) -> None:
        self._base_url = url
        if url:
            self._base_known.set()

    def reset(self) -> None:
        """Forget every notification: the log, what waits for delivery and what is being retried."""
        with self.market.lock:
            self._epoch.set()
            self._epoch = threading.Event()
            self.log.clear()
            _drain(self._queue)
            for sub in self.subscriptions.values():
                if sub.status == "PendingConfirmation" and sub.settled.is_set():
                    sub.settled.clear()
                    self._confirmations.put(sub)

    def signer(self) -> Any:
        from mplink.sandbox.sns import SnsSigner

        if self._signer is None:
            if not self.base_url:
                raise RuntimeError("the sandbox's public URL is not known yet")
            self._signer = SnsSigner(f"{self.base_url.rstrip('/')}/_sandbox/sns/cert.pem")
        return self._signer

    def start(self) -> None:
        for sub in self.subscriptions.values():
            self._confirmations.put(sub)
        self._handshake_thread.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._confirmations.put(None)
        self._thread.join(timeout)
        self._handshake_thread.join(timeout)
        self._http.close()

    def pending(self) -> int:
        """Notifications queued or being delivered (or waiting for their topic's handshake)."""
        return self._queue.unfinished_tasks

    # -- what the SubscribeURL and UnsubscribeURL do (GET /_sandbox/sns/?Action=...) --------------------------
    def confirm(self, topic_arn: str, token: str) -> str:
        """ConfirmSubscription: the endpoint proved it reads the topic's SubscriptionConfirmation."""
        with self.market.lock:
            sub = self.subscriptions.get(topic_arn)
            if sub is None or not hmac.compare_digest(sub.token.encode(), token.encode()):
                raise SnsRefused("InvalidParameter", "Invalid token")
            sub.status, sub.error = "Confirmed", None
            sub.confirmed.set()
            return sub.subscription_arn

    def unsubscribe(self, subscription_arn: str) -> None:
        """Unsubscribe: nothing more is delivered; SNS tells the endpoint with an UnsubscribeConfirmation."""
        with self.market.lock:
            sub = next((s for s in self.subscriptions.values() if s.subscription_arn == subscription_arn), None)
            if sub is None:
                raise SnsRefused("NotFound", "Subscription does not exist")
            if sub.status == "Unsubscribed":
                return
            sub.status = "Unsubscribed"
            sub.confirmed.clear()
            sub.token = secrets.token_hex(32)
            self._queue.put((self._epoch, {"unsubscribed": sub.topic_arn}))

    def subscriptions_view(self) -> list[dict[str, Any]]:
        with self.market.lock:
            return [s.view() for s in self.subscriptions.values()]

    # -- publishing -----------------------------------------------------------------------------------------
    def publish(self, action: str, product_code: str, customer_identifier: str, offer_id: str) -> None:
        from mplink.sandbox.sns import (
            OFFER_ACTIONS,
            entitlement_topic_arn,
            marketplace_message,
            notification,
            topic_arn,
        )

        if action == "entitlement-updated":
            topic = entitlement_topic_arn(product_code)
            body = marketplace_message(action, customer_identifier, product_code)
        else:
            topic = topic_arn(product_code)
            body = marketplace_message(
                action,
                customer_identifier,
                product_code,
                offer_identifier=offer_id if action in OFFER_ACTIONS else None,
                free_trial=False,
            )
        # the UnsubscribeURL (not signed) is set at delivery, when the sandbox's URL is surely known
        envelope = notification(topic, body, timestamp=datetime.now(UTC), unsubscribe_url="")
        entry: dict[str, Any] = {"envelope": envelope, "status": None, "error": None}
        self.log.append(entry)
        self._queue.put((self._epoch, entry))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            epoch, entry = item
            try:
                if "unsubscribed" in entry:
                    self._tell_unsubscribed(epoch, self.subscriptions[entry["unsubscribed"]])
                else:
                    self._deliver(epoch, entry)
            except Exception as exc:  # recorded in the log for /_sandbox/sns/log
                entry["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                self._queue.task_done()

    # -- the subscription handshake ---------------------------------------------------------------------------
    def _run_handshakes(self) -> None:
        while True:
            sub = self._confirmations.get()
            if sub is None:
                return
            try:
                self._handshake(sub)
            except Exception as exc:  # shown by /_sandbox/sns/subscriptions
                sub.error = f"{type(exc).__name__}: {exc}"
            finally:
                sub.settled.set()

    def _wait_until_served(self) -> bool:
        """The endpoint GETs the SubscribeURL at once: subscribe it only once the sandbox answers HTTP."""
        while not self._stopping.is_set():
            if self._base_known.is_set():
                try:
                    if self._http.get(f"{(self.base_url or '').rstrip('/')}/_sandbox/health").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
            self._stopping.wait(0.1)
        return False

    def _handshake(self, sub: SnsSubscription) -> None:
        from mplink.sandbox.sns import action_url, delivery_headers, subscription_confirmation

        if not self._wait_until_served():
            return
        assert self.base_url
        for delay in (0.0, *self.CONFIRM_RETRY_DELAYS):
            if sub.confirmed.is_set() or self._stopping.wait(delay):
                return
            url = action_url(self.base_url, "ConfirmSubscription", TopicArn=sub.topic_arn, Token=sub.token)
            message = self.signer().sign(subscription_confirmation(sub.topic_arn, url, sub.token, datetime.now(UTC)))
            sub.attempts += 1
            try:
                r = self._http.post(self.endpoint, content=json.dumps(message), headers=delivery_headers(message))
            except httpx.HTTPError as exc:
                sub.error = f"{type(exc).__name__}: {exc}"
                continue
            sub.last_answer = r.status_code
            if r.status_code < 500 and r.status_code != 429:
                # taken (it may confirm a moment later) or refused: either way SNS does not send it again
                if r.status_code < 300:
                    sub.confirmed.wait(self.CONFIRM_WAIT)
                if not sub.confirmed.is_set():
                    sub.error = f"HTTP {r.status_code}: the SubscribeURL was not visited"
                return
            sub.error = f"HTTP {r.status_code}"

    def _tell_unsubscribed(self, epoch: threading.Event, sub: SnsSubscription) -> None:
        from mplink.sandbox.sns import action_url, delivery_headers, unsubscribe_confirmation

        if epoch.is_set() or not self.base_url:
            return
        url = action_url(self.base_url, "ConfirmSubscription", TopicArn=sub.topic_arn, Token=sub.token)
        message = self.signer().sign(
            unsubscribe_confirmation(sub.topic_arn, sub.subscription_arn, url, sub.token, datetime.now(UTC))
        )
        try:
            self._http.post(
                self.endpoint, content=json.dumps(message), headers=delivery_headers(message, sub.subscription_arn)
            )
        except httpx.HTTPError as exc:
            sub.error = f"{type(exc).__name__}: {exc}"

    def _deliver(self, epoch: threading.Event, entry: dict[str, Any]) -> None:
        from mplink.sandbox.sns import action_url, delivery_headers

        topic = entry["envelope"]["TopicArn"]
        sub = self.subscriptions.get(topic)
        while sub is not None and not sub.settled.wait(0.1):  # a handshake in progress
            if epoch.is_set() or self._stopping.is_set():
                return
        if sub is None or sub.status != "Confirmed" or not self.base_url:
            status = sub.status if sub else "not subscribed"
            entry["error"] = f"not delivered: the endpoint's subscription to {topic} is {status}"
            return
        # (not part of the signed string) the URL may not have been known when the message was published
        unsubscribe = action_url(self.base_url, "Unsubscribe", SubscriptionArn=sub.subscription_arn)
        entry["envelope"]["UnsubscribeURL"] = unsubscribe
        signed = self.signer().sign(entry["envelope"])
        entry["envelope"] = signed
        for delay in (0.0, *RETRY_DELAYS[:4]):
            if epoch.wait(delay):
                break  # the sandbox was reset meanwhile: this notification is forgotten
            try:
                r = self._http.post(
                    self.endpoint, content=json.dumps(signed), headers=delivery_headers(signed, sub.subscription_arn)
                )
                entry["status"] = r.status_code
                if r.status_code < 500:
                    break
            except httpx.HTTPError as exc:
                entry["error"] = str(exc)


def sns_query(sns: SnsPublisher | None, params: dict[str, str]) -> tuple[int, str]:
    """Answer a GET of the sandbox's SNS (a SubscribeURL or an UnsubscribeURL): HTTP status and SNS's XML."""
    from mplink.sandbox.sns import confirm_subscription_response, error_response, unsubscribe_response

    request_id = str(uuid.uuid4())
    action = params.get("Action")
    try:
        if sns is None:
            raise SnsRefused("NotFound", "The sandbox sends no SNS messages: start it with --sns-endpoint")
        if action == "ConfirmSubscription":
            arn = sns.confirm(params.get("TopicArn", ""), params.get("Token", ""))
            return 200, confirm_subscription_response(arn, request_id)
        if action == "Unsubscribe":
            sns.unsubscribe(params.get("SubscriptionArn", ""))
            return 200, unsubscribe_response(request_id)
        raise SnsRefused("InvalidAction", f"The action {action or ''} is not valid for this endpoint")
    except SnsRefused as exc:
        return (404 if exc.code == "NotFound" else 400), error_response(exc.code, exc.message, request_id)

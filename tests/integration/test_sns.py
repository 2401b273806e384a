"""SNS messages are trusted only when signed by a certificate from an SNS host (or a prefix trusted
explicitly, like the sandbox's), for an allowed topic, recently; the sandbox signs messages that pass."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from mplink.adapters import sns as verifier_mod
from mplink.adapters.sns import SnsVerificationError, SnsVerifier, confirm_subscription
from mplink.sandbox import sns as sandbox_sns
from mplink.sandbox.sns import (
    OFFER_ACTIONS,
    SnsSigner,
    delivery_headers,
    marketplace_message,
    notification,
    sns_timestamp,
    subscription_confirmation,
    topic_arn,
    unsubscribe_confirmation,
)
from tests.support.documented_events import FIXTURES, load
from tests.support.servers import serve_app

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PRODUCT = "prodcode123"
TOPIC = topic_arn(PRODUCT)
ALLOWED = ["arn:aws:sns:us-east-1:*:aws-mp-subscription-notification-*"]
AWS_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem"
SANDBOX_PREFIX = "http://127.0.0.1:4566/_sandbox/sns/"


class Identity:
    """A test-owned key and certificate, to sign envelopes with any version and any SigningCertURL."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, envelope: dict[str, Any], cert_url: str = AWS_CERT_URL, version: str = "2") -> dict[str, Any]:
        signed = {**envelope, "SignatureVersion": version, "SigningCertURL": cert_url}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(sandbox_sns.string_to_sign(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode("ascii")
        return signed


@pytest.fixture(scope="module")
def ident() -> Identity:
    return Identity()


@pytest.fixture(scope="module")
def other() -> Identity:
    return Identity()


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner(SANDBOX_PREFIX + "cert.pem")


class Fetcher:
    """Serves PEMs by URL and counts calls, in place of HTTP."""

    def __init__(self, certs: dict[str, bytes], delay: float = 0.0) -> None:
        self.certs = certs
        self.delay = delay
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        time.sleep(self.delay)
        if url not in self.certs:
            raise OSError("404")
        return self.certs[url]


def make_verifier(fetch: Callable[[str], bytes], **kwargs: Any) -> SnsVerifier:
    kwargs.setdefault("allowed_topic_arns", ALLOWED)
    return SnsVerifier(fetch=fetch, clock=lambda: NOW, **kwargs)


def body() -> dict[str, Any]:
    return marketplace_message(
        "subscribe-success", "X01EXAMPLEX", PRODUCT, offer_identifier="offer-abc", free_trial=False
    )


def unsigned(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("timestamp", NOW - timedelta(minutes=1))
    return notification(TOPIC, body(), unsubscribe_url="https://example.invalid/unsubscribe", **kwargs)


def reason(verifier: SnsVerifier, message: dict[str, Any]) -> str:
    with pytest.raises(SnsVerificationError) as info:
        verifier.verify(message)
    return info.value.reason


# --- the canonical string ---------------------------------------------------------------------------

CONFIRMATION = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": "2336412f37",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.",
    "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37",
    "Timestamp": "2012-04-26T20:45:04.751Z",
    "SignatureVersion": "1",
    "Signature": "ignored",
    "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
}
NOTIFICATION = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    "Message": "Hello world!",
    "Timestamp": "2012-05-02T00:54:06.655Z",
    "SignatureVersion": "1",
    "Signature": "ignored",
    "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
    "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
}

CANONICAL_CASES = [
    (
        CONFIRMATION,
        "Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\n"
        "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
        "SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37\n"
        "Timestamp\n2012-04-26T20:45:04.751Z\n"
        "Token\n2336412f37\n"
        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        "Type\nSubscriptionConfirmation\n",
    ),
    (
        NOTIFICATION,
        "Message\nHello world!\n"
        "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        "Timestamp\n2012-05-02T00:54:06.655Z\n"
        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        "Type\nNotification\n",
    ),
    (
        {**NOTIFICATION, "Subject": "My First Message"},
        "Message\nHello world!\n"
        "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        "Subject\nMy First Message\n"
        "Timestamp\n2012-05-02T00:54:06.655Z\n"
        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        "Type\nNotification\n",
    ),
    (
        {**CONFIRMATION, "Type": "UnsubscribeConfirmation"},
        "Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\n"
        "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
        "SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37\n"
        "Timestamp\n2012-04-26T20:45:04.751Z\n"
        "Token\n2336412f37\n"
        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        "Type\nUnsubscribeConfirmation\n",
    ),
]


@pytest.mark.parametrize(
    ("message", "expected"), CANONICAL_CASES, ids=["confirmation", "no-subject", "subject", "unsub"]
)
def test_string_to_sign_matches_aws_on_both_sides(message: dict[str, Any], expected: str) -> None:
    assert verifier_mod.string_to_sign(message) == expected.encode()
    assert sandbox_sns.string_to_sign(message) == expected.encode()


# --- envelopes the sandbox builds -------------------------------------------------------------------


def test_envelopes_use_aws_names_and_formats(signer: SnsSigner) -> None:
    assert TOPIC == "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-prodcode123"
    assert sns_timestamp(datetime(2026, 11, 27, 9, 0, tzinfo=UTC)) == "2026-11-27T09:00:00.000Z"
    assert sns_timestamp(datetime(2026, 11, 27, 9, 0, 1, 987654, tzinfo=UTC)) == "2026-11-27T09:00:01.987Z"
    signed = signer.sign(unsigned(message_id="m-1"))
    assert set(signed) == {
        "Type",
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
    }
    assert signed["MessageId"] == "m-1"
    assert signed["SignatureVersion"] == "2"
    assert signed["SigningCertURL"] == SANDBOX_PREFIX + "cert.pem"
    assert json.loads(signed["Message"]) == {
        "action": "subscribe-success",
        "customer-identifier": "X01EXAMPLEX",
        "product-code": PRODUCT,
        "offer-identifier": "offer-abc",
        "isFreeTrialTermPresent": "false",
    }
    assert marketplace_message("entitlement-updated", "X01EXAMPLEX", PRODUCT) == {
        "action": "entitlement-updated",
        "customer-identifier": "X01EXAMPLEX",
        "product-code": PRODUCT,
    }
    confirmation = subscription_confirmation(TOPIC, "http://x/confirm", "tok", NOW)
    assert {"Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp"} == set(confirmation)
    assert delivery_headers(signed, f"{TOPIC}:sub-1") == {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": "m-1",
        "x-amz-sns-topic-arn": TOPIC,
        "x-amz-sns-subscription-arn": f"{TOPIC}:sub-1",
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    # SNS's subscription confirmation example has no subscription ARN header: there is no subscription yet
    assert "x-amz-sns-subscription-arn" not in delivery_headers(signer.sign(confirmation), f"{TOPIC}:sub-1")


# --- signatures -------------------------------------------------------------------------------------


def test_sandbox_signed_message_verifies(signer: SnsSigner) -> None:
    fetch = Fetcher({signer.cert_url: signer.cert_pem()})
    verifier = make_verifier(fetch, trusted_cert_url_prefixes=[SANDBOX_PREFIX])
    verifier.verify(signer.sign(unsigned()))
    verifier.verify(signer.sign(unsigned(subject="AWS Marketplace")))
    verifier.verify(signer.sign(subscription_confirmation(TOPIC, SANDBOX_PREFIX + "confirm?t=1", "t", NOW)))


def test_version_1_sha1_signature_verifies(ident: Identity) -> None:
    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    message = ident.sign(unsigned(), version="1")
    verifier.verify(message)
    # a SHA1 signature claimed as version 2 (or the reverse) does not verify
    assert reason(verifier, {**message, "SignatureVersion": "2"}) == "bad signature"
    assert reason(verifier, {**ident.sign(unsigned()), "SignatureVersion": "1"}) == "bad signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Message", json.dumps({**body(), "action": "unsubscribe-success"})),
        ("MessageId", "another-id"),
        ("TopicArn", topic_arn("otherproduct")),  # allowed by the wildcard, but not what was signed
        ("Timestamp", sns_timestamp(NOW - timedelta(minutes=2))),
        ("Subject", "added"),
        ("Type", "UnsubscribeConfirmation"),
    ],
)
def test_tampered_fields_fail(ident: Identity, field: str, value: str) -> None:
    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    message = ident.sign(unsigned())
    verifier.verify(message)
    tampered = {**message, field: value}
    if field == "Type":
        tampered.update(Token="t", SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=x")
    assert reason(verifier, tampered) == "bad signature"


def test_removing_the_subject_fails(ident: Identity) -> None:
    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    message = ident.sign(unsigned(subject="Hello"))
    verifier.verify(message)
    del message["Subject"]
    assert reason(verifier, message) == "bad signature"


def test_signature_from_another_key_fails(ident: Identity, other: Identity) -> None:
    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    assert reason(verifier, other.sign(unsigned())) == "bad signature"


def test_malformed_signature_fails(ident: Identity) -> None:
    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    assert reason(verifier, {**ident.sign(unsigned()), "Signature": "not base64!"}) == "bad signature"
    assert reason(verifier, {**ident.sign(unsigned()), "Signature": ""}) == "bad signature"


# --- envelope checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"],
)
def test_missing_fields_fail(ident: Identity, field: str) -> None:
    fetch = Fetcher({AWS_CERT_URL: ident.pem})
    message = ident.sign(unsigned())
    del message[field]
    assert reason(make_verifier(fetch), message) == f"missing field {field}"
    assert fetch.calls == []


@pytest.mark.parametrize("field", ["Token", "SubscribeURL"])
def test_confirmation_without_token_or_url_fails(ident: Identity, field: str) -> None:
    message = ident.sign(subscription_confirmation(TOPIC, "https://sns.us-east-1.amazonaws.com/?a=b", "t", NOW))
    del message[field]
    assert reason(make_verifier(Fetcher({})), message) == f"missing field {field}"


def test_unknown_type_and_version_fail(ident: Identity) -> None:
    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    assert reason(verifier, {**ident.sign(unsigned()), "Type": "Surprise"}) == "unknown message type"
    assert reason(verifier, {**ident.sign(unsigned()), "SignatureVersion": "3"}) == "unsupported signature version"
    assert reason(verifier, {**ident.sign(unsigned()), "MessageId": 7}) == "missing field MessageId"


def test_disallowed_topic_fails(ident: Identity) -> None:
    fetch = Fetcher({AWS_CERT_URL: ident.pem})
    exact = make_verifier(fetch, allowed_topic_arns=[topic_arn("otherproduct")])
    assert reason(exact, ident.sign(unsigned())) == "topic not allowed"
    make_verifier(fetch, allowed_topic_arns=[TOPIC]).verify(ident.sign(unsigned()))
    wildcard = make_verifier(fetch)
    other_topic = ident.sign(
        notification("arn:aws:sns:us-east-1:123:something-else", body(), timestamp=NOW, unsubscribe_url="u")
    )
    assert reason(wildcard, other_topic) == "topic not allowed"
    assert reason(make_verifier(fetch, allowed_topic_arns=[]), ident.sign(unsigned())) == "topic not allowed"


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-abc.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt",
        "https://sns.us-east-1.amazonaws.com/cert.pem?x=1",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
        "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.ab.amazonaws.com/SimpleNotificationService-abc.pem",
        "ftp://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    ],
)
def test_cert_url_rules(ident: Identity, url: str) -> None:
    fetch = Fetcher({url: ident.pem})
    message = ident.sign(unsigned(), cert_url=url)
    assert reason(make_verifier(fetch), message) == "signing certificate URL not allowed"
    assert fetch.calls == []
    # the same URL is fine once the operator trusts its prefix explicitly
    make_verifier(fetch, trusted_cert_url_prefixes=[url[: url.rindex("/") + 1]]).verify(message)
    assert fetch.calls == [url]


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
    ],
)
def test_sns_cert_urls_are_accepted(ident: Identity, url: str) -> None:
    make_verifier(Fetcher({url: ident.pem})).verify(ident.sign(unsigned(), cert_url=url))


def test_old_and_future_timestamps_fail(ident: Identity) -> None:
    fetch = Fetcher({AWS_CERT_URL: ident.pem})
    verifier = make_verifier(fetch)
    assert reason(verifier, ident.sign(unsigned(timestamp=NOW - timedelta(hours=1, seconds=1)))) == "message too old"
    assert reason(verifier, ident.sign(unsigned(timestamp=NOW + timedelta(minutes=6)))) == "timestamp in the future"
    verifier.verify(ident.sign(unsigned(timestamp=NOW - timedelta(minutes=59))))
    verifier.verify(ident.sign(unsigned(timestamp=NOW + timedelta(minutes=4))))
    strict = make_verifier(fetch, max_age=timedelta(minutes=5))
    assert reason(strict, ident.sign(unsigned(timestamp=NOW - timedelta(minutes=6)))) == "message too old"
    assert reason(verifier, {**ident.sign(unsigned()), "Timestamp": "yesterday"}) == "bad timestamp"
    assert reason(verifier, {**ident.sign(unsigned()), "Timestamp": "2026-11-27T09:00:00"}) == "bad timestamp"


# --- certificates -----------------------------------------------------------------------------------


def test_certificate_is_fetched_once_per_url(ident: Identity) -> None:
    second = AWS_CERT_URL.replace("abc123", "def456")
    fetch = Fetcher({AWS_CERT_URL: ident.pem, second: ident.pem})
    verifier = make_verifier(fetch)
    for _ in range(3):
        verifier.verify(ident.sign(unsigned()))
        verifier.verify(ident.sign(unsigned(), cert_url=second))
    assert fetch.calls == [AWS_CERT_URL, second]


def test_concurrent_first_messages_fetch_once(ident: Identity) -> None:
    fetch = Fetcher({AWS_CERT_URL: ident.pem}, delay=0.1)
    verifier = make_verifier(fetch)
    message = ident.sign(unsigned())
    errors: list[Exception] = []

    def run() -> None:
        try:
            verifier.verify(message)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fetch.calls == [AWS_CERT_URL]


def test_fetch_failures_are_reported_and_not_cached(ident: Identity) -> None:
    fetch = Fetcher({})
    verifier = make_verifier(fetch)
    message = ident.sign(unsigned())
    assert reason(verifier, message) == "certificate fetch failed"
    fetch.certs[AWS_CERT_URL] = b"not a certificate"
    assert reason(verifier, message) == "invalid signing certificate"
    fetch.certs[AWS_CERT_URL] = ident.pem
    verifier.verify(message)
    assert fetch.calls == [AWS_CERT_URL] * 3


# --- over real HTTP ---------------------------------------------------------------------------------


def sandbox_sns_app(signer_for: Callable[[], SnsSigner], confirmed: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/_sandbox/sns/cert.pem")
    def cert() -> Response:
        return Response(signer_for().cert_pem(), media_type="application/x-pem-file")

    @app.get("/_sandbox/sns/moved.pem")
    def moved() -> RedirectResponse:
        return RedirectResponse("/_sandbox/sns/cert.pem")

    @app.get("/_sandbox/sns/confirm")
    def confirm(request: Request) -> Response:
        confirmed.append(request.query_params["Token"])
        return Response("<ConfirmSubscriptionResponse/>", media_type="text/xml")

    return app


def test_default_fetch_over_http_with_a_trusted_prefix(ident: Identity) -> None:
    holder: list[SnsSigner] = []
    confirmed: list[str] = []
    with serve_app(sandbox_sns_app(lambda: holder[0], confirmed)) as base:
        prefix = f"{base}/_sandbox/sns/"
        signer = SnsSigner(prefix + "cert.pem")
        holder.append(signer)
        now = datetime.now(UTC)
        verifier = SnsVerifier(ALLOWED, trusted_cert_url_prefixes=[prefix])
        verifier.verify(signer.sign(notification(TOPIC, body(), timestamp=now, unsubscribe_url=prefix + "unsub")))

        # the same message is refused without the trusted prefix (http, and not an SNS host)
        untrusted = SnsVerifier(ALLOWED)
        message = signer.sign(notification(TOPIC, body(), timestamp=now, unsubscribe_url=prefix + "unsub"))
        with pytest.raises(SnsVerificationError, match="signing certificate URL not allowed"):
            untrusted.verify(message)

        # redirects are not followed, and a missing certificate is a fetch failure
        for path in ("moved.pem", "missing.pem"):
            elsewhere = ident.sign(notification(TOPIC, body(), timestamp=now, unsubscribe_url="u"), prefix + path)
            with pytest.raises(SnsVerificationError, match="certificate fetch failed"):
                verifier.verify(elsewhere)

        # a subscription confirmation is verified, then its SubscribeURL fetched
        confirmation = signer.sign(subscription_confirmation(TOPIC, prefix + "confirm?Token=tok-1", "tok-1", now))
        assert verifier.confirm_subscription(confirmation) == prefix + "confirm?Token=tok-1"
        assert confirmed == ["tok-1"]


def test_confirm_subscription_only_follows_sns_urls(ident: Identity) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return b""

    verifier = make_verifier(Fetcher({AWS_CERT_URL: ident.pem}))
    aws_url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"
    message = ident.sign(subscription_confirmation(TOPIC, aws_url, "t", NOW - timedelta(minutes=1)))
    assert verifier.confirm_subscription(message, fetch=fetch) == aws_url
    assert fetched == [aws_url]

    evil = ident.sign(subscription_confirmation(TOPIC, "https://evil.com/?Token=t", "t", NOW - timedelta(minutes=1)))
    with pytest.raises(SnsVerificationError, match="subscribe URL not allowed"):
        verifier.confirm_subscription(evil, fetch=fetch)
    with pytest.raises(SnsVerificationError, match="not a subscription confirmation"):
        verifier.confirm_subscription(ident.sign(unsigned()), fetch=fetch)
    with pytest.raises(SnsVerificationError, match="bad signature"):
        verifier.confirm_subscription({**message, "Token": "other"}, fetch=fetch)

    def failing(url: str) -> bytes:
        raise OSError("down")

    with pytest.raises(SnsVerificationError, match="subscription confirmation failed"):
        verifier.confirm_subscription(message, fetch=failing)
    assert fetched == [aws_url]


def test_module_level_confirm_subscription_checks_type_and_url() -> None:
    """The web endpoint verifies first, then calls this; it still refuses non-SNS URLs on its own."""
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return b""

    aws_url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    sandbox_url = SANDBOX_PREFIX + "confirm?Token=t"
    assert confirm_subscription(subscription_confirmation(TOPIC, aws_url, "t", NOW), fetch=fetch) == aws_url
    local = subscription_confirmation(TOPIC, sandbox_url, "t", NOW)
    with pytest.raises(SnsVerificationError, match="subscribe URL not allowed"):
        confirm_subscription(local, fetch=fetch)
    assert confirm_subscription(local, trusted_cert_url_prefixes=[SANDBOX_PREFIX], fetch=fetch) == sandbox_url
    assert fetched == [aws_url, sandbox_url]


# --- the sandbox's envelopes against SNS's documented examples ---------------------------------------------


def documented_headers(name: str) -> list[str]:
    """The header names of one of SNS's HTTP examples (tests/fixtures/aws/events/*.http), minus what any HTTP
    client adds itself (Host, Content-Length, Connection)."""
    head = (FIXTURES / name).read_text().split("\n\n", 1)[0].splitlines()[1:]
    names = [line.split(":", 1)[0] for line in head]
    return [n for n in names if n not in ("Host", "Content-Length", "Connection")]


def test_sandbox_envelopes_have_the_documented_keys_and_headers(signer: SnsSigner) -> None:
    """SNS developer guide, "HTTP/HTTPS subscription confirmation / notification / unsubscribe confirmation JSON
    format": the same keys in the same order (a Notification's Subject only when there is one) and headers."""
    note = signer.sign(unsigned())
    assert list(note) == [k for k in load("sns-notification.json") if k != "Subject"]
    assert list(signer.sign(unsigned(subject="s"))) == list(load("sns-notification.json"))
    confirm = signer.sign(subscription_confirmation(TOPIC, SANDBOX_PREFIX + "?Action=x", "t", NOW))
    assert list(confirm) == list(load("sns-subscription-confirmation.json"))
    gone = signer.sign(unsubscribe_confirmation(TOPIC, f"{TOPIC}:s-1", SANDBOX_PREFIX + "?Action=x", "t", NOW))
    assert list(gone) == list(load("sns-unsubscribe-confirmation.json"))
    sub = f"{TOPIC}:s-1"
    for envelope, name in ((note, "sns-notification.http"), (confirm, "sns-subscription-confirmation.http")):
        assert sorted(delivery_headers(envelope, sub), key=str.lower) == sorted(documented_headers(name), key=str.lower)
    assert delivery_headers(note, sub)["Content-Type"] == "text/plain; charset=UTF-8"


def test_sandbox_marketplace_messages_have_the_documented_keys() -> None:
    """SaaS SNS page: offer-identifier only on subscribe-success and subscribe-fail; the entitlement message
    names only the action, customer and product."""
    for action in ("subscribe-success", "subscribe-fail", "unsubscribe-pending", "unsubscribe-success"):
        built = marketplace_message(
            action, "X01EXAMPLEX", PRODUCT, offer_identifier="o" if action in OFFER_ACTIONS else None, free_trial=True
        )
        assert list(built) == list(load(f"sns-{action}.json")), action
    assert list(marketplace_message("entitlement-updated", "X01EXAMPLEX", PRODUCT)) == list(
        load("sns-entitlement-updated.json")
    )

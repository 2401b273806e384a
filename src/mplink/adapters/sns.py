"""Authenticate Amazon SNS messages before acting on them.

Legacy AWS Marketplace products tell the seller about subscriptions through SNS over HTTP(S), so anyone
who can reach the endpoint could forge one; only the signature proves SNS sent it. The checks follow
AWS's guidance: a known topic, a signing certificate fetched from an SNS host over https (cached), a
recent timestamp (to limit replays) and an RSA PKCS#1 v1.5 signature (SHA1 for version "1", SHA256
for "2") over the message's canonical string.

Usage::

    verifier = SnsVerifier(["arn:aws:sns:us-east-1:*:aws-mp-subscription-notification-*"], prefixes)
    message = json.loads(body)          # the POSTed body, whatever its Content-Type
    verifier.verify(message)            # raises SnsVerificationError
    if message["Type"] == "SubscriptionConfirmation":
        confirm_subscription(message, trusted_cert_url_prefixes=prefixes)
    elif message["Type"] == "Notification":
        payload = json.loads(message["Message"])

A local sandbox serves its certificate over plain http; pass its URL prefix (ending in ``/``, e.g.
``http://127.0.0.1:4566/_sandbox/sns/``) in ``trusted_cert_url_prefixes`` to accept it. The same prefix
also admits its SubscribeURLs.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

#: hosts SNS signs from (AWS's documented pattern); anything else could serve an attacker's certificate
SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
#: how far a Timestamp may be ahead of our clock (clock skew), before we call it forged
MAX_FUTURE_SKEW = timedelta(minutes=5)
#: enough for any real certificate; a bigger body is not one, and we do not want to buffer it
MAX_CERT_BYTES = 64 * 1024
#: distinct certificates kept; SNS rotates rarely, so a handful is plenty
CERT_CACHE_SIZE = 32
FETCH_TIMEOUT = 5.0

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    "Notification": _NOTIFICATION_KEYS,
    "SubscriptionConfirmation": _CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": _CONFIRMATION_KEYS,
}
_ENVELOPE_KEYS = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class SnsVerificationError(Exception):
    """The message is not provably from SNS (or not for us). ``reason`` is short and safe to log or return;
    it never echoes attacker-controlled values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical bytes SNS signs: ``key\\nvalue\\n`` for the type's keys in AWS's order; an absent
    optional key (a Notification's Subject) is left out entirely."""
    keys = _SIGNED_KEYS.get(message.get("Type", ""))
    if keys is None:
        raise SnsVerificationError("unknown message type")
    parts: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None:
            if key == "Subject":
                continue
            raise SnsVerificationError(f"missing field {key}")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def _default_fetch(url: str) -> bytes:
    """GET without following redirects: a redirect could lead off the host we checked."""
    with httpx.stream("GET", url, timeout=FETCH_TIMEOUT, follow_redirects=False) as response:
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_CERT_BYTES:
                raise ValueError("response too large")
        return bytes(body)


def _parse_timestamp(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise SnsVerificationError("bad timestamp") from None
    if ts.tzinfo is None:
        raise SnsVerificationError("bad timestamp")
    return ts


def _url_allowed(url: str, trusted: Sequence[str], *, pem: bool) -> bool:
    """An https URL on an SNS host (the netloc must be exactly the host: no port, no user info), or one
    under a prefix the operator trusts explicitly."""
    if any(url.startswith(prefix) for prefix in trusted):
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme != "https" or not SNS_HOST.match(parts.netloc) or parts.fragment:
        return False
    return not pem or (parts.path.endswith(".pem") and not parts.query)


def confirm_subscription(
    message: Mapping[str, Any],
    *,
    trusted_cert_url_prefixes: Sequence[str] = (),
    fetch: Callable[[str], bytes] | None = None,
) -> str:
    """GET a SubscriptionConfirmation's SubscribeURL, which is how SNS learns we accept its deliveries.
    Call it only after ``SnsVerifier.verify`` passed. The URL must be on an SNS host over https (or under
    a trusted prefix), so even a verified message cannot make us call elsewhere. Returns the URL fetched."""
    if message.get("Type") != "SubscriptionConfirmation":
        raise SnsVerificationError("not a subscription confirmation")
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not _url_allowed(url, trusted_cert_url_prefixes, pem=False):
        raise SnsVerificationError("subscribe URL not allowed")
    try:
        (fetch or _default_fetch)(url)
    except Exception:
        raise SnsVerificationError("subscription confirmation failed") from None
    return url


class SnsVerifier:
    """Verifies SNS messages for a fixed set of topics; one instance is meant to live for the process
    (it caches signing certificates) and is safe to share between threads."""

    def __init__(
        self,
        allowed_topic_arns: Collection[str],
        trusted_cert_url_prefixes: Sequence[str] = (),
        max_age: timedelta = timedelta(hours=1),
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._exact = frozenset(a for a in allowed_topic_arns if "*" not in a)
        self._patterns = tuple(a for a in allowed_topic_arns if "*" in a)
        self._trusted = tuple(trusted_cert_url_prefixes)
        self._max_age = max_age
        self._fetch = fetch or _default_fetch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._certs: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._fetch_lock = threading.Lock()  # so concurrent first messages fetch a certificate once

    def topic_allowed(self, arn: str) -> bool:
        """Exact ARNs, or ``fnmatchcase`` patterns for entries containing ``*`` (e.g. one per product)."""
        return arn in self._exact or any(fnmatch.fnmatchcase(arn, p) for p in self._patterns)

    def verify(self, message: Mapping[str, Any]) -> None:
        """Raise SnsVerificationError unless ``message`` (the parsed JSON body) was signed by SNS for an
        allowed topic, recently. Cheap checks come first so forgeries cost us no certificate fetch."""
        for key in _ENVELOPE_KEYS:
            if not isinstance(message.get(key), str):
                raise SnsVerificationError(f"missing field {key}")
        keys = _SIGNED_KEYS.get(message["Type"])
        if keys is None:
            raise SnsVerificationError("unknown message type")
        for key in keys:
            if key != "Subject" and not isinstance(message.get(key), str):
                raise SnsVerificationError(f"missing field {key}")
        if not isinstance(message.get("Subject"), str | None):
            raise SnsVerificationError("bad field Subject")
        hash_factory = _HASHES.get(message["SignatureVersion"])
        if hash_factory is None:
            raise SnsVerificationError("unsupported signature version")
        cert_url = message["SigningCertURL"]
        if not self.topic_allowed(message["TopicArn"]):
            raise SnsVerificationError("topic not allowed")
        if not _url_allowed(cert_url, self._trusted, pem=True):
            raise SnsVerificationError("signing certificate URL not allowed")
        self._check_timestamp(message["Timestamp"])
        try:
            signature = base64.b64decode(message["Signature"], validate=True)
        except (binascii.Error, ValueError):
            raise SnsVerificationError("bad signature") from None
        public_key = self._certificate(cert_url)
        try:
            public_key.verify(signature, string_to_sign(message), padding.PKCS1v15(), hash_factory())
        except InvalidSignature:
            raise SnsVerificationError("bad signature") from None

    def confirm_subscription(self, message: Mapping[str, Any], fetch: Callable[[str], bytes] | None = None) -> str:
        """Verify a SubscriptionConfirmation, then confirm it (see the module-level function)."""
        self.verify(message)
        return confirm_subscription(message, trusted_cert_url_prefixes=self._trusted, fetch=fetch or self._fetch)

    def _check_timestamp(self, value: str) -> None:
        ts = _parse_timestamp(value)
        now = self._clock()
        if ts > now + MAX_FUTURE_SKEW:
            raise SnsVerificationError("timestamp in the future")
        if now - ts > self._max_age:
            raise SnsVerificationError("message too old")

    def _cached(self, url: str) -> rsa.RSAPublicKey | None:
        with self._cache_lock:
            key = self._certs.get(url)
            if key is not None:
                self._certs.move_to_end(url)
            return key

    def _certificate(self, url: str) -> rsa.RSAPublicKey:
        """The RSA public key at ``url``, fetched once and cached; failures are not cached, so a
        transient error does not stick."""
        key = self._cached(url)
        if key is not None:
            return key
        with self._fetch_lock:
            key = self._cached(url)
            if key is not None:
                return key
            try:
                pem = self._fetch(url)
            except Exception:
                raise SnsVerificationError("certificate fetch failed") from None
            try:
                public_key = x509.load_pem_x509_certificate(pem).public_key()
            except ValueError:
                raise SnsVerificationError("invalid signing certificate") from None
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SnsVerificationError("invalid signing certificate")
            with self._cache_lock:
                self._certs[url] = public_key
                while len(self._certs) > CERT_CACHE_SIZE:
                    self._certs.popitem(last=False)
            return public_key

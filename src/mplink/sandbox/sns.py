"""Signed Amazon SNS messages from the sandbox, as AWS Marketplace sends them for legacy products.

A legacy product's seller learns of subscriptions from the SNS topic
``aws-mp-subscription-notification-<product code>``, delivered over HTTP(S). The sandbox signs these
envelopes like SNS does (SignatureVersion "2": SHA256withRSA over the canonical string) but with its
own self-signed certificate, which a seller accepts only when it trusts the sandbox's certificate URL
prefix explicitly (see ``mplink.adapters.sns.SnsVerifier``).

As SNS does, the endpoint is first sent a SubscriptionConfirmation per topic; nothing else reaches it
until it GETs that message's ``SubscribeURL`` (``events.SnsPublisher`` runs this handshake). How the
pieces are meant to be wired::

    signer = SnsSigner(f"{base}/_sandbox/sns/cert.pem")
    token = secrets.token_hex(32)
    confirm = signer.sign(subscription_confirmation(
        topic_arn(code), action_url(base, "ConfirmSubscription", TopicArn=topic_arn(code), Token=token), token, now))
    httpx.post(seller_sns_endpoint, content=json.dumps(confirm), headers=delivery_headers(confirm))
    # ... the seller GETs SubscribeURL; then, for each message:
    body = marketplace_message("subscribe-success", agreement.customer_identifier, product.code,
                               offer_identifier=offer.id, free_trial=False)
    envelope = signer.sign(notification(topic_arn(code), body, timestamp=now, unsubscribe_url=...))
    httpx.post(seller_sns_endpoint, content=json.dumps(envelope), headers=delivery_headers(envelope, sub_arn))

The string to sign is computed here independently of the seller's verifier on purpose: the sandbox
plays AWS, and a shared helper would hide a canonicalization bug on both sides at once.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

#: the account AWS Marketplace publishes its SNS topics from
MARKETPLACE_SNS_ACCOUNT = "287250355862"

_SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
#: the keys of each HTTP(S) delivery, in the order of SNS's examples (Subject only when there is one)
_ENVELOPE_ORDER: dict[str, tuple[str, ...]] = {
    "Notification": (
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
    ),
    "SubscriptionConfirmation": (
        "Type",
        "MessageId",
        "Token",
        "TopicArn",
        "Message",
        "SubscribeURL",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ),
}
_ENVELOPE_ORDER["UnsubscribeConfirmation"] = _ENVELOPE_ORDER["SubscriptionConfirmation"]
SNS_USER_AGENT = "Amazon Simple Notification Service Agent"
SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
# a fixed, wide validity window: the sandbox clock can be advanced far ahead of the real one
_NOT_BEFORE = datetime(2000, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(2100, 1, 1, tzinfo=UTC)


def topic_arn(product_code: str) -> str:
    """The legacy subscription topic AWS Marketplace creates for a product."""
    return f"arn:aws:sns:us-east-1:{MARKETPLACE_SNS_ACCOUNT}:aws-mp-subscription-notification-{product_code}"


def entitlement_topic_arn(product_code: str) -> str:
    """The legacy entitlement topic (``aws-mp-entitlement-notification``), one per product like the other."""
    return f"arn:aws:sns:us-east-1:{MARKETPLACE_SNS_ACCOUNT}:aws-mp-entitlement-notification-{product_code}"


def sns_timestamp(ts: datetime) -> str:
    """SNS's format, UTC with milliseconds: ``2026-11-27T09:00:00.000Z`` (a naive value is taken as UTC)."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


#: actions whose message names the offer: "The offer-identifier is included in the notification only
#: when the action is subscribe-success or subscribe-fail" (SaaS SNS page)
OFFER_ACTIONS = frozenset({"subscribe-success", "subscribe-fail"})


def marketplace_message(
    action: str,
    customer_identifier: str,
    product_code: str,
    *,
    offer_identifier: str | None = None,
    free_trial: bool | None = None,
) -> dict[str, Any]:
    """A legacy Marketplace message body, with AWS's key spellings: ``action`` is subscribe-success,
    subscribe-fail, unsubscribe-pending, unsubscribe-success or entitlement-updated (which carries only
    the customer and product)."""
    body: dict[str, Any] = {"action": action, "customer-identifier": customer_identifier, "product-code": product_code}
    if offer_identifier is not None:
        body["offer-identifier"] = offer_identifier
    if free_trial is not None:
        body["isFreeTrialTermPresent"] = "true" if free_trial else "false"
    return body


def notification(
    topic_arn: str,
    message: dict[str, Any],
    *,
    message_id: str | None = None,
    timestamp: datetime,
    unsubscribe_url: str,
    subject: str | None = None,
) -> dict[str, Any]:
    """An unsigned Notification envelope; ``message`` becomes the JSON string in ``Message``."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": json.dumps(message),
        "Timestamp": sns_timestamp(timestamp),
        "UnsubscribeURL": unsubscribe_url,
    }
    if subject is not None:
        envelope["Subject"] = subject
    return envelope


def subscription_confirmation(
    topic_arn: str, subscribe_url: str, token: str, timestamp: datetime, *, message_id: str | None = None
) -> dict[str, Any]:
    """An unsigned SubscriptionConfirmation envelope, with SNS's own wording in ``Message``: what SNS POSTs
    to an HTTP(S) endpoint when it is subscribed to a topic. SNS delivers nothing to it until the endpoint
    GETs ``SubscribeURL``."""
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id or str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": (
            f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_timestamp(timestamp),
    }


def unsubscribe_confirmation(
    topic_arn: str, subscription_arn: str, subscribe_url: str, token: str, timestamp: datetime
) -> dict[str, Any]:
    """An unsigned UnsubscribeConfirmation envelope: the endpoint was unsubscribed; ``SubscribeURL`` restores it."""
    return {
        "Type": "UnsubscribeConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": (
            f"You have chosen to deactivate subscription {subscription_arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_timestamp(timestamp),
    }


def action_url(base_url: str, action: str, **params: str) -> str:
    """A SubscribeURL or UnsubscribeURL on the sandbox, shaped like SNS's ``https://sns.<region>.amazonaws.com/
    ?Action=ConfirmSubscription&TopicArn=...&Token=...``: the sandbox's SNS lives at ``/_sandbox/sns/``."""
    return f"{base_url.rstrip('/')}/_sandbox/sns/?" + urlencode({"Action": action, **params})


def _xml(root: str, result: dict[str, str] | None, request_id: str) -> str:
    top = ElementTree.Element(root, xmlns=SNS_XMLNS)
    if result is not None:
        node = ElementTree.SubElement(top, root.removesuffix("Response") + "Result")
        for key, value in result.items():
            ElementTree.SubElement(node, key).text = value
    meta = ElementTree.SubElement(top, "ResponseMetadata")
    ElementTree.SubElement(meta, "RequestId").text = request_id
    return ElementTree.tostring(top, encoding="unicode")


def confirm_subscription_response(subscription_arn: str, request_id: str) -> str:
    """The XML body SNS answers a ConfirmSubscription GET with."""
    return _xml("ConfirmSubscriptionResponse", {"SubscriptionArn": subscription_arn}, request_id)


def unsubscribe_response(request_id: str) -> str:
    return _xml("UnsubscribeResponse", None, request_id)


def error_response(code: str, message: str, request_id: str) -> str:
    """SNS's query-protocol error body (``<ErrorResponse><Error><Type>Sender</Type><Code>...``)."""
    top = ElementTree.Element("ErrorResponse", xmlns=SNS_XMLNS)
    error = ElementTree.SubElement(top, "Error")
    for key, value in (("Type", "Sender"), ("Code", code), ("Message", message)):
        ElementTree.SubElement(error, key).text = value
    ElementTree.SubElement(top, "RequestId").text = request_id
    return ElementTree.tostring(top, encoding="unicode")


def delivery_headers(envelope: dict[str, Any], subscription_arn: str | None = None) -> dict[str, str]:
    """The headers of SNS's HTTP delivery examples (the body is JSON but labelled text/plain, like SNS).
    ``x-amz-sns-subscription-arn`` is sent once there is a subscription: not with a SubscriptionConfirmation."""
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": envelope["Type"],
        "x-amz-sns-message-id": envelope["MessageId"],
        "x-amz-sns-topic-arn": envelope["TopicArn"],
    }
    if subscription_arn is not None and envelope["Type"] != "SubscriptionConfirmation":
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    headers["User-Agent"] = SNS_USER_AGENT
    return headers


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """``key\\nvalue\\n`` for the type's keys in AWS's order; an absent Subject is skipped."""
    keys = _SIGNED_KEYS[envelope["Type"]]
    return "".join(f"{k}\n{envelope[k]}\n" for k in keys if envelope.get(k) is not None).encode("utf-8")


class SnsSigner:
    """The sandbox's SNS signing identity: an RSA 2048 key and a self-signed certificate, made on first
    use (key generation takes a moment, so a sandbox that never sends SNS never pays for it) and kept for
    the process. Thread-safe."""

    def __init__(self, cert_url: str, common_name: str = "mplink sandbox SNS") -> None:
        self.cert_url = cert_url
        self._common_name = common_name
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._cert_pem: bytes | None = None

    def _identity(self) -> tuple[rsa.RSAPrivateKey, bytes]:
        with self._lock:
            if self._key is None or self._cert_pem is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._common_name)])
                cert = (
                    x509.CertificateBuilder()
                    .subject_name(name)
                    .issuer_name(name)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(_NOT_BEFORE)
                    .not_valid_after(_NOT_AFTER)
                    .sign(key, hashes.SHA256())
                )
                self._key, self._cert_pem = key, cert.public_bytes(serialization.Encoding.PEM)
            return self._key, self._cert_pem

    def cert_pem(self) -> bytes:
        """The certificate to serve at ``cert_url``."""
        return self._identity()[1]

    def sign(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``envelope`` with SignatureVersion "2", Signature (SHA256withRSA) and SigningCertURL, its
        keys in the order of SNS's examples."""
        key, _ = self._identity()
        signed = {**envelope, "SignatureVersion": "2", "SigningCertURL": self.cert_url}
        signature = key.sign(string_to_sign(signed), padding.PKCS1v15(), hashes.SHA256())
        signed["Signature"] = base64.b64encode(signature).decode("ascii")
        order = _ENVELOPE_ORDER[signed["Type"]]
        return {k: signed[k] for k in order if k in signed}

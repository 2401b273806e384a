"""SNS envelopes the sandbox never sends but tests need, in SNS's own wording."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from mplink.sandbox.sns import sns_timestamp


def subscription_confirmation(
    topic_arn: str, subscribe_url: str, token: str, timestamp: datetime, *, message_id: str | None = None
) -> dict[str, Any]:
    """An unsigned SubscriptionConfirmation envelope, with SNS's own wording in ``Message``."""
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

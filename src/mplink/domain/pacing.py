"""A token bucket: the arithmetic that paces BatchMeterUsage at the seller's quota (requests per second).

The bucket refills at ``rate`` tokens a second up to ``burst``; a call takes one token. A throttled call
empties it below zero, so every worker sharing it waits before the next call. The stores keep the bucket's
two numbers (tokens, and when they were counted); this module only says what they become."""

from __future__ import annotations

from dataclasses import dataclass

#: AWS Marketplace Metering Service's documented quota for BatchMeterUsage: 10 requests per second
DEFAULT_RATE = 10.0
#: tokens a full bucket holds: one, so calls are spread evenly rather than sent in bursts that a
#: one-second sliding window would count against the next second
DEFAULT_BURST = 1.0
#: after a ThrottlingException the bucket owes this many calls' worth of time
THROTTLE_PENALTY = 1.0
_EPSILON = 1e-9


@dataclass(frozen=True)
class Bucket:
    tokens: float
    #: when ``tokens`` was counted (seconds on a clock every sharer reads: the epoch)
    at: float


def refill(bucket: Bucket, now: float, rate: float, burst: float = DEFAULT_BURST) -> Bucket:
    elapsed = max(0.0, now - bucket.at)
    return Bucket(min(burst, bucket.tokens + elapsed * rate), max(now, bucket.at))


def take(bucket: Bucket, now: float, rate: float, burst: float = DEFAULT_BURST) -> tuple[Bucket, float]:
    """Take one token: the new bucket and 0.0, or the bucket unchanged and the seconds to wait for a token."""
    full = refill(bucket, now, rate, burst)
    if full.tokens >= 1.0 - _EPSILON:  # a wait computed here must end in a token, whatever the float rounding
        return Bucket(full.tokens - 1.0, full.at), 0.0
    return bucket, (1.0 - full.tokens) / rate


def throttled(bucket: Bucket, now: float, rate: float, burst: float = DEFAULT_BURST) -> Bucket:
    """AWS refused a call for its rate: empty the bucket and owe a penalty, for every sharer."""
    full = refill(bucket, now, rate, burst)
    return Bucket(min(full.tokens, 0.0) - THROTTLE_PENALTY, full.at)

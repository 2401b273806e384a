"""AWS's documented event examples (tests/fixtures/aws/events, see SOURCES.md there) as tests use them:
the example of a detail-type, the key structure to compare an event with, and an example rewritten with
the ids and times of a test's world, keeping the example's keys and everything the world does not name."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws" / "events"

#: detail-type -> the file of AWS's example (Created - Proposer has two: NEW here, RENEW below)
EVENT_FIXTURES = {
    "Purchase Agreement Created - Proposer": "agreement-created-proposer.json",
    "Purchase Agreement Created - Manufacturer": "agreement-created-manufacturer.json",
    "Purchase Agreement Amended - Proposer": "agreement-amended-proposer.json",
    "Purchase Agreement Amended - Manufacturer": "agreement-amended-manufacturer.json",
    "Purchase Agreement Ended - Proposer": "agreement-ended-proposer.json",
    "Purchase Agreement Ended - Manufacturer": "agreement-ended-manufacturer.json",
    "License Updated - Manufacturer": "license-updated-manufacturer.json",
    "License Deprovisioned - Manufacturer": "license-deprovisioned-manufacturer.json",
}
RENEW_FIXTURE = "agreement-created-proposer-renew.json"

#: every time AWS prints in these events: UTC, whole seconds
AWS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
#: ``resources`` of agreement and license events (seller guide form)
AGREEMENT_ARN = re.compile(r"^arn:aws:aws-marketplace::aws:agreement:(agmt-[A-Za-z0-9]+)$")


@cache
def _text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """A fresh copy of one example (callers may change it)."""
    data: dict[str, Any] = json.loads(_text(name))
    return data


def fixture_name_for(event: dict[str, Any]) -> str:
    """The example to compare ``event`` with: by its detail-type, the RENEW one for a renewal's Created."""
    detail_type = event["detail-type"]
    if detail_type == "Purchase Agreement Created - Proposer" and event["detail"]["agreement"].get("intent") == "RENEW":
        return RENEW_FIXTURE
    return EVENT_FIXTURES[detail_type]


def structure(value: Any) -> Any:
    """The keys of ``value``, in order, recursively: what two events must share when only values differ."""
    if isinstance(value, dict):
        return [(k, structure(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [structure(v) for v in value]
    return None


def times_in(event: dict[str, Any]) -> list[str]:
    """Every time of an agreement or license event: the envelope's and the agreement's."""
    agreement = event["detail"].get("agreement", {})
    times = [event["time"]]
    times += [agreement[k] for k in ("acceptanceTime", "startTime", "endTime") if k in agreement]
    return times


def documented_license_arn(license_arn: str) -> str:
    """A LicenseArn written as AWS's License event example writes one: no ``arn:``, a region, no ``license:``
    (``aws:license-manager:us-east-1:123456789012:l-e52ca...``)."""
    account = license_arn.split(":")[4]
    license_id = license_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return f"aws:license-manager:us-east-1:{account}:{license_id}"


def _overlay(example: Any, world: Any) -> Any:
    """``example``'s keys with ``world``'s values where the world has them; the example's values elsewhere."""
    if isinstance(example, dict) and isinstance(world, dict):
        return {k: _overlay(v, world[k]) if k in world else v for k, v in example.items()}
    return copy.deepcopy(world)


def from_example(event: dict[str, Any]) -> dict[str, Any]:
    """AWS's example of ``event``'s detail-type, rewritten for this world: ids, accounts, status, intent and
    times come from ``event``, but only at the places the example has them. ``account`` keeps the example's
    placeholder, ``resources`` its ARN form, and the LicenseArn the form of the License example."""
    example = load(fixture_name_for(event))
    example_agreement = example["detail"]["agreement"]["id"]
    agreement_id = event["detail"]["agreement"]["id"]
    out: dict[str, Any] = {
        **example,
        "id": f"doc-{event['id']}",
        "time": event["time"],
        "resources": [r.replace(example_agreement, agreement_id) for r in example["resources"]],
        "detail": _overlay(example["detail"], event["detail"]),
    }
    out["detail"]["requestId"] = f"doc-{event['detail']['requestId']}"
    if "license" in out["detail"]:
        out["detail"]["license"]["arn"] = documented_license_arn("arn:" + event["detail"]["license"]["arn"])
    return out

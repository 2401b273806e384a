"""SearchAgreements' documented filters, the combinations each party type may use, and its sort.

Source: the ``filters`` and ``sort`` members of SearchAgreements in botocore's marketplace-agreement model
(2020-03-01), and the error table of https://docs.aws.amazon.com/marketplace/latest/developerguide/agreement-apis.html
(UNSUPPORTED_FILTERS, INVALID_FILTER_NAME, INVALID_FILTER_VALUES). A query is read and checked here, then
matched against agreement view summaries (the operation's output items), so it knows nothing of the sandbox's
storage. Where AWS says nothing, the choice is written next to the rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mplink.sandbox.agreement_errors import invalid

#: documented filter names -> their allowed values (None: any value the model's pattern lets through)
_ENUMS: dict[str, frozenset[str] | None] = {
    "ResourceIdentifier": None,
    "ResourceType": frozenset(
        {"AmiProduct", "ContainerProduct", "SaaSProduct", "ProfessionalServicesProduct", "MachineLearningProduct"}
    ),
    "PartyType": frozenset({"Proposer", "Acceptor"}),
    "AcceptorAccountId": None,
    "OfferId": None,
    "Status": frozenset({"ACTIVE", "CANCELLED", "EXPIRED", "RENEWED", "REPLACED", "TERMINATED"}),
    "BeforeEndTime": None,
    "AfterEndTime": None,
    "BeforeStartTime": None,
    "AfterStartTime": None,
    "BeforeLastUpdateTime": None,
    "AfterLastUpdateTime": None,
    "AgreementType": frozenset({"PurchaseAgreement"}),
    "OfferSetId": None,
    "EndTimeBehaviorType": frozenset({"RENEW", "REPLACE", "EXPIRE"}),
    "EndTimeBehaviorReasonCode": frozenset(
        {"PROPOSER_RENEW_OPTED_OUT", "ACCEPTOR_RENEW_OPTED_OUT", "NO_RENEWAL_TERM", "RENEWAL_LIMIT_EXHAUSTED"}
    ),
    "InitialAgreementId": None,
    "LicenseArn": None,
    "IncludesContactOfType": frozenset({"ACCEPTOR"}),
}
FILTER_NAMES = frozenset(_ENUMS)

#: the summary's timestamp each time filter bounds
_TIME_FILTERS = {
    "BeforeEndTime": "endTime",
    "AfterEndTime": "endTime",
    "BeforeStartTime": "startTime",
    "AfterStartTime": "startTime",
    "BeforeLastUpdateTime": "lastUpdateTime",
    "AfterLastUpdateTime": "lastUpdateTime",
}
_ACCOUNT = re.compile(r"^\d{12}$")


def _acceptor_combinations() -> frozenset[frozenset[str]]:
    """The model's list for PartyType Acceptor, as printed ("EndTime" is BeforeEndTime, AfterEndTime or both)."""
    listed = """
        AgreementType
        AgreementType + Status
        AgreementType + EndTime
        AgreementType + Status + EndTime
        AgreementType + ResourceIdentifier
        AgreementType + ResourceIdentifier + EndTime
        AgreementType + ResourceIdentifier + Status
        AgreementType + ResourceIdentifier + Status + EndTime
        AgreementType + ResourceType
        AgreementType + ResourceType + EndTime
        AgreementType + OfferId
        AgreementType + OfferId + EndTime
        AgreementType + OfferId + Status
        AgreementType + OfferId + Status + EndTime
        AgreementType + OfferSetId
        AgreementType + OfferSetId + EndTime
        AgreementType + OfferSetId + Status
        AgreementType + OfferSetId + Status + EndTime
    """
    end_time = ({"BeforeEndTime"}, {"AfterEndTime"}, {"BeforeEndTime", "AfterEndTime"})
    out: set[frozenset[str]] = set()
    for line in filter(None, (raw.strip() for raw in listed.splitlines())):
        names = {n.strip() for n in line.split("+")}
        if "EndTime" in names:
            out.update(frozenset((names - {"EndTime"}) | e) for e in end_time)
        else:
            out.add(frozenset(names))
    return frozenset(out)


#: what an acceptor may combine (PartyType itself is not part of a combination)
ACCEPTOR_COMBINATIONS = _acceptor_combinations()

#: SortBy values per party type [model, ``sort``]: "SortBy supports EndTime for both party types, and StartTime
#: and LastUpdateTime only when PartyType is Proposer. The default SortBy value is EndTime."
SORT_BY = {"Acceptor": ("EndTime",), "Proposer": ("EndTime", "StartTime", "LastUpdateTime")}
_SORT_FIELD = {"EndTime": "endTime", "StartTime": "startTime", "LastUpdateTime": "lastUpdateTime"}
_NEVER = datetime.max.replace(tzinfo=UTC)


def _timestamp(name: str, value: str) -> datetime:
    """A time filter's value: ISO 8601 (as AWS's SearchAgreements example writes it) or epoch seconds."""
    try:
        at = datetime.fromtimestamp(int(value), UTC) if value.isdigit() else datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        raise invalid("INVALID_FILTER_VALUES", f"filter {name}: {value!r} is not a date and time") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AgreementQuery:
    """A checked SearchAgreements request: the caller's party type, one value per filter, and the sort."""

    party: str
    filters: dict[str, str]
    sort_by: str
    descending: bool
    #: a digest of everything but the page: a next token is good only for the same query
    fingerprint: str

    def _time(self, name: str) -> datetime | None:
        value = self.filters.get(name)
        return _timestamp(name, value) if value is not None else None

    def matches(self, summary: dict[str, Any]) -> bool:
        """Whether an agreement view summary (the operation's output item) passes every filter."""
        proposal = summary.get("proposalSummary") or {}
        facts: dict[str, Iterable[Any]] = {
            "ResourceIdentifier": [r.get("id") for r in proposal.get("resources", [])],
            "ResourceType": [r.get("type") for r in proposal.get("resources", [])],
            "AcceptorAccountId": [(summary.get("acceptor") or {}).get("accountId")],
            "OfferId": [proposal.get("offerId")],
            "OfferSetId": [proposal.get("offerSetId")],
            "Status": [summary.get("status")],
            "AgreementType": [summary.get("agreementType")],
            "EndTimeBehaviorType": [summary.get("endTimeBehaviorType")],
            "EndTimeBehaviorReasonCode": [summary.get("endTimeBehaviorReasonCode")],
            "InitialAgreementId": [summary.get("initialAgreementId")],
            "LicenseArn": [e.get("licenseArn") for e in summary.get("entitlements", [])],
            "IncludesContactOfType": summary.get("includesContactOfType", []),
        }
        for name, value in self.filters.items():
            if name == "PartyType":
                continue
            if name in _TIME_FILTERS:
                if not self._in_time_range(name, summary.get(_TIME_FILTERS[name])):
                    return False
            elif value not in facts[name]:
                return False
        return True

    def _in_time_range(self, name: str, at: datetime | None) -> bool:
        """Before*: the agreement's time is earlier than the value; After*: later. SILENT on an agreement
        without that time (pay-as-you-go has no endTime, "null" per the model): the sandbox takes it as
        never ending, so it is after every AfterEndTime and before no BeforeEndTime."""
        bound = self._time(name)
        assert bound is not None
        value = at or _NEVER
        return value < bound if name.startswith("Before") else value > bound

    def sort_key(self, summary: dict[str, Any]) -> tuple[datetime, datetime, str]:
        """The sort field (a missing endTime sorts as never ending), then acceptance time and id for ties."""
        at = summary.get(_SORT_FIELD[self.sort_by]) or _NEVER
        return at, summary.get("acceptanceTime") or _NEVER, str(summary.get("agreementId"))


def parse_query(p: dict[str, Any]) -> AgreementQuery:
    """Check SearchAgreements' ``filters`` and ``sort`` the way AWS documents them; ValidationException
    (with the documented reason) for anything else."""
    filters: dict[str, str] = {}
    for f in p.get("filters") or []:
        name = f.get("name")
        values = f.get("values")
        if not name:
            raise invalid("MISSING_FILTER_NAME", "every filter needs a name")
        if name not in FILTER_NAMES:
            raise invalid(
                "INVALID_FILTER_NAME", f"{name!r} is not a SearchAgreements filter: use {', '.join(sorted(_ENUMS))}"
            )
        if name in filters:
            raise invalid("INVALID_FILTER_NAME", f"filter {name} is given twice: each filter takes one value")
        if not values:
            raise invalid("MISSING_FILTER_VALUES", f"filter {name} needs a value")
        if len(values) != 1:
            raise invalid("INVALID_FILTER_VALUES", f"filter {name} takes exactly one value, got {len(values)}")
        value = values[0]
        allowed = _ENUMS[name]
        if allowed is not None and value not in allowed:
            raise invalid(
                "INVALID_FILTER_VALUES", f"filter {name}: {value!r} is not one of {', '.join(sorted(allowed))}"
            )
        if name == "AcceptorAccountId" and not _ACCOUNT.match(value):
            raise invalid("INVALID_FILTER_VALUES", f"filter AcceptorAccountId: {value!r} is not a 12-digit account id")
        if name in _TIME_FILTERS:
            _timestamp(name, value)
        filters[name] = value

    party = filters.get("PartyType")
    if party is None:
        # SILENT whether PartyType is required; every AWS sample sends it and the reason enum has this value
        raise invalid("MISSING_PARTY_TYPE", "filter PartyType is required: Proposer or Acceptor")
    if "AgreementType" not in filters:
        raise invalid("UNSUPPORTED_FILTERS", "filter AgreementType (PurchaseAgreement) is required")
    used = frozenset(filters) - {"PartyType"}
    if party == "Acceptor" and used not in ACCEPTOR_COMBINATIONS:
        raise invalid(
            "UNSUPPORTED_FILTERS",
            f"PartyType Acceptor cannot combine {' + '.join(sorted(used))}; see SearchAgreements' filters for the "
            "combinations an acceptor may use",
        )
    for time in ("EndTime", "StartTime", "LastUpdateTime"):
        lower, upper = filters.get(f"After{time}"), filters.get(f"Before{time}")
        if lower and upper and _timestamp(f"Before{time}", upper) < _timestamp(f"After{time}", lower):
            # [dev guide] INVALID_FILTER_VALUES: "a date range filter specifies a BeforeEndTime value that
            # precedes the AfterEndTime value" (the sandbox applies the same to the other two ranges)
            raise invalid("INVALID_FILTER_VALUES", f"Before{time} precedes After{time}: the range is empty")

    sort = p.get("sort") or {}
    sort_by = sort.get("sortBy", "EndTime")
    if sort_by not in SORT_BY[party]:
        raise invalid(
            "INVALID_SORT_BY", f"sortBy {sort_by!r} is not available to a {party}: use {', '.join(SORT_BY[party])}"
        )
    order = sort.get("sortOrder", "ASCENDING")  # [model] "The default value is ASCENDING."
    if order not in ("ASCENDING", "DESCENDING"):
        raise invalid("INVALID_SORT_ORDER", f"sortOrder {order!r}: use ASCENDING or DESCENDING")
    digest = json.dumps([p.get("catalog"), sorted(filters.items()), sort_by, order], separators=(",", ":"))
    return AgreementQuery(
        party=party,
        filters=filters,
        sort_by=sort_by,
        descending=order == "DESCENDING",
        fingerprint=hashlib.sha256(digest.encode()).hexdigest()[:16],
    )

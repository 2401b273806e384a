"""SearchAgreements' filter rules as the sandbox applies them (mplink/sandbox/agreement_search.py), without a
server. Source of the rules: the ``filters`` and ``sort`` members of SearchAgreements in botocore's
marketplace-agreement model (quoted in each test), and the error table of
https://docs.aws.amazon.com/marketplace/latest/developerguide/agreement-apis.html for the ``reason`` codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from mplink.sandbox.agreement_search import ACCEPTOR_COMBINATIONS, FILTER_NAMES, parse_query
from mplink.sandbox.errors import SandboxError

PURCHASE = ("AgreementType", "PurchaseAgreement")


def query(party: str | None, *filters: tuple[str, str], sort: dict[str, str] | None = None) -> dict[str, Any]:
    named = ([("PartyType", party)] if party else []) + list(filters)
    p: dict[str, Any] = {"filters": [{"name": n, "values": [v]} for n, v in named]}
    if sort is not None:
        p["sort"] = sort
    return p


def reason(exc: SandboxError) -> str | None:
    """The error's ``reason`` member (ValidationExceptionReason): the attribute when errors carry one, else the
    code the message ends with."""
    found = getattr(exc, "reason", None)
    if found:
        return str(found)
    m = re.search(r"\(([A-Z_]+)\)$", exc.message)
    return m.group(1) if m else None


def refused(p: dict[str, Any]) -> str | None:
    with pytest.raises(SandboxError) as info:
        parse_query(p)
    assert info.value.code == "ValidationException"
    return reason(info.value)


def test_the_documented_filter_names() -> None:
    """[model] SearchAgreements.filters lists these names (the AWS sample's ``AcceptorId`` is not one)."""
    assert sorted(FILTER_NAMES) == sorted(
        [
            "ResourceIdentifier",
            "ResourceType",
            "PartyType",
            "AcceptorAccountId",
            "OfferId",
            "Status",
            "BeforeEndTime",
            "AfterEndTime",
            "BeforeStartTime",
            "AfterStartTime",
            "BeforeLastUpdateTime",
            "AfterLastUpdateTime",
            "AgreementType",
            "OfferSetId",
            "EndTimeBehaviorType",
            "EndTimeBehaviorReasonCode",
            "InitialAgreementId",
            "LicenseArn",
            "IncludesContactOfType",
        ]
    )


def test_acceptor_combinations_are_the_eighteen_listed_with_endtime_in_three_forms() -> None:
    """[model] "The following filter combinations are supported when the PartyType is Acceptor: AgreementType /
    AgreementType + Status / AgreementType + EndTime / ... / AgreementType + OfferSetId + Status + EndTime. To
    filter by EndTime, you can use BeforeEndTime, AfterEndTime, or both." 18 lines, 9 of them with EndTime."""
    assert len(ACCEPTOR_COMBINATIONS) == 9 + 9 * 3
    for combo in ACCEPTOR_COMBINATIONS:
        parse_query(
            query("Acceptor", *[(n, "2026-01-01T00:00:00Z" if "Time" in n else _value(n)) for n in sorted(combo)])
        )


def _value(name: str) -> str:
    return {"AgreementType": "PurchaseAgreement", "Status": "ACTIVE", "ResourceType": "SaaSProduct"}.get(name, "x-1")


@pytest.mark.parametrize(
    "filters",
    [
        [PURCHASE, ("ResourceType", "SaaSProduct"), ("Status", "ACTIVE")],
        [PURCHASE, ("ResourceIdentifier", "prod-1"), ("OfferId", "offer-1")],
        [PURCHASE, ("AcceptorAccountId", "222222222222")],
        [PURCHASE, ("LicenseArn", "arn:aws:license-manager::1:license:l-1")],
        [PURCHASE, ("BeforeStartTime", "2026-01-01T00:00:00Z")],
        [PURCHASE, ("Status", "ACTIVE"), ("ResourceIdentifier", "prod-1"), ("OfferId", "offer-1")],
    ],
)
def test_an_acceptor_cannot_use_other_combinations(filters: list[tuple[str, str]]) -> None:
    """[model] only the listed combinations for PartyType Acceptor; AcceptorAccountId, LicenseArn and the start
    and update times are not among them. [dev guide] UNSUPPORTED_FILTERS: "the provided combination of filters
    is not supported. Supported filter combinations vary based on party type." """
    assert refused(query("Acceptor", *filters)) == "UNSUPPORTED_FILTERS"


def test_a_proposer_may_combine_any_filters_with_agreementtype() -> None:
    """[model] "A proposer can use any combination of the preceding filters along with AgreementType, which is
    required." """
    parse_query(
        query(
            "Proposer",
            PURCHASE,
            ("ResourceType", "SaaSProduct"),
            ("Status", "ACTIVE"),
            ("AcceptorAccountId", "222222222222"),
            ("OfferId", "offer-1"),
            ("AfterStartTime", "2026-01-01T00:00:00Z"),
            ("IncludesContactOfType", "ACCEPTOR"),
        )
    )


def test_agreementtype_is_required_for_both_party_types() -> None:
    """[model] "... along with AgreementType, which is required." and every Acceptor combination starts with it.
    The reason for its absence is not documented: the sandbox answers UNSUPPORTED_FILTERS."""
    assert refused(query("Proposer", ("Status", "ACTIVE"))) == "UNSUPPORTED_FILTERS"
    assert refused(query("Acceptor", ("ResourceIdentifier", "prod-1"))) == "UNSUPPORTED_FILTERS"


def test_partytype_is_required() -> None:
    """SILENT in AWS's docs; every AWS sample sends it and ValidationExceptionReason has MISSING_PARTY_TYPE."""
    assert refused(query(None, PURCHASE)) == "MISSING_PARTY_TYPE"
    assert refused({}) == "MISSING_PARTY_TYPE"


@pytest.mark.parametrize("name", ["AgreementId", "AcceptorId", "agreementType", "Product"])
def test_an_unknown_filter_name_is_invalid(name: str) -> None:
    """[dev guide] INVALID_FILTER_NAME: "the provided filter name is not a recognized filter"."""
    assert refused(query("Proposer", PURCHASE, (name, "x"))) == "INVALID_FILTER_NAME"


def test_a_filter_named_twice_is_invalid() -> None:
    """[dev guide] INVALID_FILTER_NAME: "... or when duplicate filter names are included in the request"."""
    assert refused(query("Acceptor", PURCHASE, ("Status", "ACTIVE"), ("Status", "CANCELLED"))) == "INVALID_FILTER_NAME"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PartyType", "Buyer"),
        ("AgreementType", "UsageAgreement"),
        ("Status", "active"),
        ("Status", "ROLLED_BACK"),
        ("ResourceType", "SaasProduct"),
        ("AcceptorAccountId", "12345"),
        ("EndTimeBehaviorType", "CANCEL"),
        ("IncludesContactOfType", "PROPOSER"),
        ("BeforeEndTime", "yesterday"),
    ],
)
def test_a_value_outside_the_documented_ones_is_invalid(name: str, value: str) -> None:
    """[model] each filter's values (PartyType "Proposer or Acceptor", Status "ACTIVE, CANCELLED, EXPIRED,
    RENEWED, REPLACED, and TERMINATED", ...). [dev guide] INVALID_FILTER_VALUES: "filter values are invalid"."""
    filters = dict([("PartyType", "Proposer"), PURCHASE, (name, value)])
    assert refused({"filters": [{"name": n, "values": [v]} for n, v in filters.items()]}) == "INVALID_FILTER_VALUES"


def test_each_filter_takes_exactly_one_value() -> None:
    """[model] FilterValueList has min 1 and max 1. [dev guide] INVALID_FILTER_VALUES: "... empty, exceed the
    maximum allowed count"."""
    two = {"filters": [{"name": "PartyType", "values": ["Acceptor"]}, {"name": "Status", "values": ["A", "B"]}]}
    assert refused(two) == "INVALID_FILTER_VALUES"
    none = {"filters": [{"name": "PartyType", "values": ["Acceptor"]}, {"name": "Status", "values": []}]}
    assert refused(none) == "MISSING_FILTER_VALUES"


def test_an_end_time_range_that_ends_before_it_starts_is_invalid() -> None:
    """[dev guide] INVALID_FILTER_VALUES: "... or when a date range filter specifies a BeforeEndTime value that
    precedes the AfterEndTime value." """
    bad = query(
        "Acceptor", PURCHASE, ("AfterEndTime", "2026-06-01T00:00:00Z"), ("BeforeEndTime", "2026-01-01T00:00:00Z")
    )
    assert refused(bad) == "INVALID_FILTER_VALUES"


def test_sort_by_end_time_for_both_start_and_update_time_only_for_a_proposer() -> None:
    """[model] sort: "SortBy supports EndTime for both party types, and StartTime and LastUpdateTime only when
    PartyType is Proposer. The default SortBy value is EndTime." sortOrder: "The default value is ASCENDING." """
    default = parse_query(query("Acceptor", PURCHASE))
    assert (default.sort_by, default.descending) == ("EndTime", False)
    assert parse_query(query("Proposer", PURCHASE, sort={"sortBy": "LastUpdateTime"})).sort_by == "LastUpdateTime"
    assert refused(query("Acceptor", PURCHASE, sort={"sortBy": "StartTime"})) == "INVALID_SORT_BY"
    assert refused(query("Proposer", PURCHASE, sort={"sortBy": "AcceptanceTime"})) == "INVALID_SORT_BY"


def _summary(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "agreementId": "agmt-1",
        "acceptanceTime": datetime(2026, 1, 1, tzinfo=UTC),
        "startTime": datetime(2026, 1, 1, tzinfo=UTC),
        "lastUpdateTime": datetime(2026, 1, 2, tzinfo=UTC),
        "agreementType": "PurchaseAgreement",
        "acceptor": {"accountId": "222222222222"},
        "proposalSummary": {"resources": [{"id": "prod-1", "type": "SaaSProduct"}], "offerId": "offer-1"},
        "status": "ACTIVE",
        "entitlements": [{"licenseArn": "arn:l-1"}],
        "initialAgreementId": "agmt-1",
    }
    s.update(over)
    return s


def test_filters_match_the_summary_and_a_pay_as_you_go_agreement_never_ends() -> None:
    """[model] AgreementViewSummary.endTime: "The field is null for pay-as-you-go agreements, which don't have
    end dates." SILENT how the EndTime filters treat such an agreement: the sandbox takes it as never ending."""
    open_ended = _summary()
    ended = _summary(agreementId="agmt-2", status="CANCELLED", endTime=datetime(2026, 3, 1, tzinfo=UTC))
    after = parse_query(query("Acceptor", PURCHASE, ("AfterEndTime", "2026-02-01T00:00:00Z")))
    assert after.matches(open_ended) and after.matches(ended)
    before = parse_query(query("Acceptor", PURCHASE, ("BeforeEndTime", "2026-04-01T00:00:00Z")))
    assert not before.matches(open_ended) and before.matches(ended)
    by_offer = parse_query(query("Acceptor", PURCHASE, ("OfferId", "offer-1"), ("Status", "ACTIVE")))
    assert by_offer.matches(open_ended) and not by_offer.matches(ended)
    assert sorted([open_ended, ended], key=after.sort_key) == [ended, open_ended]

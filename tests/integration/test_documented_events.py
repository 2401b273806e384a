"""The sandbox's own events against AWS's documented examples (tests/fixtures/aws/events), and the seller on
both: every event the sandbox emits has the keys of the example of its detail-type, and a seller fed the
examples (rewritten with this world's ids and times) ends in the same state as one fed the sandbox's events.

Sources: seller guide, "Amazon EventBridge events" (notifications-eventbridge.html: events for agreements and
licenses) and "EventBridge events for SaaS products" (saas-eventbridge-integration.html: the ISV gets only the
Proposer agreement events on its own offers, only the Manufacturer ones on a channel partner's)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mplink.adapters.aws import SellerMarketplace
from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.services.account_change import account_change
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.events import envelope_from_eventbridge, receive_event
from mplink.services.registration import link_with_token
from mplink.services.subscriptions import list_agreements, tenant_subscription
from mplink.services.tenants import create_tenant
from tests.support.buyer import subscribe
from tests.support.documented_events import (
    AGREEMENT_ARN,
    AWS_TIME,
    fixture_name_for,
    from_example,
    load,
    structure,
    times_in,
)
from tests.support.journey import token_for
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
    immediate_provisioning,
)


def emitted(sb: RunningSandbox) -> list[dict[str, Any]]:
    """Every EventBridge event the sandbox emitted since its reset, in order."""
    return [dict(entry["event"]) for entry in list(sb.box.dispatcher.log)]


@pytest.fixture
def sb(renewal_sandbox: RunningSandbox) -> RunningSandbox:
    renewal_sandbox.reset(immediate_provisioning())
    return renewal_sandbox


def amend_auto_renewal(sb: RunningSandbox, account: str, agreement_id: str, offer_id: str) -> None:
    """The buyer turns auto-renewal on: an AMEND request on the offer's RenewalTerm, accepted."""
    terms = sb.client("marketplace-discovery", account).get_offer_terms(offerId=offer_id)["offerTerms"]
    renewal = next(t["renewalTerm"]["id"] for t in terms if "renewalTerm" in t)
    agr = sb.client("marketplace-agreement", account)
    configuration = {"renewalTermConfiguration": {"enableAutoRenew": True}}
    request = agr.create_agreement_request(
        intent="AMEND",
        sourceAgreementIdentifier=agreement_id,
        requestedTerms=[{"id": renewal, "configuration": configuration}],
    )
    assert agr.accept_agreement_request(agreementRequestId=request["agreementRequestId"])["agreementId"] == agreement_id


def the_seeds_story(sb: RunningSandbox, step: Any = lambda name, ids: None) -> dict[str, str]:
    """SRC buys the ISV's public offer and turns its auto-renewal on (AMEND), switches to the reseller's private
    offer (a REPLACE), DST buys the private offer, SRC cancels, and the final hour passes: Created, Amended and
    Ended in both roles, License Updated and Deprovisioned. ``step(name, ids)`` runs after each happening, with
    the agreements made so far."""
    ids = {"public": subscribe(sb, SRC, PUBLIC_OFFER)}
    step("src subscribed to the public offer", ids)
    amend_auto_renewal(sb, SRC, ids["public"], PUBLIC_OFFER)
    step("src amended its agreement", ids)
    ids["private"] = subscribe(sb, SRC, PRIVATE_OFFER)
    step("src switched to the private offer", ids)
    ids["dst"] = subscribe(sb, DST, PRIVATE_OFFER)
    step("dst subscribed", ids)
    sb.client("marketplace-agreement", SRC).cancel_agreement(agreementId=ids["private"])
    step("src cancelled", ids)
    sb.control("POST", "clock", json={"advance_seconds": 3601})
    step("the final hour passed", ids)
    return ids


def test_every_event_the_sandbox_emits_has_the_documented_keys(sb: RunningSandbox) -> None:
    ids = the_seeds_story(sb)
    events = emitted(sb)
    kinds = {(e["detail-type"], e["detail"]["agreement"]["id"]) for e in events}
    assert kinds == {
        ("Purchase Agreement Created - Proposer", ids["public"]),
        ("Purchase Agreement Amended - Proposer", ids["public"]),
        ("Purchase Agreement Ended - Proposer", ids["public"]),
        ("Purchase Agreement Created - Manufacturer", ids["private"]),
        ("Purchase Agreement Ended - Manufacturer", ids["private"]),
        ("Purchase Agreement Created - Manufacturer", ids["dst"]),
        *{("License Updated - Manufacturer", a) for a in ids.values()},
        ("License Deprovisioned - Manufacturer", ids["public"]),
        ("License Deprovisioned - Manufacturer", ids["private"]),
    }
    for event in events:
        name = fixture_name_for(event)
        assert structure(event) == structure(load(name)), (name, event)
        match = AGREEMENT_ARN.match(event["resources"][0])
        assert len(event["resources"]) == 1 and match and match.group(1) == event["detail"]["agreement"]["id"]
        assert all(AWS_TIME.match(t) for t in times_in(event)), event
        assert (event["source"], event["account"], event["region"]) == (
            "aws.agreement-marketplace",
            SELLER,
            "us-east-1",
        )
    ended = {
        e["detail"]["agreement"]["id"]: e["detail"]["agreement"]["status"]
        for e in events
        if "Ended" in e["detail-type"]
    }
    assert ended == {ids["public"]: "REPLACED", ids["private"]: "CANCELLED"}


@dataclass
class Seller:
    """A seller's services on a database of its own, fed events by the test."""

    store: Store
    market: SellerMarketplace
    tenant_id: str
    fed: list[str] = field(default_factory=list)

    def link(self, token: str) -> None:
        link_with_token(self.store.uow(), self.market, self.tenant_id, token)

    def feed(self, event: dict[str, Any]) -> None:
        receipt = receive_event(self.store.uow, envelope_from_eventbridge(event), self.market)
        assert receipt.status == "processed", (receipt, event)
        self.fed.append(event["detail-type"])

    def state(self) -> dict[str, Any]:
        """What the tenant's page, the API and the operator listing show; link times (the clock of each
        seller's own requests) left out."""
        change = account_change(self.store.uow(), self.tenant_id)
        subscription = tenant_subscription(self.store.uow(), self.tenant_id).view.as_api()
        del subscription["tenant_id"]  # each seller made its own
        return {
            "subscription": subscription,
            "change": None
            if change is None
            else {
                "state": change.state.value,
                "from": change.from_.as_api(),
                "to": change.to.as_api(),
                "steps": [(s.name.value, s.done) for s in change.steps],
            },
            "agreements": list_agreements(self.store.uow(), 0, 100),
        }


@pytest.fixture
def sellers(tmp_path: Path, sb: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Seller]]:
    """Two sellers with the same tenant, both asking the sandbox (as the seller account) what events lack."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"AKIA{SELLER}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "MPLINK_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    made = []
    for name in ("sandbox-events", "documented-events"):
        url = f"sqlite:///{tmp_path / name}.db"
        upgrade(url)
        store = Store(url)
        store_catalog(store.uow(), load_catalog())
        tenant_id = create_tenant(store.uow(), "Example Corp", f"{name}@example.com", "correct horse battery")
        made.append(Seller(store, SellerMarketplace(sb.url), tenant_id))
    try:
        yield made
    finally:
        for s in made:
            s.store.dispose()


def test_the_documented_examples_leave_the_seller_as_the_sandboxs_events_do(
    sb: RunningSandbox, sellers: list[Seller]
) -> None:
    """Seller A gets the sandbox's events, seller B AWS's examples of the same detail-types with this world's
    ids and times (only at the places the examples have them; the License ARN written as the example writes
    it). After every happening both show the same subscription, account change and agreements."""
    by_sandbox, by_examples = sellers
    seen = 0

    def deliver(happening: str, ids: dict[str, str]) -> None:
        nonlocal seen
        events = emitted(sb)
        for event in events[seen:]:
            by_sandbox.feed(event)
            by_examples.feed(from_example(event))
        seen = len(events)
        assert by_examples.state() == by_sandbox.state(), happening
        if happening == "src subscribed to the public offer":  # the events first, then the fulfilment page
            for seller in sellers:
                seller.link(token_for(sb, SRC, ids["public"]))
        elif happening == "src switched to the private offer":  # R4: no click, the REPLACE carries the link over
            assert by_examples.state()["subscription"]["agreement_id"] == ids["private"]
        elif happening == "dst subscribed":  # the billing-account change
            for seller in sellers:
                seller.link(token_for(sb, DST, ids["dst"]))
        assert by_examples.state() == by_sandbox.state(), happening

    ids = the_seeds_story(sb, deliver)
    final = by_examples.state()
    assert final == by_sandbox.state()
    sub = final["subscription"]
    assert (sub["type"], sub["aws_account_id"], sub["agreement_id"]) == ("aws_marketplace", DST, ids["dst"])
    assert sub["pending_cancellations"] == [] and all(s["registered"] for s in sub["services"])
    assert final["change"]["state"] == "done"
    assert final["change"]["from"] == {"aws_account_id": SRC, "agreement_id": ids["private"]}  # R4 carried it over
    statuses = {a["agreement_id"]: a["marketplace_status"] for a in final["agreements"]}
    assert statuses == {ids["public"]: "REPLACED", ids["private"]: "CANCELLED", ids["dst"]: "ACTIVE"}
    # the REPLACE named no predecessor: both sellers asked DescribeAgreement
    asked = [c["request"]["agreementId"] for c in sb.control("GET", "calls", params={"operation": "DescribeAgreement"})]
    assert asked.count(ids["private"]) == 2
    assert by_examples.fed == by_sandbox.fed and len(by_sandbox.fed) == 11

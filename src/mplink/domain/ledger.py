"""The billing ledger: agreements, the links that say who pays for which tenant, and account changes.

Every rule that needs more than one object lives here: linking (R1, R2, R4) and applying marketplace
events (R2-R4, R8). A ledger holds only what one use case needs; the store loads and saves it. New
objects are collected in ``added`` so the store can persist them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from mplink.domain.agreement import Agreement, MarketplaceStatus
from mplink.domain.billing import AccountChange, BillingLink, ChangeState, LinkEnd, services_registered
from mplink.domain.clock import stamp
from mplink.domain.errors import AgreementNotActive, Conflict, NotAuthorized, NotFound
from mplink.domain.events import (
    SUCCESSOR_INTENTS,
    AgreementEvent,
    AgreementEventKind,
    CancellationRequestEvent,
    LegacyAction,
    LegacyEvent,
    LicenseEvent,
    LicenseEventKind,
    MarketplaceEvent,
)
from mplink.domain.ids import parse_account_id
from mplink.domain.offer_guard import OfferCheck
from mplink.domain.tenant import BILLING_ROLES, Role, Tenant

#: the order of an agreement's events that share a time (see ``_apply_agreement``)
_KIND_RANK = {AgreementEventKind.CREATED: 0, AgreementEventKind.AMENDED: 1, AgreementEventKind.ENDED: 2}


@dataclass(eq=False)
class LicenseFacts:
    """What License events said about a LicenseArn, kept even before any agreement is known to hold it."""

    license_arn: str
    updated_stamp: str | None = None
    deprovisioned_at: datetime | None = None


@dataclass(eq=False)
class LegacySubscription:
    """The last word of legacy SNS messages about one (product code, CustomerIdentifier)."""

    product_code: str
    customer_identifier: str
    action: str
    at: datetime
    version: str
    offer_id: str | None = None
    free_trial: bool = False


@dataclass(frozen=True)
class LinkResult:
    link: BillingLink
    #: the link this one replaced for the tenant, if any (R2)
    previous_link: BillingLink | None
    #: the account change recorded, when the tenant changed its paying agreement
    change: AccountChange | None
    #: True when the agreement was already linked to this tenant: nothing changed
    unchanged: bool = False
    #: how the offer it pays through compares with the one that paid before (the offer guard)
    offer_check: OfferCheck | None = None


def new_id() -> str:
    return str(uuid.uuid4())


def _require_billing_role(role: Role) -> None:
    """R1: only owners, admins and billing users link or change billing (a tenant's API key acts as admin)."""
    if role not in BILLING_ROLES:
        raise NotAuthorized(f"role {role.value!r} may not link or change billing")


@dataclass(eq=False)
class Ledger:
    agreements: dict[str, Agreement] = field(default_factory=dict)
    links: list[BillingLink] = field(default_factory=list)
    changes: list[AccountChange] = field(default_factory=list)
    licenses: dict[str, LicenseFacts] = field(default_factory=dict)
    legacy: dict[tuple[str, str], LegacySubscription] = field(default_factory=dict)
    added: list[object] = field(default_factory=list)
    #: links by tenant, built on first use and dropped when a link is added (routing a request's usage looks
    #: up each event's tenant: without it that is every link for every event)
    _by_tenant: dict[str, list[BillingLink]] | None = field(default=None, init=False, repr=False, compare=False)

    def _tenant_links(self, tenant_id: str) -> list[BillingLink]:
        if self._by_tenant is None:
            index: dict[str, list[BillingLink]] = {}
            for lk in self.links:
                index.setdefault(lk.tenant_id, []).append(lk)
            self._by_tenant = index
        return self._by_tenant.get(tenant_id, [])

    # -- lookups ------------------------------------------------------------------------------------
    def agreement(self, agreement_id: str) -> Agreement | None:
        return self.agreements.get(agreement_id)

    def open_link_of_agreement(self, agreement_id: str) -> BillingLink | None:
        return next((lk for lk in self.links if lk.agreement_id == agreement_id and lk.is_open), None)

    def open_link_of_tenant(self, tenant_id: str) -> BillingLink | None:
        return next((lk for lk in self._tenant_links(tenant_id) if lk.is_open), None)

    def links_of_tenant(self, tenant_id: str) -> list[BillingLink]:
        return sorted(self._tenant_links(tenant_id), key=lambda lk: lk.starts_at)

    def payer_at(self, tenant_id: str, at: datetime) -> str | None:
        """R5: the agreement that paid for the tenant at ``at``: linked then, and not ended by then."""
        link = self.link_at(tenant_id, at)
        agreement = self.agreement(link.agreement_id) if link else None
        return agreement.agreement_id if agreement is not None and agreement.billable_at(at) else None

    def link_at(self, tenant_id: str, at: datetime) -> BillingLink | None:
        """R5: the link that paid for the tenant at instant ``at`` (links are half-open intervals)."""
        return next((lk for lk in self._tenant_links(tenant_id) if lk.covers(at)), None)

    def open_changes_of_tenant(self, tenant_id: str) -> list[AccountChange]:
        return [c for c in self.changes if c.tenant_id == tenant_id and c.open]

    def started_change_of_tenant(self, tenant_id: str) -> AccountChange | None:
        return next((c for c in self.changes if c.tenant_id == tenant_id and c.state is ChangeState.STARTED), None)

    def agreements_by_license(self, license_arn: str) -> list[Agreement]:
        return [a for a in self.agreements.values() if a.license_arn == license_arn]

    # -- building --------------------------------------------------------------------------------------
    def _add(self, obj: object) -> None:
        self.added.append(obj)
        if isinstance(obj, Agreement):
            self.agreements[obj.agreement_id] = obj
        elif isinstance(obj, BillingLink):
            self.links.append(obj)
            self._by_tenant = None
        elif isinstance(obj, AccountChange):
            self.changes.append(obj)
        elif isinstance(obj, LicenseFacts):
            self.licenses[obj.license_arn] = obj
        elif isinstance(obj, LegacySubscription):
            self.legacy[(obj.product_code, obj.customer_identifier)] = obj

    def ensure_agreement(self, agreement_id: str) -> Agreement:
        found = self.agreements.get(agreement_id)
        if found is None:
            found = Agreement(agreement_id=agreement_id)
            self._add(found)
        return found

    def record_registration(
        self,
        agreement_id: str,
        aws_account_id: str,
        license_arn: str | None,
        product_code: str,
        customer_identifier: str | None = None,
        product_id: str | None = None,
        offer_id: str | None = None,
        free_trial: bool = False,
    ) -> Agreement:
        """What ResolveCustomer told us; events may have told us more already (or will later)."""
        agreement = self.ensure_agreement(agreement_id)
        agreement.fill(
            aws_account_id=aws_account_id,
            license_arn=license_arn,
            product_code=product_code,
            customer_identifier=customer_identifier,
            product_id=product_id,
            offer_id=offer_id,
        )
        agreement.free_trial = agreement.free_trial or free_trial
        self._share_product(agreement)
        self._sync_side_facts(agreement)
        return agreement

    # -- R1, R2, R4: linking ---------------------------------------------------------------------------
    def link(self, tenant: Tenant, user_id: str, agreement_id: str, at: datetime) -> LinkResult:
        """Link an agreement to a tenant, ending whatever the tenant and the agreement were linked to."""
        return self.link_as(tenant, tenant.require_billing_role(user_id), agreement_id, at)

    def link_as(self, tenant: Tenant, role: Role, agreement_id: str, at: datetime) -> LinkResult:
        """Link on behalf of someone acting with ``role`` (a tenant's API key acts as its admin)."""
        _require_billing_role(role)
        agreement = self.agreements.get(agreement_id)
        if agreement is None or agreement.ended:
            raise AgreementNotActive(
                f"agreement {agreement_id} has ended in AWS Marketplace; subscribe again and use the new one"
            )
        current = self.open_link_of_tenant(tenant.id)
        if current is not None and current.agreement_id == agreement_id:
            return LinkResult(link=current, previous_link=None, change=None, unchanged=True)
        start = at if current is None else max(at, current.starts_at)
        # R1: an agreement pays for one tenant at a time; linking it here moves it away from the other
        elsewhere = self.open_link_of_agreement(agreement_id)
        if elsewhere is not None:
            elsewhere.close(start, LinkEnd.MOVED)
            start = max(start, elsewhere.starts_at)
        change: AccountChange | None = None
        started = self.started_change_of_tenant(tenant.id)
        if current is not None:
            # R2: the billing-account change happens at this instant
            current.close(start, LinkEnd.CHANGED)
            source = self.agreements.get(current.agreement_id)
            if source is not None and not source.ended and source.superseded_at is None:
                source.superseded_at = start
            change = started or self._new_change(tenant.id, start)
            # the source is the agreement whose link this one ends, whatever it was when the change started
            change.from_agreement_id = current.agreement_id
            change.source_ended_at = source.ended_since() if source is not None else None
            change.destination_linked(agreement_id, start)
        elif started is not None:
            started.abort(start)  # nothing paid for the tenant any more: this is a first link, not a change
        # an agreement the tenant had moved away from pays again: it is no longer left to cancel (R2)
        agreement.superseded_at = None
        link = BillingLink(id=new_id(), tenant_id=tenant.id, agreement_id=agreement_id, starts_at=start)
        self._add(link)
        link = self._follow_successors(link)
        if change is not None:
            # verified at once when every service is registered; done too if the source ended first
            self._settle(change, start)
        return LinkResult(link=link, previous_link=current, change=change)

    def _new_change(self, tenant_id: str, at: datetime, destination_account_id: str | None = None) -> AccountChange:
        current = self.open_link_of_tenant(tenant_id)
        change = AccountChange(
            id=new_id(),
            tenant_id=tenant_id,
            from_agreement_id=current.agreement_id if current else None,
            to_agreement_id=None,
            state=ChangeState.STARTED,
            started_at=at,
            updated_at=at,
            destination_account_id=destination_account_id,
        )
        self._add(change)
        return change

    # -- the account change: started, reported, settled from facts -------------------------------------------
    def account_change_of_tenant(self, tenant_id: str) -> AccountChange | None:
        """The tenant's open change (the latest, if several), else its most recent one; None if it never changed."""
        ordered = sorted(
            (c for c in self.changes if c.tenant_id == tenant_id), key=lambda c: (c.open, c.started_at, c.updated_at)
        )
        return ordered[-1] if ordered else None

    def start_account_change(
        self, tenant: Tenant, role: Role, destination_account_id: str | None, at: datetime
    ) -> AccountChange:
        """Someone begins moving the tenant's billing, before the destination is linked.

        Starting again for the same destination changes nothing; for another destination it aborts the
        started change and begins a new one. A change whose destination is linked must end first."""
        _require_billing_role(role)
        destination = parse_account_id(destination_account_id) if destination_account_id is not None else None
        linked = [c for c in self.open_changes_of_tenant(tenant.id) if c.linked]
        if linked:
            raise Conflict(
                f"an account change of this tenant is {linked[-1].state.value}: it must be done before another starts"
            )
        current = self.open_link_of_tenant(tenant.id)
        if current is None:
            raise Conflict("no AWS account pays for this tenant yet: link one instead of changing it")
        paying = self.agreements.get(current.agreement_id)
        if destination is not None and paying is not None and paying.aws_account_id == destination:
            raise Conflict(f"AWS account {destination} already pays for this tenant")
        started = self.started_change_of_tenant(tenant.id)
        if started is not None:
            if started.destination_account_id in (None, destination) or destination is None:
                started.destination_account_id = started.destination_account_id or destination
                return started
            started.abort(at)  # replaced by the change for the other destination
        return self._new_change(tenant.id, at, destination)

    def abort_account_change(self, tenant: Tenant, role: Role, at: datetime) -> AccountChange:
        """Give up the tenant's started change; once the destination is linked there is nothing to abort."""
        _require_billing_role(role)
        change = self.account_change_of_tenant(tenant.id)
        if change is None:
            raise NotFound("this tenant never started an account change")
        change.abort(at)
        return change

    def report_source_cancellation(self, tenant: Tenant, role: Role, agreement_id: str, at: datetime) -> AccountChange:
        """Someone asked AWS to cancel the change's source agreement (the buyer's CancelAgreement, reported by
        ``mplink move``): verified -> source_cancel_pending. A repeat, or a source already ended, changes nothing."""
        _require_billing_role(role)
        mine = [c for c in self.changes if c.tenant_id == tenant.id]
        if not mine:
            raise NotFound("this tenant never started an account change")
        ofsource = sorted(
            (c for c in mine if c.from_agreement_id == agreement_id and c.state is not ChangeState.ABORTED),
            key=lambda c: (c.open, c.started_at, c.updated_at),
        )
        if not ofsource:
            raise Conflict(f"agreement {agreement_id} is not the source of this tenant's account change")
        change = ofsource[-1]
        change.source_cancellation_requested(at)
        return change

    def change_to_end_source(self, tenant: Tenant, role: Role) -> AccountChange:
        """The tenant's change whose source agreement the seller may ask AWS to cancel: verified (every service
        registered under the destination), or already waiting for the source to end."""
        _require_billing_role(role)
        change = self.account_change_of_tenant(tenant.id)
        if change is None:
            raise NotFound("this tenant never started an account change")
        if change.state is ChangeState.DONE:
            raise Conflict("the account change is done: the old subscription has ended already")
        if (
            change.state not in (ChangeState.VERIFIED, ChangeState.SOURCE_CANCEL_PENDING)
            or not change.from_agreement_id
        ):
            raise Conflict(
                f"the account change is {change.state.value}: ask to end the old subscription only after every"
                " service is registered under the destination"
            )
        return change

    def record_cancellation_request(
        self, tenant: Tenant, role: Role, agreement_id: str, request_id: str, status: str, at: datetime
    ) -> AccountChange:
        """The seller sent AWS a cancellation request for ``agreement_id``, the source of the tenant's change."""
        change = self.change_to_end_source(tenant, role)
        if change.from_agreement_id != agreement_id:
            raise Conflict(f"agreement {agreement_id} is not the source of this tenant's account change")
        change.cancellation_request_sent(request_id, status, at)
        return change

    def destination_of(self, change: AccountChange) -> Agreement | None:
        """The agreement that pays for the change's destination now: the linked one, or its successor (R4)."""
        found = self.agreements.get(change.to_agreement_id or "")
        seen: set[str] = set()
        while found is not None and found.replaced_by and found.replaced_by not in seen:
            seen.add(found.agreement_id)
            successor = self.agreements.get(found.replaced_by)
            if successor is None:
                break
            found = successor
        return found

    def _settle(self, change: AccountChange, at: datetime) -> None:
        """Move a linked change as far as the facts allow: verified, then done once the source ended."""
        if change.state is ChangeState.DESTINATION_LINKED:
            destination = self.destination_of(change)
            if destination is not None and services_registered(destination):
                change.destination_verified(at)
        if change.source_ended_at is not None:
            change.source_ended(change.source_ended_at)

    # -- R2-R4, R8: marketplace events ------------------------------------------------------------------
    def apply(self, event: MarketplaceEvent) -> None:
        """Apply one event. Applying any permutation of a set of events, each any number of times,
        leaves the same state (R8): fields are versioned by the event's (time, id) stamp, endings are
        facts that are only ever added, and links move only forward in time."""
        if isinstance(event, AgreementEvent):
            self._apply_agreement(event)
        elif isinstance(event, LicenseEvent):
            self._apply_license(event)
        elif isinstance(event, CancellationRequestEvent):
            for change in self.changes:
                if change.from_agreement_id == event.agreement_id and change.linked:
                    change.cancellation_request_moved(event.request_id, event.status, event.occurred_at)
        else:
            self._apply_legacy(event)
        # an agreement that becomes usable later verifies the change that links it
        for change in self.changes:
            if change.state is ChangeState.DESTINATION_LINKED:
                self._settle(change, event.occurred_at)

    def _apply_agreement(self, ev: AgreementEvent) -> None:
        agreement = self.ensure_agreement(ev.agreement_id)
        # AWS prints event times in whole seconds: within one second, Created < Amended < Ended
        version = stamp(ev.occurred_at, f"{_KIND_RANK[ev.kind]}|{ev.event_id}")
        previous_id = ev.previous_agreement_id
        if previous_id is None and (ev.intent or "").upper() in SUCCESSOR_INTENTS:
            previous_id = agreement.previous_agreement_id or self._predecessor_in_chain(
                ev.initial_agreement_id, ev.agreement_id, ev.starts_at or ev.accepted_at
            )
        agreement.fill(
            product_id=ev.product_id,
            aws_account_id=ev.acceptor_account_id,
            previous_agreement_id=previous_id,
        )
        if ev.kind is not AgreementEventKind.ENDED and agreement.newer("terms", version):
            agreement.offer_id = ev.offer_id or agreement.offer_id
            agreement.proposer_account_id = ev.proposer_account_id or agreement.proposer_account_id
            agreement.resale_authorization_id = ev.resale_authorization_id
            agreement.intent = ev.intent or agreement.intent
            agreement.accepted_at = ev.accepted_at or agreement.accepted_at
            agreement.starts_at = ev.starts_at or agreement.starts_at
            agreement.term_ends_at = ev.ends_at or agreement.term_ends_at
        if ev.status and agreement.newer("status", version):
            agreement.marketplace_status = ev.status
        if ev.kind is AgreementEventKind.ENDED:
            end_status = ev.status or MarketplaceStatus.CANCELLED.value
            # Ended says no end time: it is sent when the agreement ends, and starts the final metering window
            self._record_end(agreement, ev.ends_at or ev.occurred_at, end_status, version)
        if previous_id and (ev.intent or "").upper() in SUCCESSOR_INTENTS:
            self._carry_over(previous_id, agreement, ev.starts_at or ev.accepted_at or ev.occurred_at, version)

    def _predecessor_in_chain(
        self, initial_id: str | None, agreement_id: str, starts_at: datetime | None
    ) -> str | None:
        """R4 from DescribeAgreement's ``initialAgreementId``: the agreement a REPLACE or RENEW follows is the
        latest one of its chain known here that started before it (the chain's first agreement, then its
        successors), so a later replacement delivered first is not taken for an earlier one's predecessor."""
        if not initial_id or initial_id == agreement_id:
            return None
        current = self.ensure_agreement(initial_id)
        seen = {initial_id}
        while current.replaced_by and current.replaced_by != agreement_id and current.replaced_by not in seen:
            successor = self.agreements.get(current.replaced_by)
            if successor is None:
                break
            started = successor.starts_at or successor.accepted_at
            if starts_at is not None and started is not None and started > starts_at:
                break
            seen.add(successor.agreement_id)
            current = successor
        return current.agreement_id

    def _record_end(self, agreement: Agreement, at: datetime, end_status: str, version: str) -> None:
        if agreement.newer("end", version):
            agreement.ended_at = at
            agreement.end_status = end_status
        self._source_ended(agreement)

    def _source_ended(self, agreement: Agreement) -> None:
        """R2: once the superseded agreement has ended, nothing is left for the buyer to cancel."""
        ended_at = agreement.ended_since()
        if ended_at is None:
            return
        for change in self.changes:
            if change.from_agreement_id == agreement.agreement_id:
                change.source_ended_at = ended_at  # the agreement's current end time: later facts may correct it
                self._settle(change, ended_at)

    def _carry_over(self, previous_id: str, successor: Agreement, at: datetime, version: str) -> None:
        """R4: REPLACE (public -> private offer switch) or RENEW hands the tenant's link to the successor."""
        previous = self.ensure_agreement(previous_id)
        if previous.newer("successor", version):
            previous.replaced_by = successor.agreement_id
            previous.replaced_at = at
        # the same buyer and product: events say which agreement follows which, not always of what product
        previous.fill(
            aws_account_id=successor.aws_account_id,
            product_id=successor.product_id,
            product_code=successor.product_code,
        )
        self._share_product(previous)
        old = self.open_link_of_agreement(previous_id)
        if old is not None:
            self._follow_successors(old)

    def _share_product(self, agreement: Agreement) -> None:
        """Successors (R4) are of their predecessor's product: agreement events mostly do not name it."""
        seen = {agreement.agreement_id}
        current = agreement
        while current.replaced_by and current.replaced_by not in seen:
            successor = self.agreements.get(current.replaced_by)
            if successor is None:
                return
            successor.fill(product_id=current.product_id, product_code=current.product_code)
            seen.add(successor.agreement_id)
            current = successor

    def _follow_successors(self, link: BillingLink) -> BillingLink:
        """Move an open link along the chain of replacements, whichever order the events came in."""
        seen = {link.agreement_id}
        while True:
            agreement = self.agreements.get(link.agreement_id)
            if agreement is None or agreement.replaced_by is None or agreement.replaced_by in seen:
                return link
            successor_id = agreement.replaced_by
            seen.add(successor_id)
            if self.open_link_of_agreement(successor_id) is not None:
                return link
            start = max(agreement.replaced_at or link.starts_at, link.starts_at)
            link.close(start, LinkEnd.REPLACED)
            # a change started from the replaced agreement now starts from its successor
            for change in self.changes:
                if change.from_agreement_id == agreement.agreement_id and change.state is ChangeState.STARTED:
                    change.from_agreement_id = successor_id
            link = BillingLink(id=new_id(), tenant_id=link.tenant_id, agreement_id=successor_id, starts_at=start)
            self._add(link)

    def _apply_license(self, ev: LicenseEvent) -> None:
        """License events name their agreement; the LicenseArn they print is not ResolveCustomer's (no
        ``arn:``), so it is never copied onto the agreement: metering sends ResolveCustomer's."""
        facts = self.licenses.get(ev.license_arn)
        if facts is None:
            facts = LicenseFacts(license_arn=ev.license_arn)
            self._add(facts)
        version = stamp(ev.occurred_at, ev.event_id)
        if ev.kind is LicenseEventKind.UPDATED:
            if facts.updated_stamp is None or version > facts.updated_stamp:
                facts.updated_stamp = version
        elif facts.deprovisioned_at is None or ev.occurred_at < facts.deprovisioned_at:
            facts.deprovisioned_at = ev.occurred_at
        if ev.agreement_id:
            agreement = self.ensure_agreement(ev.agreement_id)
            agreement.fill(
                product_code=ev.product_code, product_id=ev.product_id, aws_account_id=ev.acceptor_account_id
            )
            if ev.kind is LicenseEventKind.UPDATED:
                if agreement.newer("entitlements", version):
                    agreement.entitlements_stale = True
            elif agreement.deprovisioned_at is None or ev.occurred_at < agreement.deprovisioned_at:
                agreement.deprovisioned_at = ev.occurred_at
                self._source_ended(agreement)
        for agreement in self.agreements_by_license(ev.license_arn):
            self._sync_side_facts(agreement)

    def _apply_legacy(self, ev: LegacyEvent) -> None:
        key = (ev.product_code, ev.customer_identifier)
        version = stamp(ev.occurred_at, ev.event_id)
        if ev.action is LegacyAction.ENTITLEMENT_UPDATED:
            for agreement in self._agreements_of_customer(*key):
                if agreement.newer("entitlements", version):
                    agreement.entitlements_stale = True
            return
        sub = self.legacy.get(key)
        if sub is None:
            sub = LegacySubscription(
                ev.product_code,
                ev.customer_identifier,
                ev.action.value,
                ev.occurred_at,
                version,
                ev.offer_id,
                ev.free_trial,
            )
            self._add(sub)
        elif version > sub.version:
            sub.action, sub.at, sub.version = ev.action.value, ev.occurred_at, version
            sub.offer_id, sub.free_trial = ev.offer_id or sub.offer_id, ev.free_trial
        for agreement in self._agreements_of_customer(*key):
            self._sync_side_facts(agreement)

    def _agreements_of_customer(self, product_code: str, customer_identifier: str) -> list[Agreement]:
        return [
            a
            for a in self.agreements.values()
            if a.customer_identifier == customer_identifier and a.product_code == product_code
        ]

    def _sync_side_facts(self, agreement: Agreement) -> None:
        """Bring facts kept by LicenseArn or CustomerIdentifier onto the agreement, whichever came first."""
        if agreement.license_arn and (facts := self.licenses.get(agreement.license_arn)):
            if facts.updated_stamp and agreement.newer("entitlements", facts.updated_stamp):
                agreement.entitlements_stale = True
            if facts.deprovisioned_at is not None and (
                agreement.deprovisioned_at is None or facts.deprovisioned_at < agreement.deprovisioned_at
            ):
                agreement.deprovisioned_at = facts.deprovisioned_at
                self._source_ended(agreement)
        if agreement.product_code and agreement.customer_identifier:
            sub = self.legacy.get((agreement.product_code, agreement.customer_identifier))
            if sub is not None:
                agreement.free_trial = agreement.free_trial or sub.free_trial
                if sub.action == LegacyAction.UNSUBSCRIBE_SUCCESS.value:
                    self._record_end(agreement, sub.at, MarketplaceStatus.CANCELLED.value, sub.version)
                elif sub.action != LegacyAction.SUBSCRIBE_FAIL.value and agreement.newer("end", sub.version):
                    # a later subscribe-success means the buyer subscribed again
                    agreement.ended_at = None
                    agreement.end_status = None

"""Stale subscriptions: agreements a tenant left behind when it changed its paying AWS account (R2) that AWS
still runs, and so still bills. The people who chase them (the reseller, the seller's support) list these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mplink.domain.agreement import Agreement
from mplink.domain.billing import LinkEnd
from mplink.domain.ledger import Ledger


@dataclass(frozen=True)
class StaleSubscription:
    tenant_id: str
    aws_account_id: str | None
    agreement_id: str
    offer_id: str | None
    proposer_account_id: str | None
    #: when the tenant linked another agreement instead of this one
    since: datetime

    def age(self, now: datetime) -> timedelta:
        """How long it has been left running; never negative (a clock behind the ledger's says zero)."""
        return max(now - self.since, timedelta(0))


def is_stale(agreement: Agreement, ledger: Ledger) -> bool:
    """Superseded by the tenant (R2), still running at AWS (not ended, not deprovisioned, not replaced by a
    successor: R3/R4), and paying for no tenant now (linked back, it pays again and is not stale)."""
    return agreement.cancellation_pending and ledger.open_link_of_agreement(agreement.agreement_id) is None


def stale_subscriptions(ledger: Ledger) -> list[StaleSubscription]:
    """Every stale subscription the ledger holds, oldest first. The tenant is the one whose link to the
    agreement ended last by a billing-account change."""
    found: list[StaleSubscription] = []
    for agreement in ledger.agreements.values():
        if not is_stale(agreement, ledger) or agreement.superseded_at is None:
            continue
        changed = [
            lk
            for lk in ledger.links
            if lk.agreement_id == agreement.agreement_id and lk.end_reason == LinkEnd.CHANGED.value and lk.ends_at
        ]
        if not changed:
            continue
        last = max(changed, key=lambda lk: (lk.ends_at, lk.starts_at))
        found.append(
            StaleSubscription(
                tenant_id=last.tenant_id,
                aws_account_id=agreement.aws_account_id,
                agreement_id=agreement.agreement_id,
                offer_id=agreement.offer_id,
                proposer_account_id=agreement.proposer_account_id,
                since=agreement.superseded_at,
            )
        )
    return sorted(found, key=lambda s: (s.since, s.agreement_id))

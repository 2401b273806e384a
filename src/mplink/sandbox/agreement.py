"""AWS Marketplace Agreement Service (marketplace-agreement): agreements, agreement requests, cancellations."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from mplink.sandbox.agreement_errors import invalid
from mplink.sandbox.agreement_paging import page as bound_page
from mplink.sandbox.agreement_paging import query_digest
from mplink.sandbox.agreement_search import parse_query
from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.ids import AGREEMENT_TYPE, CATALOG_NAME, RESOURCE_TYPE, new_id, proposal_id, term_ids
from mplink.sandbox.model import SbAgreement, SbRequest, SbToken
from mplink.sandbox.paging import page

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace


class AgreementApi:
    """The agreement service's operations, for buyers (acceptors) and sellers (proposers and manufacturers)."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    def _visible_agreement(self, caller: str, agreement_id: str, *, acceptor_only: bool = False) -> SbAgreement:
        a = self.m.agreements.get(agreement_id)
        parties = (
            {a.account_id}
            if a and acceptor_only
            else ({a.account_id, a.proposer_account_id, self.m.catalog.seller_account_id} if a else set())
        )
        if a is None or caller not in parties:
            raise SandboxError("ResourceNotFoundException", f"Agreement {agreement_id} not found")
        return a

    def _summary(self, a: SbAgreement) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agreementId": a.agreement_id,
            "acceptanceTime": a.acceptance_time,
            "startTime": a.start_time,
            "lastUpdateTime": a.updated_at or a.acceptance_time,
            "agreementType": AGREEMENT_TYPE,
            "acceptor": {"accountId": a.account_id},
            "proposer": {"accountId": a.proposer_account_id},
            "proposalSummary": {"resources": [{"id": a.product_id, "type": RESOURCE_TYPE}], "offerId": a.offer_id},
            "status": a.status,
            "entitlements": [{"licenseArn": a.license_arn}],
            "initialAgreementId": self._initial(a).agreement_id,
        }
        if a.end_time:
            out["endTime"] = a.end_time
        return out

    def _initial(self, a: SbAgreement) -> SbAgreement:
        seen = {a.agreement_id}
        while a.previous_agreement_id and a.previous_agreement_id in self.m.agreements:
            a = self.m.agreements[a.previous_agreement_id]
            if a.agreement_id in seen:
                break
            seen.add(a.agreement_id)
        return a

    def describe_agreement(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            a = self._visible_agreement(caller, p["agreementId"])
            s = self._summary(a)
            out = {k: v for k, v in s.items() if k not in ("entitlements", "lastUpdateTime")}
            out["estimatedCharges"] = {"currencyCode": "USD", "agreementValue": "0.00"}
            return out

    def search_agreements(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """SearchAgreements with the documented filters and combinations only (agreement_search.py).

        SILENT: the default page size; the sandbox answers up to 50 (the model's maximum). As a Proposer the
        catalog's seller also finds the agreements on its resellers' offers, as its manufacturer."""
        with self.m.lock:
            if p.get("catalog", CATALOG_NAME) != CATALOG_NAME:
                raise invalid("INVALID_CATALOG", f"catalog must be {CATALOG_NAME}")
            query = parse_query(p)

            def party(a: SbAgreement) -> bool:
                if query.party == "Acceptor":
                    return a.account_id == caller
                return caller in (a.proposer_account_id, self.m.catalog.seller_account_id)

            found = [s for s in (self._summary(a) for a in self.m.agreements.values() if party(a)) if query.matches(s)]
            found.sort(key=query.sort_key, reverse=query.descending)
            digest = query_digest("SearchAgreements", caller, query.fingerprint)
            items, token = bound_page(found, p.get("nextToken"), p.get("maxResults", 50), digest)
            out: dict[str, Any] = {"agreementViewSummaries": items}
            if token:
                out["nextToken"] = token
            return out

    def _accepted_terms(self, product: Product, offer: Offer) -> list[dict[str, Any]]:
        ids = term_ids(offer)
        rate_card = [
            {"dimensionKey": d.key, "price": offer.price_of(d.key)} for s in product.services for d in s.dimensions
        ]
        return [
            {
                "usageBasedPricingTerm": {
                    "type": "UsageBasedPricingTerm",
                    "id": ids["UsageBasedPricingTerm"],
                    "currencyCode": "USD",
                    "rateCards": [{"rateCard": rate_card}],
                }
            },
            {
                "legalTerm": {
                    "type": "LegalTerm",
                    "id": ids["LegalTerm"],
                    "documents": [{"type": "StandardEula", "url": "https://example.invalid/eula", "version": "1"}],
                }
            },
            {
                "supportTerm": {
                    "type": "SupportTerm",
                    "id": ids["SupportTerm"],
                    "refundPolicy": "Refunds are handled by the seller of record.",
                }
            },
        ]

    def get_agreement_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            a = self._visible_agreement(caller, p["agreementId"])
            product, offer = self.m.offer(a.offer_id)
            terms, token = page(self._accepted_terms(product, offer), p.get("nextToken"), p.get("maxResults", 50))
            out: dict[str, Any] = {"acceptedTerms": terms}
            if token:
                out["nextToken"] = token
            return out

    def create_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            token = p.get("clientToken")
            if token:
                for req in self.m.requests.values():
                    if req.account_id == caller and req.client_token == token:
                        return self._request_out(req)  # idempotent: the same request again
            intent = p["intent"]
            if intent == "AMEND":
                raise validation("intent AMEND is not supported by the sandbox")
            proposal = p.get("agreementProposalIdentifier")
            if not proposal:
                raise validation(f"agreementProposalIdentifier is required for intent {intent}")
            found = next(
                (
                    (prod, o)
                    for prod in self.m.catalog.products
                    for o in prod.offers
                    if proposal_id(o.offer_id) == proposal
                ),
                None,
            )
            if found is None or not self.m.visible(caller, found[1]):
                raise SandboxError("ResourceNotFoundException", f"Agreement proposal {proposal} not found")
            product, offer = found
            known = set(term_ids(offer).values())
            requested = [t["id"] for t in p["requestedTerms"]]
            unknown = [t for t in requested if t not in known]
            if unknown or not requested:
                raise validation(
                    f"requestedTerms: unknown term id {unknown[0]!r}"
                    if unknown
                    else "requestedTerms must name the offer's terms"
                )
            source = p.get("sourceAgreementIdentifier")
            if intent == "REPLACE":
                if not source:
                    raise validation("sourceAgreementIdentifier is required for intent REPLACE")
                src = self.m.agreements.get(source)
                if (
                    src is None
                    or src.account_id != caller
                    or src.status != "ACTIVE"
                    or src.product_id != product.product_id
                ):
                    raise validation(
                        f"sourceAgreementIdentifier {source} is not an active agreement of this account "
                        "for this product"
                    )
            elif any(a.offer_id == offer.offer_id for a in self.m.active_agreements(caller, product.product_id)):
                raise SandboxError(
                    "ConflictException", f"Account {caller} already has an active agreement for offer {offer.offer_id}"
                )
            req = SbRequest(
                request_id=new_id("ar-"),
                account_id=caller,
                offer_id=offer.offer_id,
                intent=intent,
                term_ids=requested,
                created_at=self.m.now(),
                client_token=token,
                source_agreement_id=source,
            )
            self.m.requests[req.request_id] = req
            self.m.save(req)
            return self._request_out(req)

    def _request_out(self, req: SbRequest) -> dict[str, Any]:
        return {
            "agreementRequestId": req.request_id,
            "agreementType": AGREEMENT_TYPE,
            "status": "ACCEPTED" if req.agreement_id else "PENDING_APPROVAL",
            "approvalRequirement": "NOT_REQUIRED",
            "createdAt": req.created_at,
            "chargeSummary": {"currencyCode": "USD", "newAgreementValue": "0.00"},
        }

    def accept_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            req = self.m.requests.get(p["agreementRequestId"])
            if req is None or req.account_id != caller:
                raise SandboxError(
                    "ResourceNotFoundException", f"Agreement request {p['agreementRequestId']} not found"
                )
            if req.agreement_id:
                raise SandboxError(
                    "ConflictException",
                    f"Agreement request {req.request_id} was already accepted as agreement {req.agreement_id}",
                )
            product, offer = self.m.offer(req.offer_id)
            if req.intent == "NEW" and any(
                a.offer_id == offer.offer_id for a in self.m.active_agreements(caller, product.product_id)
            ):
                raise SandboxError(
                    "ConflictException", f"Account {caller} already has an active agreement for offer {offer.offer_id}"
                )
            return {"agreementId": self._accept(req, product, offer).agreement_id}

    def _accept(self, req: SbRequest, product: Product, offer: Offer) -> SbAgreement:
        now = self.m.now()
        source: SbAgreement | None = None
        if req.intent == "REPLACE" and req.source_agreement_id:
            source = self.m.agreements[req.source_agreement_id]
        elif offer.private:
            # holding the public offer and accepting a private one switches the account to it: a REPLACE
            public = [
                a
                for a in self.m.active_agreements(req.account_id, product.product_id)
                if not self.m.offer(a.offer_id)[1].private
            ]
            source = public[0] if public else None
        a = SbAgreement(
            agreement_id=new_id("agmt-", 26),
            account_id=req.account_id,
            product_id=product.product_id,
            offer_id=offer.offer_id,
            proposer_account_id=offer.proposer_account_id,
            intent="REPLACE" if source else "NEW",
            status="ACTIVE",
            acceptance_time=now,
            start_time=now,
            license_arn=f"arn:aws:license-manager::{self.m.catalog.seller_account_id}:license:l-{secrets.token_hex(16)}",
            request_id=req.request_id,
            provisioned_at=now + self.m.settings.provisioning_delay,
            previous_agreement_id=source.agreement_id if source else None,
            customer_identifier=new_id("", 11) if product.legacy else None,
            api_cancellable=offer.api_cancellable,
        )
        req.agreement_id = a.agreement_id
        self.m.agreements[a.agreement_id] = a
        self.m.save(a)
        self.m.save(req)
        if source is not None:
            source.status = "REPLACED"
            source.end_time = now
            self.m.save(source)
            self.m.emit_agreement("Ended", source)
        self.m.emit_agreement("Created", a)
        self.m.emit_legacy("subscribe-success", a)
        self.m.tick()
        return a

    def subscribe(self, account: str, offer_id: str) -> SbAgreement:
        """What the console's "Subscribe" button does: request and accept every term of the offer."""
        with self.m.lock:
            product, offer = self.m.visible_offer(account, offer_id)
            out = self.create_agreement_request(
                account,
                {
                    "intent": "NEW",
                    "agreementProposalIdentifier": proposal_id(offer.offer_id),
                    "requestedTerms": [{"id": t} for t in term_ids(offer).values()],
                },
            )
            req = self.m.requests[out["agreementRequestId"]]
            return self._accept(req, product, offer)

    def get_agreement_entitlements(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            self.m.tick()
            a = self._visible_agreement(caller, p["agreementId"], acceptor_only=True)
            ent: dict[str, Any] = {
                "resource": {"id": a.product_id, "type": RESOURCE_TYPE},
                "type": "SaaS",
                "licenseArn": a.license_arn,
            }
            if a.status != "ACTIVE":
                ent.update(status="DEPROVISIONED", statusReasonCode="AGREEMENT_INACTIVE")
            elif self.m.now() < a.provisioned_at:
                ent.update(status="PENDING", statusReasonCode="PROVISIONING_IN_PROGRESS")
            else:
                ent.update(
                    status="PROVISIONED",
                    statusReasonCode="AGREEMENT_ACTIVE",
                    registrationToken=self.issue_token(a, "api").token,
                )
            return {"agreementEntitlements": [ent]}

    def issue_token(self, a: SbAgreement, origin: str) -> SbToken:
        ttl = self.m.settings.console_token_ttl if origin == "console" else self.m.settings.api_token_ttl
        token = SbToken(
            token=secrets.token_urlsafe(48), agreement_id=a.agreement_id, expires_at=self.m.now() + ttl, origin=origin
        )
        self.m.tokens[token.token] = token
        self.m.save(token)
        return token

    def cancel_agreement(self, caller: str, p: dict[str, Any], *, from_console: bool = False) -> dict[str, Any]:
        with self.m.lock:
            a = self._visible_agreement(caller, p["agreementId"], acceptor_only=True)
            if a.status != "ACTIVE":
                raise SandboxError("ConflictException", f"Agreement {a.agreement_id} is {a.status}, not ACTIVE")
            if not a.api_cancellable and not from_console:
                raise validation(
                    f"Agreement {a.agreement_id} is not eligible for cancellation through the API: "
                    "cancel it in the AWS Marketplace console (Manage -> Actions -> Cancel)"
                )
            self.m.end_agreement(a, "CANCELLED")
            return {}

    def set_cancellable(self, agreement_id: str, cancellable: bool) -> SbAgreement:
        with self.m.lock:
            a = self.m.agreements.get(agreement_id)
            if a is None:
                raise SandboxError("ResourceNotFoundException", f"Agreement {agreement_id} not found")
            a.api_cancellable = cancellable
            self.m.save(a)
            return a

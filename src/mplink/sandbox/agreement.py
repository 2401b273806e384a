"""AWS Marketplace Agreement Service (marketplace-agreement): agreements and the agreement-request lifecycle.

Buyers (acceptors) create agreement requests (intent NEW, REPLACE or AMEND), read, list, cancel and accept
them; accepting one creates an agreement (NEW, REPLACE) or modifies one (AMEND). Sellers and buyers read
agreements (DescribeAgreement, SearchAgreements, GetAgreementTerms). The sources are botocore's
marketplace-agreement model (2020-03-01) and the dev guide pages agreement-apis.html and
work-with-agreement-api-buyer.html; where they are silent, the choice is written in the method's docstring.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from mplink.sandbox.agreement_errors import conflict, invalid, not_found
from mplink.sandbox.agreement_search import parse_query
from mplink.sandbox.agreement_terms import check_amendment, check_new, term_items
from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.ids import AGREEMENT_TYPE, CATALOG_NAME, RESOURCE_TYPE, new_id, proposal_id, term_ids
from mplink.sandbox.model import SbAgreement, SbRequest, SbToken
from mplink.sandbox.paging import page, query_digest, with_next_token

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace

#: [model] CancelAgreementRequest: "cancel an agreement request that is in PENDING_APPROVAL status, or in
#: APPROVED status when no agreement has been created from it"
_CANCELLABLE = ("PENDING_APPROVAL", "APPROVED")
_CLOSED = ("ACCEPTED", "REJECTED", "CANCELLED")


def _fingerprint(p: dict[str, Any]) -> str:
    """A digest of CreateAgreementRequest's parameters other than clientToken."""
    rest = {k: v for k, v in p.items() if k != "clientToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()


class AgreementApi:
    """The agreement service's operations, for buyers (acceptors) and sellers (proposers and manufacturers)."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    # -- agreements ---------------------------------------------------------------------------------------------
    def _visible_agreement(self, caller: str, agreement_id: str, *, acceptor_only: bool = False) -> SbAgreement:
        a = self.m.agreements.get(agreement_id)
        parties = (
            {a.account_id}
            if a and acceptor_only
            else ({a.account_id, a.proposer_account_id, self.m.catalog.seller_account_id} if a else set())
        )
        if a is None or caller not in parties:
            raise not_found("Agreement", agreement_id, f"Agreement {agreement_id} not found")
        return a

    def _summary(self, a: SbAgreement) -> dict[str, Any]:
        """The agreement as SearchAgreements' AgreementViewSummary shows it."""
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
            out["endTime"] = a.end_time  # [model] "null for pay-as-you-go agreements, which don't have end dates"
        if a.acceptor_contact:
            out["includesContactOfType"] = ["ACCEPTOR"]
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
            keep = ("entitlements", "lastUpdateTime", "includesContactOfType")
            out = {k: v for k, v in s.items() if k not in keep}
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
            items, token = page(found, p.get("nextToken"), p.get("maxResults", 50), digest)
            return with_next_token({"agreementViewSummaries": items}, token)

    def get_agreement_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            a = self._visible_agreement(caller, p["agreementId"])
            product, offer = self.m.offer(a.offer_id)
            digest = query_digest("GetAgreementTerms", caller, a.agreement_id)
            terms, token = page(
                term_items(product, offer, a.auto_renew), p.get("nextToken"), p.get("maxResults", 50), digest
            )
            return with_next_token({"acceptedTerms": terms}, token)

    # -- agreement requests ---------------------------------------------------------------------------------------
    def create_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """CreateAgreementRequest. The request starts in DRAFT with ``approvalRequirement`` NOT_REQUIRED: the
        sandbox has no buyer-organisation approvals, and DRAFT is the only status the model's text allows for
        a request no one has to approve (SILENT otherwise).

        clientToken (SILENT beyond "to ensure the idempotency of the request"): the same token from the same
        account with the same parameters returns that request again, as it is now; with other parameters it is
        a ConflictException naming the first request (resourceType AgreementRequest). The model's Conflict
        shape names "the resource involved in the conflict"; IdempotencyConflictException exists only in the
        metering model. Tokens do not expire in the sandbox.
        """
        with self.m.lock:
            token = p.get("clientToken")
            fingerprint = _fingerprint(p)
            if token:
                earlier = next(
                    (r for r in self.m.requests.values() if r.account_id == caller and r.client_token == token), None
                )
                if earlier is not None:
                    if earlier.fingerprint not in (None, fingerprint):
                        raise conflict(
                            "AgreementRequest",
                            earlier.request_id,
                            f"clientToken {token} was used for agreement request {earlier.request_id} with other "
                            "parameters: send a new token for a new request",
                        )
                    return self._create_out(earlier)
            intent = p.get("intent")
            if not intent:
                raise invalid("MISSING_INTENT", "intent is required: NEW, REPLACE or AMEND")
            if intent not in ("NEW", "REPLACE", "AMEND"):
                raise invalid("INVALID_INTENT", f"intent {intent!r} is not NEW, REPLACE or AMEND")
            if not p.get("requestedTerms"):
                raise invalid("MISSING_REQUESTED_TERMS", "requestedTerms must name the terms to accept")
            req = self._amend_request(caller, p) if intent == "AMEND" else self._new_request(caller, intent, p)
            req.client_token = token
            req.fingerprint = fingerprint
            self.m.requests[req.request_id] = req
            self.m.save(req)
            return self._create_out(req)

    def _proposal(self, caller: str, proposal: str) -> tuple[Product, Offer]:
        found = next(
            ((prod, o) for prod in self.m.catalog.products for o in prod.offers if proposal_id(o.offer_id) == proposal),
            None,
        )
        if found is None or not self.m.visible(caller, found[1]):
            # [dev guide] "No agreement proposal found for the given identifier. / The offer is not targeted to
            # the acceptor."
            raise not_found("AgreementProposal", proposal, f"Agreement proposal {proposal} not found")
        return found

    def _new_request(self, caller: str, intent: str, p: dict[str, Any]) -> SbRequest:
        """Intent NEW or REPLACE: an agreement proposal, and for REPLACE the active agreement it replaces.

        [model] sourceAgreementIdentifier "is required for all non-NEW intents ... Don't provide this parameter
        if the intent is NEW"; agreementProposalIdentifier "is required if the intent is not AMEND". The dev
        guide's UNSUPPORTED_ACTION covers a replacing proposal for another resource, or the same proposal."""
        source = p.get("sourceAgreementIdentifier")
        proposal = p.get("agreementProposalIdentifier")
        if intent == "NEW" and source:
            raise invalid(
                "INVALID_SOURCE_AGREEMENT_IDENTIFIER", "do not send sourceAgreementIdentifier with intent NEW"
            )
        if intent == "REPLACE" and not source:
            raise invalid("MISSING_SOURCE_AGREEMENT_IDENTIFIER", "intent REPLACE needs sourceAgreementIdentifier")
        if not proposal:
            raise invalid("MISSING_AGREEMENT_PROPOSAL_IDENTIFIER", f"intent {intent} needs agreementProposalIdentifier")
        product, offer = self._proposal(caller, proposal)
        terms = check_new(offer, p["requestedTerms"])
        if source:
            src = self._visible_agreement(caller, source, acceptor_only=True)
            if src.status != "ACTIVE":
                raise invalid(
                    "INACTIVE_AGREEMENT", f"agreement {source} is {src.status}: only an ACTIVE one is replaced"
                )
            if src.product_id != product.product_id:
                raise invalid(
                    "UNSUPPORTED_ACTION",
                    "the agreement proposal must refer to the same resource as the source agreement",
                )
            if src.offer_id == offer.offer_id:
                raise invalid("UNSUPPORTED_ACTION", "the agreement proposal must differ from the source agreement")
        else:
            self._refuse_second_agreement(caller, product, offer)
        return SbRequest(
            request_id=new_id("ar-"),
            account_id=caller,
            offer_id=offer.offer_id,
            intent=intent,
            term_ids=terms.term_ids,
            created_at=self.m.now(),
            source_agreement_id=source,
            requested_terms=list(p["requestedTerms"]),
            auto_renew=terms.auto_renew,
            acceptor_contact=p.get("acceptorContact"),
        )

    def _refuse_second_agreement(self, caller: str, product: Product, offer: Offer) -> None:
        """The sandbox's own rule: one active agreement per account and offer (several per product are fine)."""
        held = next(
            (a for a in self.m.active_agreements(caller, product.product_id) if a.offer_id == offer.offer_id), None
        )
        if held is not None:
            raise conflict(
                "Agreement",
                held.agreement_id,
                f"Account {caller} already has an active agreement for offer {offer.offer_id}: {held.agreement_id}",
            )

    def _amend_request(self, caller: str, p: dict[str, Any]) -> SbRequest:
        """Intent AMEND: new configurations for terms of an ACTIVE agreement the caller accepted.

        [dev guide work-with-agreement-api-buyer, "Amend an existing agreement"] "set intent to AMEND and
        provide sourceAgreementIdentifier. Unlike a new agreement, no agreementProposalIdentifier is needed.
        Only include the terms whose configuration you want to change." [model] acceptorContact: "Don't provide
        this parameter if the intent is AMEND." The dev guide's reasons: INVALID_AGREEMENT_PROPOSAL_IDENTIFIER
        ("provided for an intent that does not require one (such as AMEND)"), MISSING_SOURCE_AGREEMENT_IDENTIFIER.
        A non-ACTIVE agreement is INACTIVE_AGREEMENT (enum only). What may change is agreement_terms.py's."""
        if p.get("agreementProposalIdentifier"):
            raise invalid(
                "INVALID_AGREEMENT_PROPOSAL_IDENTIFIER", "do not send agreementProposalIdentifier with intent AMEND"
            )
        if p.get("acceptorContact"):
            raise invalid("INVALID_ACCEPTOR_CONTACT", "do not send acceptorContact with intent AMEND")
        source = p.get("sourceAgreementIdentifier")
        if not source:
            raise invalid("MISSING_SOURCE_AGREEMENT_IDENTIFIER", "intent AMEND needs sourceAgreementIdentifier")
        a = self._visible_agreement(caller, source, acceptor_only=True)
        if a.status != "ACTIVE":
            raise invalid("INACTIVE_AGREEMENT", f"agreement {source} is {a.status}: only an ACTIVE one is amended")
        _, offer = self.m.offer(a.offer_id)
        terms = check_amendment(offer, a.auto_renew, p["requestedTerms"])
        return SbRequest(
            request_id=new_id("ar-"),
            account_id=caller,
            offer_id=a.offer_id,
            intent="AMEND",
            term_ids=terms.term_ids,
            created_at=self.m.now(),
            source_agreement_id=a.agreement_id,
            requested_terms=list(p["requestedTerms"]),
            auto_renew=terms.auto_renew,
        )

    def _own_request(self, caller: str, request_id: str) -> SbRequest:
        """[dev guide] ResourceNotFound AgreementRequest: "No agreement request found for the given identifier.
        / The agreement request belongs to another caller." """
        req = self.m.requests.get(request_id)
        if req is None or req.account_id != caller:
            raise not_found("AgreementRequest", request_id, f"Agreement request {request_id} not found")
        return req

    def _charge_summary(self) -> dict[str, Any]:
        """Pay-as-you-go terms charge nothing up front."""
        return {"currencyCode": "USD", "newAgreementValue": "0.00"}

    def _create_out(self, req: SbRequest) -> dict[str, Any]:
        """CreateAgreementRequestOutput."""
        return {
            "agreementRequestId": req.request_id,
            "agreementType": AGREEMENT_TYPE,
            "chargeSummary": self._charge_summary(),
            "status": req.status,
            "approvalRequirement": "NOT_REQUIRED",
            "createdAt": req.created_at,
        }

    def _request_agreement_id(self, req: SbRequest) -> str | None:
        """[model] "The unique identifier of the agreement that the agreement request is for." SILENT before
        acceptance: an AMEND request is for its source agreement from the start; NEW and REPLACE requests get
        the agreement that accepting them creates."""
        return req.agreement_id or (req.source_agreement_id if req.intent == "AMEND" else None)

    def _proposal_summary(self, req: SbRequest) -> dict[str, Any]:
        product, _ = self.m.offer(req.offer_id)
        return {"resources": [{"id": product.product_id, "type": RESOURCE_TYPE}], "offerId": req.offer_id}

    def get_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """GetAgreementRequest, for the buyer that made the request (the sandbox has no AWS organisations)."""
        with self.m.lock:
            req = self._own_request(caller, p["agreementRequestId"])
            _, offer = self.m.offer(req.offer_id)
            out: dict[str, Any] = {
                "agreementRequestId": req.request_id,
                "agreementType": AGREEMENT_TYPE,
                "status": req.status,
                "approvalRequirement": "NOT_REQUIRED",
                "agreementId": self._request_agreement_id(req),
                "intent": req.intent,
                "createdAt": req.created_at,
                "chargeSummary": self._charge_summary(),
                "proposer": {"accountId": offer.proposer_account_id},
                "proposalSummary": self._proposal_summary(req),
            }
            return {k: v for k, v in out.items() if v is not None}

    def list_agreement_requests(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """ListAgreementRequests: the caller's requests, filtered by catalog, status and resourceId (the
        product). [model] maxResults "Default is 20." SILENT on the order: oldest first, so pages stay stable
        while new requests are made."""
        with self.m.lock:
            catalog, status, resource = p.get("catalog"), p.get("status"), p.get("resourceId")
            found = []
            for req in sorted(self.m.requests.values(), key=lambda r: (r.created_at, r.request_id)):
                summary = self._proposal_summary(req)
                if (
                    req.account_id != caller
                    or catalog not in (None, CATALOG_NAME)
                    or status not in (None, req.status)
                    or resource not in (None, summary["resources"][0]["id"])
                ):
                    continue
                item: dict[str, Any] = {
                    "agreementRequestId": req.request_id,
                    "agreementType": AGREEMENT_TYPE,
                    "status": req.status,
                    "agreementId": self._request_agreement_id(req),
                    "proposalSummary": summary,
                }
                found.append({k: v for k, v in item.items() if v is not None})
            digest = query_digest("ListAgreementRequests", caller, catalog, status, resource)
            items, token = page(found, p.get("nextToken"), p.get("maxResults", 20), digest)
            return with_next_token({"items": items}, token)

    def cancel_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """CancelAgreementRequest. [model] only "PENDING_APPROVAL status, or ... APPROVED status when no
        agreement has been created from it". SILENT for the others: DRAFT, ACCEPTED and REJECTED are a
        ConflictException (resourceType AgreementRequest); an already CANCELLED one answers 200, as the model
        marks the operation idempotent. Without approvals no request of the sandbox is ever cancellable."""
        with self.m.lock:
            req = self._own_request(caller, p["agreementRequestId"])
            if req.status == "CANCELLED":
                return {}
            if req.status not in _CANCELLABLE or req.agreement_id:
                raise conflict(
                    "AgreementRequest",
                    req.request_id,
                    f"Agreement request {req.request_id} is {req.status}: only a request PENDING_APPROVAL, or "
                    "APPROVED with no agreement made from it, can be cancelled",
                )
            req.status = "CANCELLED"
            self.m.save(req)
            return {}

    def get_agreement_request_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """GetAgreementRequestTerms: [model] "The terms are fixed when the agreement request is created." These
        are the terms the request named, with the configuration it asked for. SILENT: the default page size
        (maxResults is 10..50); the sandbox answers up to 50."""
        with self.m.lock:
            req = self._own_request(caller, p["agreementRequestId"])
            product, offer = self.m.offer(req.offer_id)
            terms = term_items(product, offer, req.auto_renew, only=req.term_ids)
            digest = query_digest("GetAgreementRequestTerms", caller, req.request_id)
            items, token = page(terms, p.get("nextToken"), p.get("maxResults", 50), digest)
            return with_next_token({"terms": items}, token)

    def accept_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """AcceptAgreementRequest: [model] returns "the agreement created or modified by accepting the agreement
        request".

        SILENT per status (ops brief's inference): PENDING_APPROVAL is PENDING_APPROVAL_AGREEMENT_REQUEST;
        ACCEPTED, REJECTED and CANCELLED are CLOSED_AGREEMENT_REQUEST, so accepting twice never makes a second
        agreement. [dev guide] ResourceNotFound AgreementRequest when "The agreement request has been
        superseded by a subsequent accepted request on the same product or offer". The sandbox's requests have
        no charges, so any purchaseOrders entry names an unknown charge (INVALID_CHARGE_ID)."""
        with self.m.lock:
            req = self._own_request(caller, p["agreementRequestId"])
            if req.status == "PENDING_APPROVAL":
                raise invalid(
                    "PENDING_APPROVAL_AGREEMENT_REQUEST", f"agreement request {req.request_id} awaits approval"
                )
            if req.status in _CLOSED:
                made = f" (agreement {req.agreement_id})" if req.agreement_id else ""
                raise invalid(
                    "CLOSED_AGREEMENT_REQUEST", f"agreement request {req.request_id} is already {req.status}{made}"
                )
            if req.superseded_by:
                raise not_found(
                    "AgreementRequest",
                    req.request_id,
                    f"Agreement request {req.request_id} was superseded by accepted request {req.superseded_by}",
                )
            for order in p.get("purchaseOrders") or []:
                raise invalid("INVALID_CHARGE_ID", f"charge {order['chargeId']} is not a charge of this request")
            product, offer = self.m.offer(req.offer_id)
            if req.intent == "AMEND":
                return {"agreementId": self._amend(req).agreement_id}
            if req.source_agreement_id:
                src = self.m.agreements[req.source_agreement_id]
                if src.status != "ACTIVE":
                    raise invalid(
                        "INACTIVE_AGREEMENT", f"agreement {src.agreement_id} is {src.status}: it cannot be replaced"
                    )
            else:
                self._refuse_second_agreement(caller, product, offer)
            return {"agreementId": self._accept(req, product, offer).agreement_id}

    def _close(self, req: SbRequest, agreement_id: str) -> None:
        """The request is ACCEPTED; the caller's other DRAFT requests for the same product are superseded."""
        req.status = "ACCEPTED"
        req.agreement_id = agreement_id
        self.m.save(req)
        product_id = self.m.offer(req.offer_id)[0].product_id
        for other in self.m.requests.values():
            if (
                other is not req
                and other.account_id == req.account_id
                and other.status == "DRAFT"
                and not other.superseded_by
                and self.m.offer(other.offer_id)[0].product_id == product_id
            ):
                other.superseded_by = req.request_id
                self.m.save(other)

    def _amend(self, req: SbRequest) -> SbAgreement:
        """Apply an AMEND request: the same agreement (same id, still ACTIVE) with the new configuration, its
        lastUpdateTime moved, and ``Purchase Agreement Amended`` sent.

        The agreement keeps its id: [model] Intent "AMEND – Modifies an existing agreement", AcceptAgreementRequest
        returns "the agreement created or modified", and the seller guide's Amended example carries the
        agreement's own id with ``"intent": "AMEND"``. (AWS's sample code prints "New AgreementId"; print text only.)
        """
        assert req.source_agreement_id is not None
        a = self.m.agreements[req.source_agreement_id]
        if a.status != "ACTIVE":
            raise invalid("INACTIVE_AGREEMENT", f"agreement {a.agreement_id} is {a.status}: it cannot be amended")
        a.auto_renew = req.auto_renew
        a.intent = "AMEND"
        self.m.save(a)
        self._close(req, a.agreement_id)
        self.m.emit_agreement("Amended", a)
        return a

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
            auto_renew=req.auto_renew,
            acceptor_contact=req.acceptor_contact,
        )
        self.m.agreements[a.agreement_id] = a
        self.m.save(a)
        self._close(req, a.agreement_id)
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
                raise conflict("Agreement", a.agreement_id, f"Agreement {a.agreement_id} is {a.status}, not ACTIVE")
            if not a.api_cancellable and not from_console:
                raise invalid(
                    "UNSUPPORTED_ACTION",
                    f"Agreement {a.agreement_id} is not eligible for cancellation through the API: "
                    "cancel it in the AWS Marketplace console (Manage -> Actions -> Cancel)",
                )
            self.m.end_agreement(a, "CANCELLED")
            return {}

    def set_cancellable(self, agreement_id: str, cancellable: bool) -> SbAgreement:
        with self.m.lock:
            a = self.m.agreements.get(agreement_id)
            if a is None:
                raise not_found("Agreement", agreement_id, f"Agreement {agreement_id} not found")
            a.api_cancellable = cancellable
            self.m.save(a)
            return a

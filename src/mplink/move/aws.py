"""The buyer's AWS calls for ``mplink move``: one boto3 session per AWS profile, acting as that account
through STS, Organizations, Marketplace Discovery and Marketplace Agreement. Every failure becomes an
``AwsCallFailed`` that keeps AWS's error code, so the runner decides on codes, not on botocore types."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from mplink.aws_session import new_session
from mplink.move.errors import AwsCallFailed, MoveRefused

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_REGION = "us-east-1"
T = TypeVar("T")


def _endpoint() -> str | None:
    return os.environ.get("MPLINK_AWS_ENDPOINT_URL") or None


def _call(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise AwsCallFailed(f"{what} failed: {exc}", code) from exc
    except BotoCoreError as exc:
        raise AwsCallFailed(f"{what} failed: {exc}") from exc


@dataclass
class BuyerAccount:
    """One AWS profile: which account it is, and the buyer's calls made as that account."""

    profile: str
    session: boto3.session.Session
    account_id: str
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, profile: str) -> BuyerAccount:
        """Sign in with the profile (STS GetCallerIdentity) to learn its account id."""
        try:
            session = new_session(profile_name=profile)
        except ProfileNotFound as exc:
            raise MoveRefused(
                "AWS profile '{profile}' not found in the AWS config or credentials files", profile=profile
            ) from exc
        try:
            sts = session.client("sts", region_name=_REGION, endpoint_url=_endpoint(), config=_CONFIG)
            identity = sts.get_caller_identity()
        except NoCredentialsError as exc:
            raise MoveRefused("AWS profile '{profile}' has no credentials", profile=profile) from exc
        except (ClientError, BotoCoreError) as exc:
            raise MoveRefused("AWS profile '{profile}' cannot sign in: {reason}", profile=profile, reason=exc) from exc
        return cls(profile, session, str(identity["Account"]))

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=_REGION, endpoint_url=_endpoint(), config=_CONFIG
            )
        return self._clients[service]

    # -- read-only -----------------------------------------------------------------------------------------
    def organization_id(self) -> str | None:
        """The account's AWS Organization, when it may read it; None otherwise."""
        try:
            org = self.client("organizations").describe_organization()
        except (ClientError, BotoCoreError):
            return None
        return str(org["Organization"]["Id"])

    def purchase_options(self, product_id: str) -> list[dict[str, Any]]:
        """Every offer of the product this account may buy (ListPurchaseOptions, all pages)."""
        disc = self.client("marketplace-discovery")
        options: list[dict[str, Any]] = []
        params: dict[str, Any] = {"filters": [{"filterType": "PRODUCT_ID", "filterValues": [product_id]}]}
        while True:
            page = _call("ListPurchaseOptions", lambda: disc.list_purchase_options(**params))
            options += page.get("purchaseOptions", [])
            if not page.get("nextToken"):
                return options
            params["nextToken"] = page["nextToken"]

    def offer(self, offer_id: str) -> dict[str, Any]:
        disc = self.client("marketplace-discovery")
        result: dict[str, Any] = _call("GetOffer", lambda: disc.get_offer(offerId=offer_id))
        return result

    def offer_term_ids(self, offer_id: str) -> list[str]:
        """The ids of the offer's terms, all of which a new agreement requests."""
        disc = self.client("marketplace-discovery")
        terms = _call("GetOfferTerms", lambda: disc.get_offer_terms(offerId=offer_id))["offerTerms"]
        return [str(next(iter(t.values()))["id"]) for t in terms]

    def active_agreements(self, product_id: str, offer_id: str | None = None) -> list[dict[str, Any]]:
        """This account's active agreements for the product (optionally one offer), newest first.

        As acceptor, SearchAgreements allows ``AgreementType + ResourceIdentifier + Status`` but not with
        OfferId as well (botocore's SearchAgreements documentation lists the combinations), so the offer
        is picked out of the product's agreements here. Every page is read."""
        filters = [
            {"name": "PartyType", "values": ["Acceptor"]},
            {"name": "AgreementType", "values": ["PurchaseAgreement"]},
            {"name": "ResourceIdentifier", "values": [product_id]},
            {"name": "Status", "values": ["ACTIVE"]},
        ]
        agr = self.client("marketplace-agreement")
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"catalog": "AWSMarketplace", "filters": filters}
        while True:
            out = _call("SearchAgreements", lambda: agr.search_agreements(**params))
            found.extend(out.get("agreementViewSummaries", []))
            if not out.get("nextToken"):
                break
            params["nextToken"] = out["nextToken"]
        if offer_id:
            found = [s for s in found if s.get("proposalSummary", {}).get("offerId") == offer_id]
        return sorted(found, key=lambda s: s["acceptanceTime"], reverse=True)

    def entitlements(self, agreement_id: str) -> list[dict[str, Any]]:
        agr = self.client("marketplace-agreement")
        result = _call("GetAgreementEntitlements", lambda: agr.get_agreement_entitlements(agreementId=agreement_id))
        return list(result["agreementEntitlements"])

    def agreement_status(self, agreement_id: str) -> str:
        agr = self.client("marketplace-agreement")
        return str(_call("DescribeAgreement", lambda: agr.describe_agreement(agreementId=agreement_id)).get("status"))

    # -- writes ----------------------------------------------------------------------------------------------
    def create_agreement_request(self, params: dict[str, Any]) -> str:
        """CreateAgreementRequest; its ``clientToken`` makes a repeat return the same request."""
        agr = self.client("marketplace-agreement")
        req = _call("CreateAgreementRequest", lambda: agr.create_agreement_request(**params))
        return str(req["agreementRequestId"])

    def agreement_request(self, request_id: str) -> dict[str, Any]:
        """GetAgreementRequest: the request's status and, once accepted, the agreement it made."""
        agr = self.client("marketplace-agreement")
        return dict(_call("GetAgreementRequest", lambda: agr.get_agreement_request(agreementRequestId=request_id)))

    def accept_agreement_request(self, request_id: str) -> str:
        agr = self.client("marketplace-agreement")
        accepted = _call("AcceptAgreementRequest", lambda: agr.accept_agreement_request(agreementRequestId=request_id))
        return str(accepted["agreementId"])

    def cancel_agreement(self, agreement_id: str) -> None:
        agr = self.client("marketplace-agreement")
        _call("CancelAgreement", lambda: agr.cancel_agreement(agreementId=agreement_id))

    def accept_cancellation_request(self, agreement_id: str, request_id: str) -> None:
        """AcceptAgreementCancellationRequest: the buyer approves the seller's request to end the agreement."""
        agr = self.client("marketplace-agreement")
        _call(
            "AcceptAgreementCancellationRequest",
            lambda: agr.accept_agreement_cancellation_request(
                agreementId=agreement_id, agreementCancellationRequestId=request_id
            ),
        )

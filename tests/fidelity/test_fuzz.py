"""No request to the sandbox, however malformed, gets a 5xx; after the fuzzing its control API still answers.

Bodies are built by hypothesis from each operation's input shape in botocore's installed model, valid and invalid
values mixed at every level (members of the wrong type, out-of-range numbers, strings off their pattern, unknown
members, NaN and infinite numbers), and sent over the protocols the model lists for the service, as any of the
catalog's accounts. The number of examples per operation is bounded and the run derandomized, so CI sees the same
requests every time.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.buyer import subscribe
from tests.support.model_cases import (
    NOW,
    encode,
    operation,
    operations,
    post,
    protocols_of,
    python_regex,
    sample,
    valid_string,
)
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_CODE,
    PRODUCT_ID,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
)

EXAMPLES_PER_OPERATION = 25

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _number(shape: Shape) -> st.SearchStrategy[Any]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    near = st.integers(
        min_value=(low - 2) if low is not None else -10, max_value=(high + 2) if high is not None else 10_000
    )
    return near | st.integers() | st.floats(allow_nan=True, allow_infinity=True)


def _string(shape: Shape, known: list[str], clean: bool) -> st.SearchStrategy[Any]:
    meta, enum = shape.metadata, getattr(shape, "enum", None)
    options = [*[st.just(valid_string(shape))] * 3]
    if not clean:
        options.append(st.text(max_size=min(meta.get("max", 40), 40)))
    if known:
        options += [st.sampled_from(known)] * 4
    if enum:
        options += [st.sampled_from(enum)] * 4
    if "pattern" in meta and not clean:
        options.append(st.from_regex(python_regex(meta["pattern"])).map(lambda s: s[: meta.get("max", 200)]))
    return st.one_of(*options)


def _timestamp() -> st.SearchStrategy[Any]:
    near = st.integers(min_value=-3 * 86_400, max_value=3600).map(lambda s: NOW.timestamp() + s)
    return near | st.floats() | st.text(max_size=25) | st.integers()


def body_for(
    shape: Shape, known: dict[str, list[str]], name: str = "", depth: int = 0, clean: bool = False
) -> st.SearchStrategy[Any]:
    """Values for ``shape``: ``known`` gives real identifiers by member name, so that requests reach the operation's
    own rules. Below the top, a one-in-sixteen chance of something else entirely, unless ``clean``; a clean value
    holds only the required members (and those with known values), valid. The top level mixes both."""
    t = shape.type_name
    if depth > 5:
        return st.none()
    if t == "structure":
        members = shape.members
        required = {n: body_for(members[n], known, n, depth + 1, clean) for n in shape.required_members}
        optional = {
            n: body_for(m, known, n, depth + 1, clean)
            for n, m in members.items()
            if n not in required and (not clean or n in known)
        }
        if shape.metadata.get("union"):
            valid: st.SearchStrategy[Any] = st.one_of(
                *[st.fixed_dictionaries({n: s}) for n, s in {**required, **optional}.items()]
            )
        else:
            valid = st.fixed_dictionaries(required, optional=optional)
        if not clean:
            valid = valid | st.fixed_dictionaries({}, optional={**required, **optional, "notAMember": _ANY_JSON})
    elif t == "list":
        high = min(shape.metadata.get("max", 4), 4)
        low = max(shape.metadata.get("min", 0), 1 if clean else 0)
        valid = st.lists(body_for(shape.member, known, name, depth + 1, clean), min_size=low, max_size=max(high, low))
    elif t == "map":
        key = _string(shape.key, [], clean)
        valid = st.dictionaries(key, body_for(shape.value, known, name, depth + 1, clean), max_size=3)
    elif t == "string":
        valid = _string(shape, known.get(name, []), clean)
    elif t in ("integer", "long", "float", "double"):
        valid = st.just(sample(shape)) if clean else _number(shape)
    elif t == "boolean":
        valid = st.booleans()
    elif t == "timestamp":
        valid = st.integers(min_value=-3600, max_value=0).map(lambda s: NOW.timestamp() + s) if clean else _timestamp()
    else:
        valid = _ANY_JSON
    if depth == 0:
        return valid if clean else valid | body_for(shape, known, name, depth, clean=True)
    return valid if clean else st.one_of(*[valid] * 15, _ANY_JSON)


def real_identifiers(sb: RunningSandbox) -> dict[str, list[str]]:
    """A buyer subscribed, an agreement request pending: their identifiers, by the member names that carry them."""
    agreement_id = subscribe(sb, DST, PRIVATE_OFFER)
    agreements, discovery = sb.client("marketplace-agreement", DST), sb.client("marketplace-discovery", DST)
    entitlement = agreements.get_agreement_entitlements(agreementId=agreement_id)["agreementEntitlements"][0]
    proposal = discovery.get_offer(offerId=PUBLIC_OFFER)["agreementProposalId"]
    terms = [next(iter(t.values())) for t in discovery.get_offer_terms(offerId=PUBLIC_OFFER)["offerTerms"]]
    pending = agreements.create_agreement_request(
        intent="NEW", agreementProposalIdentifier=proposal, requestedTerms=[{"id": t["id"]} for t in terms]
    )["agreementRequestId"]
    dimensions = [c["dimensionKey"] for t in terms for card in t.get("rateCards", []) for c in card["rateCard"]]
    accounts = [DST, SRC, SELLER]
    return {
        "agreementId": [agreement_id],
        "sourceAgreementIdentifier": [agreement_id],
        "LicenseArn": [entitlement["licenseArn"]],
        "RegistrationToken": [entitlement["registrationToken"]],
        "ProductCode": [PRODUCT_CODE],
        "productId": [PRODUCT_ID],
        "offerId": [PUBLIC_OFFER, PRIVATE_OFFER],
        "agreementProposalIdentifier": [proposal],
        "agreementRequestId": [pending],
        "id": [t["id"] for t in terms],
        "Dimension": dimensions,
        "CustomerAWSAccountId": accounts,
        "catalog": ["AWSMarketplace"],
        "name": ["PartyType", "AgreementType", "Status", "ResourceIdentifier", "OfferId", "AcceptorAccountId"],
        "values": ["Acceptor", "Proposer", "PurchaseAgreement", "ACTIVE", PRODUCT_ID, PUBLIC_OFFER, *accounts],
        "filterValues": [PRODUCT_ID, "OFFER", "PUBLIC", "PRIVATE"],
    }


OPS = operations()


@pytest.mark.parametrize("op", OPS, ids=[f"{s}.{o}" for s, o in OPS])
def test_no_request_gets_a_server_error(op: tuple[str, str], running_sandbox: RunningSandbox) -> None:
    """botocore's model for the operation shapes the bodies; whatever arrives, the answer is a 2xx or a 4xx with
    an x-amzn-RequestId, and the sandbox's control API still answers afterwards."""
    service, name = op
    shape = operation(service, name).input_shape
    wires = protocols_of(service)
    known = real_identifiers(running_sandbox)
    seen: list[int] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        body=body_for(shape, known) if shape is not None else _ANY_JSON,
        wire=st.sampled_from(wires),
        account=st.sampled_from([SELLER, SRC, DST]),
    )
    def fuzz(body: Any, wire: str, account: str) -> None:
        response = post(running_sandbox.url, service, name, encode(body, wire), account, wire)
        seen.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.content[:2000], body)
        assert response.headers.get("x-amzn-requestid")

    fuzz()
    assert seen and running_sandbox.control("GET", "health")["status"] == "ok"

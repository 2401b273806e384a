"""Catalog files: the shipped seed scenario, and refusal of bad files naming the line or field at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mplink.adapters.catalog_file import load_catalog, parse_catalog, seed_catalog_text
from mplink.domain.errors import InvalidCatalog


def seed() -> dict[str, Any]:
    return json.loads(seed_catalog_text())


def test_seed_scenario() -> None:
    catalog = load_catalog()
    (product,) = catalog.products
    assert product.title == "Trend Micro Cloud One"
    assert [s.name for s in product.services] == [
        "Workload Security",
        "Container Security",
        "File Storage Security",
        "Application Security",
        "Network Security",
        "Conformity",
        "Account and Identity Management",
    ]
    public, private = product.offers
    assert (public.name, public.private) == ("Trend Micro for SaaS", False)
    assert private.name == "Classmethod, Inc. for SaaS 2026-01-01- Private Offer" and private.private
    assert private.proposer_account_id != catalog.seller_account_id and private.resale_authorization_id
    assert [b.account_id for b in catalog.buyer_accounts] == ["111111111111", "222222222222"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(seller_account_id="12"), "seller_account_id: String should match pattern"),
        (
            lambda c: c["products"][0]["offers"][1].update(proposer_account_id="x"),
            "products[0].offers[1].proposer_account_id",
        ),
        (lambda c: c["products"][0]["offers"][1].pop("resale_authorization_id"), "needs a resale_authorization_id"),
        (lambda c: c["products"][0]["offers"][1].update(buyer_account_ids=[]), "must name the buyer_account_ids"),
        (lambda c: c["products"][0]["offers"].append(dict(c["products"][0]["offers"][0])), "duplicate offer ids"),
        (lambda c: c["products"][0]["services"][0]["dimensions"][0].update(key="bad key!"), "dimensions[0].key"),
        (lambda c: c["products"][0].update(fulfillment_url="ftp://x"), "products[0].fulfillment_url"),
        (lambda c: c["products"][0].update(colour="blue"), "products[0].colour: Extra inputs are not permitted"),
        (lambda c: c.update(products=[]), "products: List should have at least 1 item"),
    ],
)
def test_bad_catalogs_name_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = seed()
    mutate(data)
    with pytest.raises(InvalidCatalog) as exc:
        parse_catalog(json.dumps(data), "c.json")
    assert message in exc.value.message and exc.value.message.startswith("c.json: ")


def test_syntax_error_names_the_line() -> None:
    text = seed_catalog_text().replace('"title": "Trend Micro Cloud One",', '"title": "Trend Micro Cloud One"', 1)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if '"title": "Trend Micro Cloud One"' in s) + 1
    with pytest.raises(InvalidCatalog, match=rf"^c.json: line {line}, column \d+: Expecting ','"):
        parse_catalog(text, "c.json")


def test_missing_file() -> None:
    with pytest.raises(InvalidCatalog, match="no such file"):
        load_catalog("/nonexistent/catalog.json")


def test_both_readers_take_the_sandbox_settings_of_an_offer() -> None:
    """A catalog file serves the seller and the sandbox alike: an offer's ``renewal_term`` (the sandbox's
    RenewalTerm, amendable with intent AMEND) is read by the sandbox and accepted by the seller's reader."""
    from mplink.sandbox.catalog import read_catalog

    data = seed()
    data["products"][0]["offers"][0]["renewal_term"] = True
    text = json.dumps(data)
    assert parse_catalog(text).products[0].offers[0].offer_id == data["products"][0]["offers"][0]["offer_id"]
    assert read_catalog(text).products[0].offers[0].renewal_term is True
    assert read_catalog(seed_catalog_text()).products[0].offers[0].renewal_term is False

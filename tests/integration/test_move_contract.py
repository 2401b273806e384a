"""`mplink move apply` when the old subscription is on a contract offer its buyer cannot cancel (AWS refuses
CancelAgreement): move asks the seller, through the seller's API, to send AWS's agreement cancellation request,
accepts it with the source account's credentials, and the change completes. It says which case applies, in both
languages; the sandbox's call log shows one request sent and one accepted. In this process, against the sandbox
(with the contract offer in its catalog) and a running seller that gets the sandbox's events over HTTP.

AWS sources: botocore's marketplace-agreement model (2020-03-01): CancelAgreement, SendAgreementCancellationRequest
(``reasonCode`` REPLACING_AGREEMENT) and AcceptAgreementCancellationRequest; the developer guide's "Using the AWS
Marketplace Agreement API" (agreement-apis.html) for who may cancel and who must ask the seller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.move_world import MoveWorld, make_move_world
from tests.support.sandbox_fixtures import CONTRACT_OFFER, DST, SELLER, SRC, contract_catalog_text


@pytest.fixture
def move_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[MoveWorld]:
    yield from make_move_world(tmp_path, monkeypatch, capsys, contract_catalog_text(), CONTRACT_OFFER)


def calls(w: MoveWorld, operation: str) -> list[tuple[str, str]]:
    found = w.world.sandbox.control("GET", "calls", params={"operation": operation})
    return [(c["account_id"], c["outcome"]) for c in found]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_apply_ends_a_contract_through_the_sellers_cancellation_request(move_world: MoveWorld, lang: str) -> None:
    w = move_world
    state = str(w.tmp / "move.json")
    offer = {"--offer-name": "", "--offer-id": CONTRACT_OFFER}
    applied = w.run("apply", "--yes", "--state", state, "--wait", "60", "--lang", lang, **offer)
    assert applied.code == 0, applied.err + applied.out
    request = w.account_change()["cancellation_request"]
    if lang == "en":
        assert (
            "AWS does not let the buyer cancel this subscription: the seller sent a cancellation request "
            f"({request['id']}) and AWS account 1111-1111-1111 accepted it." in applied.out
        )
        assert "Done: 2222-2222-2222 pays for tenant" in applied.out
    else:
        assert f"販売者がキャンセルリクエスト ({request['id']}) を送信し" in applied.out
    change = w.account_change()
    assert change["state"] == "done" and request == {"id": request["id"], "status": "APPROVED"}
    sub = w.world.seller.subscription()
    assert sub["aws_account_id"] == DST and sub["pending_cancellations"] == []
    assert calls(w, "CancelAgreement") == [(SRC, "ValidationException")]  # the buyer may not: the case is told
    assert calls(w, "SendAgreementCancellationRequest") == [(SELLER, "ok")]
    assert calls(w, "AcceptAgreementCancellationRequest") == [(SRC, "ok")]

    again = w.run("apply", "--yes", "--state", state, "--wait", "5", **offer)  # finished: nothing is sent again
    assert again.code == 0, again.err + again.out
    assert calls(w, "SendAgreementCancellationRequest") == [(SELLER, "ok")]
    assert calls(w, "AcceptAgreementCancellationRequest") == [(SRC, "ok")]

"""API tokens over HTTP on the local stack: list, create, revoke, the 5-token limit on every mint path."""

from __future__ import annotations

import hashlib

import requests

from tests.e2e.test_cli import _admin_env, _run

LIMIT_MESSAGE = "an account may have at most 5 active tokens; revoke one first"


def _call(stack, method, path, token, **kwargs):
    return requests.request(method, stack.info.api_url + path, headers={"Auth-Api-Token": token}, timeout=30,
                            **kwargs)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_list_shows_ids_labels_and_dates_and_never_a_secret(stack, account, mint):
    other = _call(stack, "POST", "/v1/tokens", account["token"], json={"label": "deploy bot"})
    assert other.status_code == 201, other.text
    created = other.json()
    mint("someone-else")  # another account's token is not listed
    listed = _call(stack, "GET", "/v1/tokens", account["token"])
    assert listed.status_code == 200, listed.text
    tokens = listed.json()["tokens"]
    assert [set(t) for t in tokens] == [{"id", "label", "created_at", "last_used_at"}] * 2
    by_id = {t["id"]: t for t in tokens}
    assert by_id[created["id"]] == {"id": created["id"], "label": "deploy bot", "created_at": created["created_at"],
                                    "last_used_at": None}
    (fixture_token,) = [t for t in tokens if t["id"] != created["id"]]
    assert fixture_token["last_used_at"] is not None  # the authorizer recorded this very request
    for secret in (account["token"], created["token"]):
        assert secret not in listed.text and _sha256(secret) not in listed.text
        assert secret[len("ing_"):] not in listed.text


def test_a_token_created_through_the_api_works_for_the_same_account(stack, account):
    dataset = _call(stack, "POST", "/v1/datasets", account["token"], json={"name": "mine"}).json()
    created = _call(stack, "POST", "/v1/tokens", account["token"])  # no body: no label
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "label", "created_at", "last_used_at", "token"} and body["label"] == ""
    assert body["token"].startswith("ing_") and body["token"] != account["token"]
    seen = _call(stack, "GET", f"/v1/datasets/{dataset['id']}", body["token"])
    assert seen.status_code == 200 and seen.json()["name"] == "mine"


def test_the_sixth_active_token_is_refused_until_one_is_revoked(stack, account):
    for n in range(4):  # the account fixture already holds one
        assert _call(stack, "POST", "/v1/tokens", account["token"], json={"label": f"t{n}"}).status_code == 201
    refused = _call(stack, "POST", "/v1/tokens", account["token"], json={"label": "sixth"})
    assert refused.status_code == 409 and refused.json() == {"message": LIMIT_MESSAGE}
    tokens = _call(stack, "GET", "/v1/tokens", account["token"]).json()["tokens"]
    assert len(tokens) == 5 and "sixth" not in {t["label"] for t in tokens}
    victim = next(t for t in tokens if t["label"] == "t0")
    assert _call(stack, "DELETE", f"/v1/tokens/{victim['id']}", account["token"]).status_code == 204
    assert _call(stack, "POST", "/v1/tokens", account["token"], json={"label": "sixth"}).status_code == 201
    assert _call(stack, "POST", "/v1/tokens", account["token"]).status_code == 409


def test_a_revoked_token_gets_401(stack, account):
    # Never used before its revocation, so no authorizer decision is cached for it (the cache
    # lives 60 s; tests/unit/test_tokens.py shows the authorizer itself refuses revoked tokens).
    created = _call(stack, "POST", "/v1/tokens", account["token"], json={"label": "short-lived"}).json()
    revoked = _call(stack, "DELETE", f"/v1/tokens/{created['id']}", account["token"])
    assert revoked.status_code == 204 and revoked.content == b""
    refused = _call(stack, "GET", "/v1/tokens", created["token"])
    assert refused.status_code == 401
    listed = _call(stack, "GET", "/v1/tokens", account["token"]).json()["tokens"]
    assert created["id"] not in {t["id"] for t in listed}
    again = _call(stack, "DELETE", f"/v1/tokens/{created['id']}", account["token"])
    assert again.status_code == 404


def test_revoking_a_foreign_or_unknown_token_id_is_404(stack, account, mint):
    intruder = mint("acct-token-intruder")
    (victim,) = _call(stack, "GET", "/v1/tokens", account["token"]).json()["tokens"]
    foreign = _call(stack, "DELETE", f"/v1/tokens/{victim['id']}", intruder)
    assert foreign.status_code == 404 and foreign.json() == {"message": f"token {victim['id']} not found"}
    assert _call(stack, "DELETE", "/v1/tokens/000000000000", account["token"]).status_code == 404
    # The victim's token still works and is still listed.
    still = _call(stack, "GET", "/v1/tokens", account["token"])
    assert still.status_code == 200 and [t["id"] for t in still.json()["tokens"]] == [victim["id"]]


def test_a_bad_create_request_is_400(stack, account):
    bad = _call(stack, "POST", "/v1/tokens", account["token"], json={"label": 3})
    assert bad.status_code == 400 and bad.json() == {"message": "label must be a string"}
    assert len(_call(stack, "GET", "/v1/tokens", account["token"]).json()["tokens"]) == 1


def test_the_admin_cli_refuses_the_sixth_token_too(stack, account, mint, tmp_path):
    for _ in range(4):
        mint(account["name"])
    result = _run("cli.admin", "mint-token", "--account", account["name"], "--label", "sixth",
                  env=_admin_env(tmp_path, stack))
    assert result.returncode == 1
    assert result.stderr == f"error: {LIMIT_MESSAGE}\n" and result.stdout == ""
    tokens = _call(stack, "GET", "/v1/tokens", account["token"]).json()["tokens"]
    assert len(tokens) == 5 and "sixth" not in {t["label"] for t in tokens}

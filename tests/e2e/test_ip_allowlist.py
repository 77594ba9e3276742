"""The per-account IP allow-list over HTTP. Loopback gives several source addresses: the whole
127.0.0.0/8 is local on Linux, so a client can send from 127.0.0.2 to the local API on 127.0.0.1."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from tests.e2e.test_cli import _admin_env, _run

DENIED = {"message": "this request's IP address is not on the account's IP allow-list"}


class SourceAddressAdapter(HTTPAdapter):
    """Connections bound to one local source address."""

    def __init__(self, source: str):
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


def _call(stack, method, path, token, source="127.0.0.1", **kwargs):
    assert source.startswith("127."), "loopback only"
    with requests.Session() as session:
        session.mount("http://", SourceAddressAdapter(source))
        return session.request(method, stack.info.api_url + path, headers={"Auth-Api-Token": token}, timeout=30,
                               **kwargs)


def test_an_allow_list_admits_only_its_addresses_and_only_for_its_account(stack, account, mint, tmp_path):
    listed = _call(stack, "PUT", "/v1/account/ip-allowlist", account["token"], json={"cidrs": ["127.0.0.2"]})
    assert listed.status_code == 200, listed.text
    assert listed.json()["ip_allowlist"] == ["127.0.0.2/32"]
    # A token minted now has no cached authorizer decision (changes apply within that cache's 60 s).
    token = mint(account["name"])
    refused = _call(stack, "GET", "/v1/account", token, source="127.0.0.1")
    assert refused.status_code == 403 and refused.json() == DENIED
    admitted = _call(stack, "GET", "/v1/account", token, source="127.0.0.2")
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["ip_allowlist"] == ["127.0.0.2/32"]
    # Another account is not restricted by it.
    other = mint("acct-ip-other")
    assert _call(stack, "GET", "/v1/account", other, source="127.0.0.1").json()["ip_allowlist"] == []
    # An operator lifts the restriction of a locked-out account.
    result = _run("cli.admin", "set-ip-allowlist", "--account", account["name"], env=_admin_env(tmp_path, stack))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'{{"account_id": "{account["name"]}", "ip_allowlist": []}}\n'
    assert _call(stack, "GET", "/v1/account", mint(account["name"]), source="127.0.0.1").status_code == 200


def test_the_admin_cli_sets_an_allow_list(stack, account, mint, tmp_path):
    result = _run("cli.admin", "set-ip-allowlist", "--account", account["name"], "--cidr", "127.0.0.3/32",
                  "--cidr", "::1", env=_admin_env(tmp_path, stack))
    assert result.returncode == 0, result.stderr
    token = mint(account["name"])
    assert _call(stack, "GET", "/v1/account", token, source="127.0.0.1").status_code == 403
    view = _call(stack, "GET", "/v1/account", token, source="127.0.0.3")
    assert view.status_code == 200 and view.json()["ip_allowlist"] == ["127.0.0.3/32", "::1/128"]
    bad = _run("cli.admin", "set-ip-allowlist", "--account", account["name"], "--cidr", "10.0.0.1/8",
               env=_admin_env(tmp_path, stack))
    assert bad.returncode == 1 and "'10.0.0.1/8'" in bad.stderr and bad.stdout == ""


def test_bad_cidrs_are_400_naming_the_entry_and_change_nothing(stack, account):
    for cidrs, fragment in [(["127.0.0.0/8", "localhost"], "'localhost'"), (["127.0.0.1/8"], "has host bits set"),
                            ([f"10.0.0.{n}" for n in range(51)], "at most 50 entries")]:
        bad = _call(stack, "PUT", "/v1/account/ip-allowlist", account["token"], json={"cidrs": cidrs})
        assert bad.status_code == 400 and fragment in bad.json()["message"], bad.text
    missing = _call(stack, "PUT", "/v1/account/ip-allowlist", account["token"], json={})
    assert missing.status_code == 400 and "cidrs is required" in missing.json()["message"]
    assert _call(stack, "GET", "/v1/account", account["token"]).json()["ip_allowlist"] == []

#!/usr/bin/env python3
"""MSAL Python's side of the emulator interop tests (../python_msal.rs, harness ../interop/mod.rs).

Runs one group of flows with the real `msal` package from PyPI (installed by scripts/python-venv)
against the emulator, as an application would: the emulator's tenant as authority,
`instance_discovery=False` (a loopback host is unknown to Microsoft's instance discovery) and
an HTTP client that trusts the emulator's CA. Prints one JSON line per observation
({"result": ...}) and asks the test for what a person would do ({"ask": ...}: sign in, approve
a device code) or for a fault, reading each answer as one JSON line on stdin.

    MSAL_FLOWS='{...}' MSAL_FLOWS_CA=ca.pem python flows.py app|user|interactive|ui
"""

import json
import os
import sys
from urllib.parse import parse_qsl, urlsplit

import msal
import requests

CFG = json.loads(os.environ.get("MSAL_FLOWS", "{}"))


def ask(obj):
    print(json.dumps(obj), flush=True)
    line = sys.stdin.readline()
    if not line:
        sys.exit("flows.py: the test closed stdin")
    return json.loads(line)


def result(name, obj):
    obj = dict(obj)
    obj["result"] = name
    obj["version"] = msal.__version__
    print(json.dumps(obj), flush=True)


class PortKeepingSession(requests.Session):
    """MSAL Python's user realm discovery (ROPC) asks `https://{hostname}/common/userrealm/...`:
    the authority's host without its port. On an emulator that is not on 443 that request would
    go to port 443; this session sends it to the authority's port instead, so the ROPC flow runs
    as it does against Entra (the answer, `Managed`, is the emulator's)."""

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        authority = urlsplit(CFG["authority"])
        if parts.netloc == authority.hostname and authority.port:
            url = parts._replace(netloc=authority.netloc).geturl()
        return super().request(method, url, *args, **kwargs)


def http_client():
    session = PortKeepingSession()
    # Without this, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment override `verify`,
    # and proxy variables could route loopback traffic elsewhere.
    session.trust_env = False
    session.verify = os.environ["MSAL_FLOWS_CA"]
    return session


def kwargs():
    return dict(authority=CFG["authority"], http_client=http_client(), instance_discovery=False)


def public_app(cache=None):
    return msal.PublicClientApplication(CFG["public_client_id"], token_cache=cache, **kwargs())


def token(r):
    r = r or {}
    claims = r.get("id_token_claims") or {}
    return {
        "access_token": r.get("access_token"),
        "token_type": r.get("token_type"),
        "token_source": r.get("token_source"),
        "username": claims.get("preferred_username"),
        "id_token_iss": claims.get("iss"),
        "scope": r.get("scope"),
        "error": r.get("error"),
        "error_description": r.get("error_description"),
    }


def user_scopes():
    return [CFG["user_scope"]]


def ropc(app):
    return app.acquire_token_by_username_password(
        CFG["username"], CFG["password"], scopes=user_scopes()
    )


def group_app():
    cca = msal.ConfidentialClientApplication(
        CFG["confidential_client_id"], client_credential=CFG["client_secret"], **kwargs()
    )
    first = cca.acquire_token_for_client([CFG["app_scope"]])
    second = cca.acquire_token_for_client([CFG["app_scope"]])
    result("client_credentials", {"first": token(first), "second": token(second)})


def group_user():
    app = public_app()
    r = ropc(app)
    result("ropc", token(r))
    account = app.get_accounts(username=CFG["username"])[0]
    result("silent", token(app.acquire_token_silent_with_error(user_scopes(), account)))
    result(
        "refresh",
        token(app.acquire_token_silent_with_error(user_scopes(), account, force_refresh=True)),
    )

    app = public_app()
    flow = app.initiate_device_flow(scopes=user_scopes())
    if "user_code" not in flow:
        raise RuntimeError("no device flow: {}".format(flow))
    ask({"ask": "approve", "user_code": flow["user_code"]})
    r = app.acquire_token_by_device_flow(flow)
    out = token(r)
    out["device_code"] = {"verification_uri": flow.get("verification_uri")}
    result("device_code", out)


def group_interactive():
    app = public_app()
    flow = app.initiate_auth_code_flow(user_scopes(), redirect_uri=CFG["redirect_uri"])
    back = ask({"ask": "sign_in", "url": flow["auth_uri"], "follow": False})
    auth_response = dict(parse_qsl(urlsplit(back).query))
    r = app.acquire_token_by_auth_code_flow(flow, auth_response)
    out = token(r)
    out["state_matches"] = auth_response.get("state") == flow.get("state")
    result("auth_code", out)


def group_ui():
    cache = msal.TokenCache()
    r = ropc(public_app(cache))
    if "access_token" not in r:
        raise RuntimeError("ROPC failed: {}".format(r))
    for preset in CFG["presets"]:
        # A new app (on the same cache) each time: MSAL Python replays a refresh request's
        # invalid_grant answer for a while instead of sending the same request again.
        app = public_app(cache)
        account = app.get_accounts(username=CFG["username"])[0]
        ask({"ask": "fault", "preset": preset, "grant_type": "refresh_token"})
        r = app.acquire_token_silent_with_error(user_scopes(), account, force_refresh=True) or {}
        result(
            "ui:" + preset,
            {
                "error": r.get("error"),
                "suberror": r.get("suberror"),
                "classification": r.get("classification"),
                "claims": r.get("claims"),
                "has_token": "access_token" in r,
            },
        )
        ask({"ask": "clear"})


GROUPS = {
    "app": group_app,
    "user": group_user,
    "interactive": group_interactive,
    "ui": group_ui,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        sys.exit("usage: flows.py {}".format("|".join(GROUPS)))
    GROUPS[sys.argv[1]]()

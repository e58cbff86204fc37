"""MSAL Python's side of the `cache_hit` example: the same workload, timed the same way.

The workload is MSAL Python's own benchmark (its `tests/simulator.py`): in MSAL Python each
`ConfidentialClientApplication` binds to one tenant, so T tenants are T apps, each holding K app
tokens; every timed call is an `acquire_token_for_client` cache hit of a randomly chosen app.
No network: discovery is patched and the token endpoint is answered in process.

    python=$(MSAL_PY_VENV=/tmp/msal-py scripts/python-venv)   # a venv with msal==1.39.*
    $python crates/msal/examples/cache_hit_msal_python.py --tenants 1000 --tokens-per-tenant 10

Prints one JSON line, as the Rust example does:
`{"ns_per_call": ..., "tenants": T, "tokens_per_tenant": K, "calls": N, "msal": "1.39.x"}`.
"""
import argparse
import json
import random
import time
from unittest.mock import patch

import msal


class _Response:
    """What MSAL Python reads of an HTTP response."""

    def __init__(self, text):
        self.status_code = 200
        self.text = text
        self.headers = {}

    def raise_for_status(self):
        pass


def _post(url, **kwargs):
    return _Response(json.dumps({
        "access_token": "AT for %s" % kwargs["data"]["scope"],
        "token_type": "Bearer",
        "expires_in": 3600,
    }))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tenants", type=int, default=1)
    p.add_argument("--tokens-per-tenant", type=int, default=10)
    p.add_argument("--calls", type=int, default=20000)
    a = p.parse_args()
    discovery = {
        "authorization_endpoint": "https://login.microsoftonline.com/placeholder",
        "token_endpoint": "https://login.microsoftonline.com/placeholder",
        "issuer": "https://login.microsoftonline.com/placeholder",
    }
    with patch.object(msal.authority, "tenant_discovery", return_value=discovery):
        apps = [
            msal.ConfidentialClientApplication(
                "bench-client", client_credential="bench-secret",
                authority="https://login.microsoftonline.com/tenant%d" % t,
                instance_discovery=False)
            for t in range(a.tenants)
        ]
    scopes = ["api://resource%d/.default" % k for k in range(a.tokens_per_tenant)]
    for app in apps:
        for s in scopes:
            r = app.acquire_token_for_client([s], post=_post)
            assert r.get("token_source") == "identity_provider", r
    # The same choice of (app, scope) per call as the Rust example makes, drawn up front.
    rng = random.Random(0)
    plan = [(rng.choice(apps), [rng.choice(scopes)]) for _ in range(a.calls)]
    started = time.perf_counter_ns()
    for app, s in plan:
        r = app.acquire_token_for_client(s, post=_post)
    elapsed = time.perf_counter_ns() - started
    assert r.get("token_source") == "cache", r
    print(json.dumps({
        "ns_per_call": elapsed / a.calls,
        "tenants": a.tenants,
        "tokens_per_tenant": a.tokens_per_tenant,
        "calls": a.calls,
        "msal": msal.__version__,
    }))


if __name__ == "__main__":
    main()

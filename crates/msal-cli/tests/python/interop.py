#!/usr/bin/env python3
"""MSAL Python's side of the token-cache interop tests (../python_interop.rs).

It drives the real `msal` package from PyPI (installed by scripts/python-venv) against the
msal-emulator over HTTPS, reading and writing a cache file in MSAL's unified schema with
`msal.SerializableTokenCache`, exactly as an application using MSAL Python would. Every command
prints one JSON object on stdout; failures of the machinery (no emulator, TLS, bad arguments)
exit non-zero with a traceback on stderr.

    interop.py write-app     --authority A --ca PEM --cache F --client-id C --scope S
    interop.py read-app      --authority A --ca PEM --cache F --client-id C --scope S
    interop.py write-user    --authority A --ca PEM --cache F --client-id C --scope S --username U
    interop.py read-user     --authority A --ca PEM --cache F --client-id C --scope S --username U
    interop.py add-unknown   --cache F --client-id C
    interop.py check-unknown --cache F --before F0

The client secret is read from $MSAL_INTEROP_CLIENT_SECRET and the emulator's admin token (to
approve a device code) from $MSAL_INTEROP_ADMIN_TOKEN, never from argv.

write-* acquire tokens from the emulator and save the cache; read-* load the cache, ask MSAL
Python for the token silently and do NOT save it (the file stays as it was). add-unknown adds,
as another MSAL might, an unknown field to every entry (but the metadata of the app that
rewrites the file next) and an unknown section; check-unknown tells whether those survived a
rewrite of the file untouched.
"""

import argparse
import json
import os
import sys
from urllib.parse import urlsplit

import msal
import requests

KNOWN_SECTIONS = ("AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata")
UNKNOWN_FIELD = "x_interop_unknown_field"
UNKNOWN_FIELD_VALUE = {
    "written_by": "another MSAL",
    "list": [1, "two", None, True, {"nested": ["deep"]}],
    "number": 42,
    "empty": {},
}
UNKNOWN_SECTION = "XInteropUnknownSection"
UNKNOWN_SECTION_VALUE = {
    "some-key-of-another-msal": {
        "credential_type": "SomethingNew",
        "secret": "not-a-real-secret",
        "order": ["b", "a"],
        "flags": {"z": False, "a": None},
    },
    "second-key": {"n": -7, "unicode": "\u00e9\u4e2d\U0001f511"},
}


def http_client(ca):
    session = requests.Session()
    # Without this, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment override `verify`,
    # and proxy variables could route loopback traffic elsewhere.
    session.trust_env = False
    session.verify = ca
    return session


def load_cache(path):
    cache = msal.SerializableTokenCache()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            cache.deserialize(f.read())
    return cache


def save_cache(cache, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write(cache.serialize())


def app_kwargs(args, cache):
    return dict(
        authority=args.authority,
        token_cache=cache,
        http_client=http_client(args.ca),
        # A loopback host is unknown to Microsoft's instance discovery (which MSAL Python would
        # ask on login.microsoftonline.com): trust the authority as given.
        instance_discovery=False,
    )


def confidential_app(args, cache):
    secret = os.environ.get("MSAL_INTEROP_CLIENT_SECRET")
    if not secret:
        sys.exit("interop.py: MSAL_INTEROP_CLIENT_SECRET is not set")
    return msal.ConfidentialClientApplication(
        args.client_id, client_credential=secret, **app_kwargs(args, cache)
    )


def public_app(args, cache):
    return msal.PublicClientApplication(args.client_id, **app_kwargs(args, cache))


def token_json(result):
    """The parts of an MSAL Python result the tests compare (no refresh or id token)."""
    result = result or {}
    return {
        "access_token": result.get("access_token"),
        "token_type": result.get("token_type"),
        "token_source": result.get("token_source"),
        "error": result.get("error"),
        "error_description": result.get("error_description"),
    }


def account_json(account):
    return {
        k: account.get(k)
        for k in ("home_account_id", "username", "environment", "realm", "local_account_id")
    }


def out(obj):
    obj["msal_python"] = msal.__version__
    print(json.dumps(obj))


def cmd_write_app(args):
    cache = load_cache(args.cache)
    result = confidential_app(args, cache).acquire_token_for_client(args.scope)
    save_cache(cache, args.cache)
    out(token_json(result))


def cmd_read_app(args):
    cache = load_cache(args.cache)
    result = confidential_app(args, cache).acquire_token_for_client(args.scope)
    out(token_json(result))


def approve_device_code(args, user_code):
    token = os.environ.get("MSAL_INTEROP_ADMIN_TOKEN")
    if not token:
        sys.exit("interop.py: MSAL_INTEROP_ADMIN_TOKEN is not set")
    base = urlsplit(args.authority)
    resp = http_client(args.ca).post(
        "{}://{}/_emulator/devicecode/approve".format(base.scheme, base.netloc),
        headers={"Authorization": "Bearer " + token},
        json={"user_code": user_code, "username": args.username},
        timeout=30,
    )
    resp.raise_for_status()


def cmd_write_user(args):
    cache = load_cache(args.cache)
    app = public_app(args, cache)
    flow = app.initiate_device_flow(scopes=args.scope)
    if "user_code" not in flow:
        sys.exit("interop.py: no device code: {}".format(json.dumps(flow)))
    # The user signs in on another device: the emulator's admin API stands in for them.
    approve_device_code(args, flow["user_code"])
    result = app.acquire_token_by_device_flow(flow)
    save_cache(cache, args.cache)
    obj = token_json(result)
    obj["accounts"] = [account_json(a) for a in app.get_accounts(username=args.username)]
    out(obj)


def cmd_read_user(args):
    cache = load_cache(args.cache)
    app = public_app(args, cache)
    accounts = app.get_accounts(username=args.username)
    result = app.acquire_token_silent(args.scope, account=accounts[0]) if accounts else None
    obj = token_json(result)
    obj["accounts"] = [account_json(a) for a in accounts]
    out(obj)


def cmd_add_unknown(args):
    with open(args.cache, encoding="utf-8") as f:
        data = json.load(f)
    marked = []
    for section in KNOWN_SECTIONS:
        for key, entry in data.get(section, {}).items():
            if section == "AppMetadata" and entry.get("client_id") == args.client_id:
                # A token for this app is acquired next, and that rewrites the app's metadata
                # entry in every MSAL (MSAL Python's included): not a round trip.
                continue
            entry[UNKNOWN_FIELD] = UNKNOWN_FIELD_VALUE
            marked.append([section, key])
    data[UNKNOWN_SECTION] = UNKNOWN_SECTION_VALUE
    with open(args.cache, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=4)
    # MSAL Python itself still reads the file.
    load_cache(args.cache)
    out({"marked": marked, "unknown_sections": [UNKNOWN_SECTION]})


def cmd_check_unknown(args):
    with open(args.before, encoding="utf-8") as f:
        before = json.load(f)
    with open(args.cache, encoding="utf-8") as f:
        after = json.load(f)
    problems = []
    sections = [name for name in before if name not in KNOWN_SECTIONS]
    for name in sections:
        if name not in after:
            problems.append("section {} is gone".format(name))
        elif after[name] != before[name]:
            problems.append(
                "section {} changed: {} -> {}".format(
                    name, json.dumps(before[name]), json.dumps(after[name])
                )
            )
    entries = []
    for section in KNOWN_SECTIONS:
        for key, entry in before.get(section, {}).items():
            if UNKNOWN_FIELD not in entry:
                continue
            entries.append([section, key])
            now = after.get(section, {}).get(key)
            if now is None:
                problems.append("{} entry {} is gone".format(section, key))
                continue
            for field in sorted(set(entry) | set(now)):
                was, is_now = entry.get(field, "<absent>"), now.get(field, "<absent>")
                if was != is_now:
                    if field == "secret":
                        was = is_now = "<secret>"
                    problems.append(
                        "{} entry {} field {}: {} -> {}".format(
                            section, key, field, json.dumps(was), json.dumps(is_now)
                        )
                    )
    # The rewritten file is still a cache MSAL Python loads.
    load_cache(args.cache)
    out({"unknown_sections": sections, "marked_entries": entries, "problems": problems})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, func, flow=True, username=False):
        p = sub.add_parser(name)
        p.set_defaults(func=func)
        p.add_argument("--cache", required=True)
        if flow:
            p.add_argument("--authority", required=True)
            p.add_argument("--ca", required=True, help="PEM of the emulator's CA")
            p.add_argument("--client-id", required=True)
            p.add_argument("--scope", action="append", required=True)
        if username:
            p.add_argument("--username", required=True)
        return p

    command("write-app", cmd_write_app)
    command("read-app", cmd_read_app)
    command("write-user", cmd_write_user, username=True)
    command("read-user", cmd_read_user, username=True)
    command("add-unknown", cmd_add_unknown, flow=False).add_argument(
        "--client-id", required=True, help="the app that rewrites the cache next"
    )
    command("check-unknown", cmd_check_unknown, flow=False).add_argument("--before", required=True)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()

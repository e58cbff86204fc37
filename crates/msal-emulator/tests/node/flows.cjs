#!/usr/bin/env node
// msal-node's side of the emulator interop tests (../node_msal.rs, harness in ../interop/mod.rs).
//
// Runs one group of flows with the real @azure/msal-node from npm (installed by
// scripts/node-deps, found through NODE_PATH) against the emulator, as an application would:
// the authority is the emulator's tenant, its host is in `knownAuthorities` (so msal-node does
// no instance discovery on login.microsoftonline.com), and its CA is trusted through
// NODE_EXTRA_CA_CERTS. Prints one JSON line per observation ({"result": ...}) and asks the test
// for what a person would do ({"ask": ...}: sign in, approve a device code) or for a fault.
//
//   MSAL_FLOWS='{...}' node flows.cjs app|user|interactive|ui

"use strict";

const readline = require("node:readline");
const msal = require("@azure/msal-node");

const cfg = JSON.parse(process.env.MSAL_FLOWS || "{}");
const group = process.argv[2];

const auth = (clientId) => ({
    clientId,
    authority: cfg.authority,
    knownAuthorities: [cfg.host],
});

// Asks and their answers, in order.
const waiting = [];
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
    const next = waiting.shift();
    if (next) next(JSON.parse(line));
});

function ask(obj) {
    return new Promise((resolve) => {
        waiting.push(resolve);
        process.stdout.write(JSON.stringify(obj) + "\n");
    });
}

function result(name, obj) {
    process.stdout.write(JSON.stringify({ result: name, version: msal.version, ...obj }) + "\n");
}

function token(r) {
    return {
        access_token: r.accessToken,
        from_cache: r.fromCache,
        token_type: r.tokenType,
        username: r.account ? r.account.username : null,
        home_account_id: r.account ? r.account.homeAccountId : null,
        id_token_iss: r.idTokenClaims ? r.idTokenClaims.iss : null,
        scopes: r.scopes,
    };
}

function error(e) {
    return {
        name: e.name,
        interaction_required: e instanceof msal.InteractionRequiredAuthError,
        error_code: e.errorCode,
        sub_error: e.subError,
        claims: e.claims || null,
        message: String(e.errorMessage || e.message).split("\n")[0],
    };
}

const publicApp = () => new msal.PublicClientApplication({ auth: auth(cfg.public_client_id) });
const userScopes = [cfg.user_scope];

async function app() {
    const cca = new msal.ConfidentialClientApplication({
        auth: { ...auth(cfg.confidential_client_id), clientSecret: cfg.client_secret },
    });
    const first = await cca.acquireTokenByClientCredential({ scopes: [cfg.app_scope] });
    const second = await cca.acquireTokenByClientCredential({ scopes: [cfg.app_scope] });
    result("client_credentials", { first: token(first), second: token(second) });
}

async function user() {
    const pca = publicApp();
    const ropc = await pca.acquireTokenByUsernamePassword({
        scopes: userScopes,
        username: cfg.username,
        password: cfg.password,
    });
    result("ropc", token(ropc));
    const silent = await pca.acquireTokenSilent({ account: ropc.account, scopes: userScopes });
    result("silent", token(silent));
    const refreshed = await pca.acquireTokenSilent({
        account: ropc.account,
        scopes: userScopes,
        forceRefresh: true,
    });
    result("refresh", token(refreshed));

    let deviceCode = null;
    const dc = await publicApp().acquireTokenByDeviceCode({
        scopes: userScopes,
        deviceCodeCallback: (r) => {
            deviceCode = { user_code: r.userCode, verification_uri: r.verificationUri, message: r.message };
            // Answered while msal-node polls; the approval is what ends the polling.
            ask({ ask: "approve", user_code: r.userCode });
        },
    });
    result("device_code", { ...token(dc), device_code: deviceCode });
}

async function interactive() {
    // The web app way: the auth code URL, the redirect with the code, the code redeemed.
    const pca = publicApp();
    const pkce = await new msal.CryptoProvider().generatePkceCodes();
    const url = await pca.getAuthCodeUrl({
        scopes: userScopes,
        redirectUri: cfg.redirect_uri,
        codeChallenge: pkce.challenge,
        codeChallengeMethod: "S256",
        state: "node-state",
    });
    const redirect = new URL(await ask({ ask: "sign_in", url, follow: false }));
    const code = await pca.acquireTokenByCode({
        code: redirect.searchParams.get("code"),
        scopes: userScopes,
        redirectUri: cfg.redirect_uri,
        codeVerifier: pkce.verifier,
        clientInfo: redirect.searchParams.get("client_info") || undefined,
    });
    result("auth_code", { ...token(code), state: redirect.searchParams.get("state") });

    // The desktop way: msal-node's own loopback listener receives the redirect.
    let opened = null;
    const inter = await publicApp().acquireTokenInteractive({
        scopes: userScopes,
        openBrowser: async (u) => {
            opened = u;
            // Not awaited: the listener must be free to receive the redirect the test delivers.
            ask({ ask: "sign_in", url: u, follow: true });
        },
        successTemplate: "signed in",
        errorTemplate: "failed",
    });
    result("interactive", { ...token(inter), redirect_uri: new URL(opened).searchParams.get("redirect_uri") });
}

async function ui() {
    const pca = publicApp();
    const ropc = await pca.acquireTokenByUsernamePassword({
        scopes: userScopes,
        username: cfg.username,
        password: cfg.password,
    });
    for (const preset of cfg.presets) {
        await ask({ ask: "fault", preset, grant_type: "refresh_token" });
        try {
            const r = await pca.acquireTokenSilent({
                account: ropc.account,
                scopes: userScopes,
                forceRefresh: true,
            });
            result(`ui:${preset}`, { unexpected_token: token(r) });
        } catch (e) {
            result(`ui:${preset}`, error(e));
        }
        await ask({ ask: "clear" });
    }
}

const groups = { app, user, interactive, ui };

(async () => {
    if (!groups[group]) throw new Error(`unknown group ${group}: one of ${Object.keys(groups)}`);
    await groups[group]();
})()
    .then(() => {
        rl.close();
        process.exit(0);
    })
    .catch((e) => {
        process.stderr.write(`flows.cjs ${group}: ${e && e.stack ? e.stack : e}\n`);
        process.exit(1);
    });

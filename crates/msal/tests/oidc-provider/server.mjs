// The certified OpenID Provider `oidc-provider` (panva), configured for the msal interop tests
// (crates/msal/tests/oidc_provider_interop.rs) and started on an ephemeral loopback port.
//
//   eval "$(scripts/oidc-provider)"     # installs the package into target/, runs this file
//
// It prints one JSON line on stdout once it listens: {"issuer", "port", "version"}; the
// provider's notices follow on stdout, errors go to stderr. It exits when its standard input
// closes (the test that started it is gone).
//
// What it serves (issuer http://127.0.0.1:<port>, plain http on loopback only):
// - a confidential client (a client secret, basic or post) with client credentials,
//   authorization code, refresh token and device code, for a web app on a loopback redirect
//   URI;
// - a public native client (no secret, PKCE required) with authorization code, refresh token
//   and device code, whose loopback redirect URI matches on any port (RFC 8252 7.3);
// - an API (resource indicator API_RESOURCE) with the scope `api:read`, the default resource
//   of every request, so that user and app tokens carry `api:read`; `api:admin` is a scope the
//   provider knows and the confidential client is not allowed;
// - the built-in development login and consent pages (devInteractions: any login is
//   accepted; its value is the account id) and the device flow's user code pages.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.OIDC_PROVIDER_MODULES;
if (!modules) {
  console.error('server.mjs: set OIDC_PROVIDER_MODULES to the node_modules that holds oidc-provider (scripts/oidc-provider prints the command)');
  process.exit(2);
}
const pkgDir = join(modules, 'oidc-provider');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const { default: Provider, errors } = await import(pathToFileURL(join(pkgDir, pkg.main ?? 'index.js')).href);

const CONFIDENTIAL_CLIENT_ID = 'msal-interop-confidential';
const CONFIDENTIAL_CLIENT_SECRET = 'msal-interop-confidential-secret-0123456789';
const PUBLIC_CLIENT_ID = 'msal-interop-public';
const WEB_REDIRECT_URI = 'http://127.0.0.1:5000/auth/callback';
const NATIVE_REDIRECT_URI = 'http://127.0.0.1/cb';
const API_RESOURCE = 'urn:msal-interop:api';
const API_SCOPE = 'api:read';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

// The users: any login is accepted by the development pages; a few names have claims.
function accountClaims(id) {
  return {
    sub: id,
    email: `${id}@example.test`,
    email_verified: true,
    preferred_username: `${id}@example.test`,
    name: `User ${id}`,
  };
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CONFIDENTIAL_CLIENT_ID,
      client_secret: CONFIDENTIAL_CLIENT_SECRET,
      // The OAuth default. oidc-provider takes the secret in the Authorization header
      // (client_secret_basic) or in the body (client_secret_post, what msal sends) for a
      // client registered with either.
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
      redirect_uris: [WEB_REDIRECT_URI],
      scope: `openid offline_access profile email ${API_SCOPE}`,
    },
    {
      client_id: PUBLIC_CLIENT_ID,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
      redirect_uris: [NATIVE_REDIRECT_URI],
    },
  ],
  // Static scopes the provider knows (besides those of the claims below); `api:admin` is one
  // the confidential client may not ask for.
  scopes: ['openid', 'offline_access', API_SCOPE, 'api:admin'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  // The scope claims in the id token too (as most providers do), not only at userinfo.
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return accountClaims(id);
      },
    };
  },
  pkce: {
    methods: ['S256'],
    // Public clients must use PKCE (the default); confidential ones may (msal always does).
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every request without a `resource` parameter is for the API.
      async defaultResource() {
        return API_RESOURCE;
      },
      // The token endpoint uses the resource of the grant when the request names none.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== API_RESOURCE) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: `${API_SCOPE} api:admin`,
          audience: API_RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
        };
      },
    },
  },
  ttl: {
    DeviceCode: 120,
  },
  cookies: {
    keys: ['msal-interop-cookie-key-0123456789abcdef'],
  },
});

// Poll the device flow every second instead of the default 5 s (RFC 8628 `interval`), so the
// tests are quick; msal must honour the interval the server gives.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body = { ...ctx.body, interval: 1 };
  }
});

// Errors the provider answered with, for the test's diagnostics.
for (const event of ['server_error', 'grant.error', 'authorization.error', 'device_authorization.error', 'userinfo.error']) {
  provider.on(event, (_ctx, err) => {
    console.error(`oidc-provider ${event}: ${err.name}: ${err.error ?? ''} ${err.error_description ?? err.message}`);
  });
}

// A reader that went away must not crash the provider.
process.stdout.on('error', () => {});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, port, version: pkg.version })}\n`);

// The test that started us is gone when our standard input closes.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));

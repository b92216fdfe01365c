// Development OpenID provider for the oscar-gateway demo and tests.
//
// A real, certified provider (npm `oidc-provider`) configured like a small
// Keycloak realm: authorization code flow with PKCE (S256) required, refresh
// tokens (offline_access, rotated on use), RP-initiated logout, and access
// tokens issued as RS256-signed JWTs for one resource indicator (RFC 8707 +
// RFC 9068), because OSCAR verifies the JWT access token it receives against
// the issuer's JWKS.  It is NOT for production: users and passwords come from
// this file or IDP_USERS, and all state is in memory.
//
// Usage: node server.js --port 0 [--host 127.0.0.1]
// Configuration (environment):
//   IDP_CLIENT_ID, IDP_CLIENT_SECRET      the gateway's confidential client
//   IDP_CLIENT_AUTH_METHOD                client_secret_basic (default) | client_secret_post
//   IDP_REDIRECT_URIS                     space/comma separated redirect URIs of that client
//   IDP_POST_LOGOUT_REDIRECT_URIS         space/comma separated post-logout redirect URIs
//   IDP_LOOPBACK_ANY_PORT=1               any port matches a http://127.0.0.1 redirect URI
//   IDP_RESOURCE                          resource indicator = `aud` of access tokens
//   IDP_JWKS_FILE                         private JWK Set (JSON) to sign with; first key signs
//   IDP_ACCESS_TOKEN_TTL, IDP_ID_TOKEN_TTL, IDP_REFRESH_TOKEN_TTL   seconds
//   IDP_USERS                             JSON {"alice": {"password": ..., "name": ..., ...}}
//   IDP_ISSUER                            public issuer URL (default http://HOST:PORT)
// When ready it prints: `dev-idp ready at <issuer>`.  It never logs tokens or codes.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const DEFAULT_USERS = {
  alice: {
    password: 'wonderland',
    name: 'Alice Demo',
    email: 'alice@example.org',
    groups: ['demo', 'oscar-users'],
  },
  bob: {
    password: 'builder',
    name: 'Bob Demo',
    email: 'bob@example.org',
    groups: ['demo'],
  },
};

function list(value) {
  return (value || '').split(/[\s,]+/).filter(Boolean);
}

function seconds(name, fallback) {
  const value = Number.parseInt(process.env[name] || '', 10);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function loadJwks() {
  if (process.env.IDP_JWKS_FILE) {
    return JSON.parse(readFileSync(process.env.IDP_JWKS_FILE, 'utf8'));
  }
  if (process.env.IDP_JWKS) return JSON.parse(process.env.IDP_JWKS);
  return undefined; // oidc-provider then uses its own throwaway development key
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function claimsOf(users, id) {
  const user = users[id];
  return {
    sub: id,
    name: user.name || id,
    email: user.email || `${id}@example.org`,
    email_verified: true,
    groups: user.groups || [],
  };
}

function configuration(env) {
  const { users, resource, clientId } = env;
  return {
    clients: [
      {
        client_id: clientId,
        client_secret: env.clientSecret,
        token_endpoint_auth_method: env.clientAuthMethod,
        redirect_uris: env.redirectUris,
        post_logout_redirect_uris: env.postLogoutRedirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // Native clients may use any port on a loopback redirect URI (RFC 8252
        // section 7.3): tests start gateways on random ports.
        application_type: env.loopbackAnyPort ? 'native' : 'web',
      },
    ],
    jwks: env.jwks,
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'groups'],
      email: ['email', 'email_verified'],
    },
    // The gateway's access token is for the resource (OSCAR), not for
    // userinfo, so the ID token itself carries the profile claims.
    conformIdTokenClaims: false,
    async findAccount(_ctx, id) {
      if (!Object.hasOwn(users, id)) return undefined;
      return { accountId: id, claims: async () => claimsOf(users, id) };
    },
    // Profile claims in the JWT access token too, so a bearer caller has a name.
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !Object.hasOwn(users, token.accountId)) return undefined;
      const { name, email, groups } = claimsOf(users, token.accountId);
      return { name, email, groups };
    },
    features: {
      devInteractions: { enabled: false }, // replaced below by a form that checks passwords
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Every login gets a JWT access token for the resource, asked for or not.
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: 'openid profile email offline_access',
            audience: resource,
            accessTokenTTL: env.accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: env.accessTokenTTL,
      IdToken: env.idTokenTTL,
      RefreshToken: env.refreshTokenTTL,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  };
}

// oidc-provider drops offline_access unless the request says prompt=consent
// (OpenID Connect Core section 11).  Keycloak and EGI Check-in honour it
// without, and consent is granted automatically here, so ask for it on the
// client's behalf when the client sent no prompt at all.
function keycloakLikeOffline(url) {
  const scopes = (url.searchParams.get('scope') || '').split(' ');
  if (scopes.includes('offline_access') && !url.searchParams.has('prompt')) {
    url.searchParams.set('prompt', 'consent');
  }
  return `${url.pathname}${url.search}`;
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:sans-serif;max-width:26rem;margin:3rem auto}input,button{display:block;width:100%;margin:.4rem 0;padding:.5rem}
.error{color:#b00}</style></head><body><h1>${title}</h1>${body}</body></html>`;
}

function loginForm(uid, clientId, error = '') {
  const hint = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return page(
    'Sign in',
    `<p>Development OpenID provider: sign in to <b>${escapeHtml(clientId)}</b>.</p>${hint}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<input name="login" placeholder="Username (alice or bob)" required autofocus>
<input name="password" type="password" placeholder="Password" required>
<button type="submit">Sign in</button></form>`,
  );
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The consent a first-party client gets without asking: everything it requested.
async function grantEverything(provider, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  // Always answer with the consent: prompt=consent (see keycloakLikeOffline)
  // asks for it again at every login, even when the grant already exists.
  return { consent: { grantId: await grant.save() } };
}

async function interaction(provider, users, req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const send = (status, html) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  };
  if (details.prompt.name === 'consent') {
    const result = await grantEverything(provider, details);
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }
  if (req.method === 'GET') return send(200, loginForm(details.uid, details.params.client_id));
  if (req.method !== 'POST' || !url.pathname.endsWith('/login')) return send(405, page('Not allowed', ''));
  const form = await readForm(req);
  const login = form.get('login') || '';
  const user = Object.hasOwn(users, login) ? users[login] : undefined;
  if (!user || form.get('password') !== user.password) {
    return send(401, loginForm(details.uid, details.params.client_id, 'Wrong username or password.'));
  }
  return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
}

function readEnv(issuer) {
  const resource = process.env.IDP_RESOURCE || 'urn:oscar-gateway';
  return {
    issuer,
    resource,
    users: process.env.IDP_USERS ? JSON.parse(process.env.IDP_USERS) : DEFAULT_USERS,
    clientId: process.env.IDP_CLIENT_ID || 'oscar-gateway',
    clientSecret: process.env.IDP_CLIENT_SECRET || 'oscar-gateway-dev-secret',
    clientAuthMethod: process.env.IDP_CLIENT_AUTH_METHOD || 'client_secret_basic',
    redirectUris: list(process.env.IDP_REDIRECT_URIS || 'http://127.0.0.1:8000/auth/callback'),
    postLogoutRedirectUris: list(process.env.IDP_POST_LOGOUT_REDIRECT_URIS || 'http://127.0.0.1:8000/'),
    jwks: loadJwks(),
    loopbackAnyPort: Boolean(process.env.IDP_LOOPBACK_ANY_PORT),
    accessTokenTTL: seconds('IDP_ACCESS_TOKEN_TTL', 600),
    idTokenTTL: seconds('IDP_ID_TOKEN_TTL', 3600),
    refreshTokenTTL: seconds('IDP_REFRESH_TOKEN_TTL', 8 * 3600),
  };
}

async function main() {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  let handler = null;
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve) => server.listen(Number(values.port), values.host, resolve));
  const issuer = process.env.IDP_ISSUER || `http://${values.host}:${server.address().port}`;
  const env = readEnv(issuer);
  const provider = new Provider(issuer, configuration(env));
  provider.on('server_error', (_ctx, err) => console.error('dev-idp server error:', err.message));
  const callback = provider.callback();
  handler = (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/auth' && req.method === 'GET') req.url = keycloakLikeOffline(url);
    if (!url.pathname.startsWith('/interaction/')) return callback(req, res);
    return interaction(provider, env.users, req, res, url).catch((err) => {
      // Expired or foreign interaction cookies land here: say so, never a stack trace.
      if (!res.headersSent) res.writeHead(err.statusCode || 400, { 'content-type': 'text/plain' });
      res.end(`${err.error || 'error'}: ${err.error_description || err.message}\n`);
    });
  };
  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`dev-idp ready at ${issuer} (users: ${Object.keys(env.users).join(', ')}; resource: ${env.resource})`);
}

main().catch((err) => {
  console.error(`dev-idp failed to start: ${err.message}`);
  process.exit(1);
});

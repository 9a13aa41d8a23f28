// graphgate-proxy against a standard OpenID provider (oidc-provider from npm, on Entra's paths
// over HTTPS, issuer `{base}/{tenant}`, ID tokens without `tid` or `oid`): sign-in with PKCE and a
// nonce, the code exchange, the cached token, a forced refresh whose refresh token rotates at the
// provider, the session, sign-out, and `graphgate-proxy check`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';

import { SANDBOX, binary, startProxy } from '../harness/stack.mjs';
import { ACCOUNT, startOidcProvider } from './server.mjs';

const ORIGIN = 'http://localhost:5173';
const REDIRECT = 'http://localhost:5173/';


/** One HTTPS request to the provider (trusting its certificate), without following redirects. */
function send(url, { ca, method = 'GET', headers = {}, body } = {}) {
  return new Promise((ok, fail) => {
    const req = request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** Cookies by name, as a browser keeps them for one host (paths are not told apart here). */
class Jar {
  #cookies = new Map();
  take(headers) {
    for (const line of headers['set-cookie'] ?? []) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const expired = attributes.some((a) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(at + 1).trim());
    }
  }
  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Signs the provider's account in as a browser would: begun at the proxy (`/api/auth/begin`
 * answers the state, nonce and PKCE challenge, and sets the sign-in cookie), the authorize URL
 * built from the proxy's `/api/config` (as the browser module builds it), redirects and the
 * provider's interactions followed until the redirect URI. Resolves to { code, state, signInCookie }.
 */
async function signIn(proxy, op) {
  const config = await (await fetch(`${proxy.base}/api/config`)).json();
  const scopes = [...config.defaultScopes, 'profile', 'email'];
  const begun = await post(proxy, '/api/auth/begin', { body: { redirectUri: REDIRECT, scopes } });
  assert.equal(begun.status, 200);
  const signInCookie = begun.headers.get('set-cookie').split(';')[0];
  const { state, nonce, codeChallenge: challenge } = await begun.json();
  const authorize = new URL(`${config.authority}/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries({
    client_id: config.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    response_mode: 'query',
    scope: scopes.join(' '),
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(k, v);
  }
  const jar = new Jar();
  let url = authorize.href;
  for (let hop = 0; hop < 12; hop += 1) {
    if (url.startsWith(REDIRECT)) {
      const back = new URL(url).searchParams;
      assert.equal(back.get('error'), null, `${back.get('error')}: ${back.get('error_description')}`);
      assert.equal(back.get('state'), state);
      return { code: back.get('code'), state, signInCookie };
    }
    const res = await send(url, { ca: op.ca, headers: { cookie: jar.header() } });
    jar.take(res.headers);
    assert.ok([302, 303].includes(res.status), `${url} answered ${res.status}: ${res.text}`);
    url = new URL(res.headers.location, url).href;
  }
  throw new Error(`the sign-in did not come back to ${REDIRECT}`);
}

/** A state-changing call to the proxy as the page makes it (JSON, X-Graphgate, Origin). */
function post(proxy, path, { cookie, body = {} } = {}) {
  const headers = { 'content-type': 'application/json', 'x-graphgate': '1', origin: ORIGIN };
  if (cookie) headers.cookie = cookie;
  return fetch(`${proxy.base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
}

function runCheck(configFile) {
  return new Promise((ok) => {
    execFile(binary('graphgate-proxy'), ['check', '--config', configFile], (error, stdout, stderr) =>
      ok({ code: error ? error.code : 0, output: `${stdout}${stderr}` }),
    );
  });
}

test('graphgate-proxy signs in, caches, refreshes with rotation and signs out against oidc-provider', async () => {
  const op = await startOidcProvider({
    tenant: SANDBOX.contoso,
    clientId: SANDBOX.clientId,
    clientSecret: SANDBOX.secret,
    redirectUris: [REDIRECT],
  });
  let proxy;
  try {
    // Every forced refresh goes upstream here: the test follows the provider's rotation step by step.
    proxy = await startProxy(op, { origins: [ORIGIN], redirectUris: [REDIRECT], extra: 'force_refresh_interval_secs = 0' });

    // The discovery document is the provider's own: its issuer has no `/v2.0`.
    const discovery = await send(`${op.base}/${SANDBOX.contoso}/v2.0/.well-known/openid-configuration`, op);
    assert.equal(JSON.parse(discovery.text).issuer, `${op.base}/${SANDBOX.contoso}`);

    const { code, state, signInCookie } = await signIn(proxy, op);
    assert.ok(code, 'a code came back');
    const exchange = await post(proxy, '/api/auth/exchange', { cookie: signInCookie, body: { code, state } });
    const signedIn = await exchange.json();
    assert.equal(exchange.status, 200, JSON.stringify(signedIn));
    const cookie = exchange.headers.get('set-cookie').split(';')[0];
    assert.ok(signedIn.accessToken, 'an access token');
    assert.equal(signedIn.refreshToken, undefined, 'the refresh token stays in the proxy');
    // Neither tid nor oid: the account is keyed on iss and sub.
    assert.deepEqual(
      {
        homeAccountId: signedIn.account.homeAccountId,
        objectId: signedIn.account.objectId,
        tenantId: signedIn.account.tenantId,
        username: signedIn.account.username,
        name: signedIn.account.name,
      },
      {
        homeAccountId: `${ACCOUNT.sub}.${op.issuer}`,
        objectId: ACCOUNT.sub,
        tenantId: '',
        username: ACCOUNT.preferred_username,
        name: ACCOUNT.name,
      },
    );
    assert.deepEqual(op.stats.grants, { authorization_code: 1 });
    assert.equal(op.stats.refreshIssued.length, 1, 'offline_access was kept: a refresh token');

    // Cached: twice from the proxy's cache, no token call at the provider.
    const calls = op.stats.tokenCalls;
    for (let i = 0; i < 2; i += 1) {
      const res = await post(proxy, '/api/auth/token', { cookie });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.accessToken, signedIn.accessToken, 'the cached token');
    }
    assert.equal(op.stats.tokenCalls, calls, 'no upstream token call for a cached token');

    // Forced refresh, twice: each consumes the refresh token the proxy stored last (the provider
    // revokes the grant when a rotated-away token is used again).
    let previous = signedIn.accessToken;
    for (let i = 1; i <= 2; i += 1) {
      const res = await post(proxy, '/api/auth/token', { cookie, body: { forceRefresh: true } });
      const body = await res.json();
      assert.equal(res.status, 200, `${JSON.stringify(body)} ${op.stats.errors}`);
      assert.notEqual(body.accessToken, previous, 'a new access token');
      previous = body.accessToken;
      assert.equal(op.stats.grants.refresh_token, i);
      assert.deepEqual(op.stats.refreshConsumed, op.stats.refreshIssued.slice(0, i), 'the last one was used');
      assert.equal(op.stats.refreshIssued.length, i + 1, 'and a new one issued');
    }
    assert.deepEqual(op.stats.errors, []);
    const after = await post(proxy, '/api/auth/token', { cookie });
    assert.equal((await after.json()).accessToken, previous, 'the refreshed token is cached');

    const session = await fetch(`${proxy.base}/api/auth/session`, { headers: { cookie } });
    const sessionBody = await session.json();
    assert.equal(session.status, 200, JSON.stringify(sessionBody));
    assert.equal(sessionBody.account.homeAccountId, `${ACCOUNT.sub}.${op.issuer}`);

    const logout = await post(proxy, '/api/auth/logout', { cookie });
    const logoutBody = await logout.json();
    assert.equal(logout.status, 200, JSON.stringify(logoutBody));
    const endSession = JSON.parse(discovery.text).end_session_endpoint;
    assert.ok(logoutBody.logoutUrl.startsWith(`${endSession}?post_logout_redirect_uri=`), logoutBody.logoutUrl);
    const gone = await fetch(`${proxy.base}/api/auth/session`, { headers: { cookie } });
    assert.equal(gone.status, 401);
    assert.equal((await post(proxy, '/api/auth/token', { cookie })).status, 401);

    // `check` passes: discovery fetched, an app-only token issued (its opaque token's roles
    // cannot be read, which is a warning).
    const check = await runCheck(join(proxy.dir, 'proxy.toml'));
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /^ok .*discovery document/m, check.output);
    assert.match(check.output, /^ok .*app-only token was issued/m, check.output);
    assert.match(check.output, /^warning .*not a JWT graphgate can read/m, check.output);
  } finally {
    await proxy?.stop();
    await op.stop();
  }
});

// The MSAL side of msal-node.test.mjs: run with NODE_EXTRA_CA_CERTS and EMU_BASE set.
// Prints "ok: <step>" per completed step; any failure exits non-zero with the reason.
import assert from 'node:assert/strict';
import { ConfidentialClientApplication, CryptoProvider, LogLevel } from '@azure/msal-node';

const base = process.env.EMU_BASE;
const host = new URL(base).host;
const TENANT = '8eaef023-2b34-4da1-9baa-8bc8c9d6a490';
const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';
const CLIENT_SECRET = 'sandbox-secret~5yN.Xq2Vt8Lw3Kd9Rb7Mh4Fz';
const ADELE = 'a1f5c3e2-0b4d-4c6e-8f1a-2b3c4d5e6f70';
const REDIRECT = 'http://localhost:5173/';
const SCOPES = ['User.Read', 'Mail.Send'];

const logs = [];
const app = () =>
  new ConfidentialClientApplication({
    auth: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      authority: `${base}/${TENANT}`,
      knownAuthorities: [host],
    },
    system: {
      loggerOptions: { logLevel: LogLevel.Verbose, piiLoggingEnabled: false, loggerCallback: (_l, m) => logs.push(m) },
    },
  });

/** The emulator's control API (`/_emulator/…`). */
async function control(method, path) {
  const res = await fetch(`${base}/_emulator${path}`, { method });
  assert.ok(res.ok, `${method} ${path}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

/** The token requests the emulator has answered since the counters were reset. */
async function tokenCalls() {
  const calls = await control('GET', '/calls');
  return Object.entries(calls).filter(([key]) => key.startsWith('token:') || key.endsWith('/oauth2/v2.0/token'));
}

/** Clicks through the emulator's sign-in and consent pages as the given account. */
async function signIn(authUrl, account) {
  const query = new URL(authUrl).search.slice(1);
  const action = `${base}/${TENANT}/oauth2/v2.0/authorize`;
  const page = await fetch(authUrl);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Pick an account/);
  const post = (step) =>
    fetch(action, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ q: query, account, step }) });
  let res = await post('select');
  if (res.status === 200) {
    assert.match(await res.text(), /Permissions requested/);
    res = await post('accept');
  }
  assert.equal(res.status, 303);
  const location = new URL(res.headers.get('location'));
  return { code: location.searchParams.get('code'), state: location.searchParams.get('state') };
}

try {
  const cca = app();
  const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
  const state = `st-${Date.now()}`;
  const nonce = `n-${Date.now()}`;
  const authUrl = await cca.getAuthCodeUrl({
    scopes: SCOPES,
    redirectUri: REDIRECT,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    state,
    nonce,
  });
  assert.ok(authUrl.startsWith(`${base}/${TENANT}/oauth2/v2.0/authorize?`), authUrl);
  const { code, state: returned } = await signIn(authUrl, ADELE);
  assert.equal(returned, state);

  const first = await cca.acquireTokenByCode(
    { code, scopes: SCOPES, redirectUri: REDIRECT, codeVerifier: verifier, nonce, state },
    { code, state: returned },
  );
  assert.ok(first.accessToken);
  assert.ok(first.account, 'an account from the id_token');
  assert.equal(first.account.tenantId, TENANT);
  assert.equal(first.account.username, 'adele@contoso.onmicrosoft.com');
  assert.equal(first.idTokenClaims.nonce, nonce);
  console.log('ok: code redeemed');

  // The answer's scopes are written as Entra writes them (Graph's short form), so MSAL finds the
  // token in its cache by the scopes asked for: no call upstream at all.
  await control('DELETE', '/calls');
  const cached = await cca.acquireTokenSilent({ account: first.account, scopes: SCOPES });
  assert.equal(cached.fromCache, true, 'served from the cache');
  assert.equal(cached.accessToken, first.accessToken);
  assert.deepEqual(await tokenCalls(), [], 'no token request reached the emulator');
  console.log('ok: served from cache');

  const silent = await cca.acquireTokenSilent({ account: first.account, scopes: SCOPES, forceRefresh: true });
  assert.equal(silent.fromCache, false);
  assert.notEqual(silent.accessToken, first.accessToken);
  console.log('ok: refreshed silently');

  const cache = JSON.parse(cca.getTokenCache().serialize());
  const refreshToken = Object.values(cache.RefreshToken)[0].secret;
  const byToken = await app().acquireTokenByRefreshToken({ refreshToken, scopes: SCOPES });
  assert.ok(byToken.accessToken);
  console.log('ok: refreshed by token');

  const appOnly = await app().acquireTokenByClientCredential({ scopes: [`${base}/.default`] });
  assert.ok(appOnly.accessToken);
  assert.equal(appOnly.tokenType, 'Bearer');
  const roles = JSON.parse(Buffer.from(appOnly.accessToken.split('.')[1], 'base64url')).roles;
  assert.deepEqual(roles, ['User.Invite.All', 'User.Read.All']);
  console.log('ok: client credentials');
} catch (e) {
  console.error(`failed: ${e?.errorCode ?? ''} ${e?.message ?? e}`);
  console.error(logs.slice(-15).join('\n'));
  process.exit(1);
}

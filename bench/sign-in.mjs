// A scripted sign-in without a browser, the same for graphgate-proxy and the msal-node peer:
// begin at the server (which answers state, nonce and the PKCE challenge and sets its cookie),
// post the emulator's own account-picker and consent forms, and redeem the code at the server.
// Resolves to the `Cookie` header value that carries the new session.

/** Cookies kept from `Set-Cookie` answers, as a browser would for one site. */
class Jar {
  #cookies = new Map();
  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair.indexOf('=');
      this.#cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
  }
  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function post(url, body, jar) {
  const headers = { 'content-type': 'application/json', 'x-graphgate': '1', cookie: jar.header() };
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  jar.take(res);
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * Signs `account` (an object ID or username the emulator knows) in at `server`, against the
 * emulator at `emulator` (over HTTPS: msal-node refuses an http authority, so Node must trust its
 * CA through NODE_EXTRA_CA_CERTS), for `clientId` in `tenant`, returning to `redirectUri`, asking
 * for `scopes`. Consent is given on the way when the emulator asks.
 */
export async function signIn({ server, emulator, tenant, clientId, account, redirectUri, scopes }) {
  const jar = new Jar();
  const begun = await post(`${server}/api/auth/begin`, { redirectUri, scopes }, jar);
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    response_mode: 'query',
    scope: ['openid', 'offline_access', ...scopes].join(' '),
    state: begun.state,
    nonce: begun.nonce,
    code_challenge: begun.codeChallenge,
    code_challenge_method: 'S256',
  }).toString();
  const action = `${emulator}/${tenant}/oauth2/v2.0/authorize`;
  const form = (step) =>
    fetch(action, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ q: query, account, step }) });
  let res = await form('select');
  if (res.status === 200) res = await form('accept');
  const location = res.headers.get('location');
  if (!location) throw new Error(`the emulator answered ${res.status} without a redirect: ${await res.text()}`);
  const back = new URL(location).searchParams;
  if (back.get('error')) throw new Error(`${back.get('error')}: ${back.get('error_description')}`);
  if (back.get('state') !== begun.state) throw new Error('the redirect carries another state');
  await post(`${server}/api/auth/exchange`, { code: back.get('code'), state: begun.state }, jar);
  return jar.header();
}

// Browser scenarios of the JavaScript API against graphgate-emulator and graphgate-proxy, run by
// tests/client.rs under wasm-bindgen-test in headless Chromium. Each export throws on failure.
import { createClientFromProxy, GraphgateError, install } from '../../js/graphgate.js';

let env = null;

/**
 * Records the harness's URLs, and loads the API over this test module, which exports the
 * crate's functions as the npm package's module does.
 */
export function boot(emulator, proxy) {
  env = { emulator, proxy };
  install(() => import('/wasm-bindgen-test'));
}

// A recording `fetch`: the module passes a Request (tests may pass a URL). It is sent at once,
// so calls reach the network in the order made; its body is recorded before the answer returns.
function recording(seen, send = fetch) {
  return (input, init) => {
    const req = new Request(input, init);
    const call = { url: req.url, method: req.method, headers: Object.fromEntries(req.headers), body: undefined };
    seen.push(call);
    const sent = send(req.clone(), call);
    return req.text().then((body) => {
      call.body = body;
      return sent;
    });
  };
}

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function eq(actual, expected, message) {
  if (actual !== expected) throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function rejects(promise, message) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error(`expected a rejection: ${message}`);
}

// The emulator's control API.
async function control(method, path, body) {
  const init = { method, credentials: 'include' };
  if (body !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${env.emulator}/_emulator${path}`, init);
  if (!res.ok) throw new Error(`control ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

async function calls(key) {
  const all = await control('GET', '/calls');
  return all[key] ?? 0;
}

const SCOPES = ['User.Read', 'Mail.Read', 'Mail.Send', 'Tasks.Read'];

// An emulator sign-in session for `account`, with the app's consent granted, so the authorize
// request completes without the picker (as Entra does for a hinted user who is signed in).
async function emulatorSession(client, account) {
  await control('POST', '/consents', { clientId: client.options.clientId, account, scopes: SCOPES });
  await control('POST', '/sessions', { account });
}

// Loads `url` in a hidden iframe until it comes back to this origin; resolves that URL.
function throughFrame(url) {
  return new Promise((resolve, reject) => {
    const frame = document.createElement('iframe');
    frame.style.display = 'none';
    const timer = setTimeout(() => {
      frame.remove();
      reject(new Error(`the sign-in did not come back to ${location.origin} (the emulator showed a page instead)`));
    }, 15_000);
    frame.addEventListener('load', () => {
      let href = '';
      try {
        href = frame.contentWindow.location.href;
      } catch {
        return; // still on the emulator's origin
      }
      if (href.startsWith(location.origin)) {
        clearTimeout(timer);
        frame.remove();
        resolve(href);
      }
    });
    frame.src = url;
    document.body.appendChild(frame);
  });
}

// A client whose navigations go through a hidden iframe and whose clock the test moves. With
// `sleeping`, the clock's `sleep` stands in for the module's timer: waits are recorded in
// `clock.slept` and move the clock instead of taking time.
async function newClient(extra = {}, { sleeping = false } = {}) {
  const clock = { now: Date.now(), slept: [] };
  const sleep = (ms) => {
    clock.slept.push(ms);
    clock.now += ms;
    return Promise.resolve();
  };
  const seen = [];
  const navigated = [];
  const client = await createClientFromProxy(env.proxy, {
    clock: sleeping ? { now: () => clock.now, sleep } : () => clock.now,
    navigate: (url) => navigated.push(url),
    fetch: recording(seen),
    ...extra,
  });
  return { client, clock, seen, navigated };
}

const proxyCalls = (seen, path) => seen.filter((c) => c.url.includes(path)).length;

// Signs `account` in through the redirect flow; resolves handleRedirect's answer.
async function signIn(t, account, req = {}) {
  await emulatorSession(t.client, account);
  await t.client.loginRedirect({ loginHint: account, ...req });
  const landed = await throughFrame(t.navigated.at(-1));
  t.landed = landed;
  history.pushState(null, '', landed);
  return t.client.handleRedirect();
}

/** loginRedirect keeps the pending request in sessionStorage; handleRedirect takes it once. */
export async function sessionStorageHandling() {
  const t = await newClient();
  const before = sessionStorage.length;
  await t.client.loginRedirect({ scopes: ['User.Read'], loginHint: 'adele@contoso.onmicrosoft.com', state: 'page-7' });
  const url = new URL(t.navigated[0]);
  const params = url.searchParams;
  eq(params.get('code_challenge_method'), 'S256', 'PKCE method');
  eq(params.get('login_hint'), 'adele@contoso.onmicrosoft.com', 'login_hint');
  eq(params.get('scope'), 'openid offline_access User.Read', 'scopes');
  const state = params.get('state');
  assert(state && state !== 'page-7', 'the protocol state is random, not the page state');
  const kept = JSON.parse(sessionStorage.getItem(`graphgate.pending.${state}`));
  assert(kept, 'the pending request is in sessionStorage under its state');
  eq(kept.appState, 'page-7', 'the page state is kept');
  // The proxy began the sign-in and keeps the verifier: it is nowhere in the page's storage.
  eq(proxyCalls(t.seen, '/api/auth/begin'), 1, 'begun at the proxy');
  assert(/^[A-Za-z0-9_-]{43}$/.test(params.get('code_challenge')), 'an S256 challenge from the proxy');
  assert(params.get('nonce'), 'a nonce from the proxy');
  for (let i = 0; i < sessionStorage.length; i++) {
    const text = sessionStorage.getItem(sessionStorage.key(i));
    assert(!/verifier|nonce/i.test(text) && !text.includes(params.get('nonce')), `no verifier or nonce kept: ${text}`);
  }
  eq(document.cookie.includes('graphgate-signin'), false, 'the sign-in cookie is HttpOnly');
  eq(sessionStorage.length, before + 1, 'one entry per pending sign-in');
  for (let i = 0; i < localStorage.length; i++) assert(!localStorage.key(i).startsWith('graphgate'), 'nothing in localStorage');
  // A redirect carrying another state is refused, and the pending entry stays for the real one.
  const forged = await rejects(t.client.handleRedirect(`${location.origin}/?code=abc&state=forged`), 'forged state');
  assert(forged instanceof GraphgateError, 'a GraphgateError');
  eq(forged.code, 'no_pending_request', 'unknown state');
  assert(sessionStorage.getItem(`graphgate.pending.${state}`), 'still pending');
  // Not a redirect at all: null, and nothing is consumed.
  eq(await t.client.handleRedirect(`${location.origin}/inbox?page=2`), null, 'not a redirect');
  // A stale pending entry (over an hour old) is dropped at the next redirect.
  t.clock.now += 2 * 3600 * 1000;
  await rejects(t.client.handleRedirect(`${location.origin}/?code=abc&state=other`), 'stale');
  eq(sessionStorage.getItem(`graphgate.pending.${state}`), null, 'stale entries are removed');
  // Bad options are typed errors from the wasm core.
  const bad = await rejects(t.client.loginRedirect({ prompt: 'always' }), 'bad prompt');
  eq(bad.code, 'config_invalid', 'bad prompt code');
  const badScope = await rejects(t.client.loginRedirect({ scopes: ['User Read'] }), 'bad scope');
  eq(badScope.code, 'invalid_scope', 'bad scope code');
}

/** The redirect round trip against the emulator and the proxy, and the address bar cleaned. */
export async function redirectRoundTrip() {
  const t = await newClient();
  const result = await signIn(t, 'adele@contoso.onmicrosoft.com', { state: 'back-to-inbox' });
  eq(result.account.username, 'adele@contoso.onmicrosoft.com', 'the account');
  eq(result.account.accountType, 'member', 'a member');
  eq(result.state, 'back-to-inbox', 'the page state comes back');
  assert(result.accessToken.split('.').length === 3, 'a JWT access token');
  eq(location.search, '', 'code and state are gone from the address bar');
  eq((await t.client.account()).username, 'adele@contoso.onmicrosoft.com', 'account()');
  const me = await t.client.me();
  eq(me.userPrincipalName, 'adele@contoso.onmicrosoft.com', 'GET /me with the bearer token');
  // A second client (a reload) finds the session through the proxy's cookie.
  const again = await newClient();
  eq((await again.client.account()).username, 'adele@contoso.onmicrosoft.com', 'the session survives a reload');
  // The same redirect cannot be redeemed twice.
  const replay = await rejects(t.client.handleRedirect(t.landed), 'replay');
  eq(replay.code, 'no_pending_request', 'no second redemption');
}

/** Sign-in in a popup, and the popup's failure modes. */
export async function popupSignIn() {
  const t = await newClient();
  await emulatorSession(t.client, 'megan@contoso.onmicrosoft.com');
  const result = await t.client.loginPopup({ loginHint: 'megan@contoso.onmicrosoft.com' });
  eq(result.account.username, 'megan@contoso.onmicrosoft.com', 'popup sign-in');
  eq(location.search, '', 'the opener page is untouched');
  // A blocked popup rejects at once, explained.
  const realOpen = window.open;
  window.open = () => null;
  try {
    const blocked = await rejects(t.client.loginPopup({}), 'blocked popup');
    eq(blocked.code, 'popup_blocked', 'blocked');
    assert(blocked.hint, 'explained by the catalogue');
  } finally {
    window.open = realOpen;
  }
  // A popup closed by the user rejects with popup_closed. Without a session the emulator shows its
  // picker, which waits for a click that never comes; the test closes the window.
  let opened;
  const popupOpened = new Promise((resolve) => {
    opened = resolve;
  });
  window.open = (...a) => {
    const w = realOpen.apply(window, a);
    opened(w);
    return w;
  };
  try {
    const pending = t.client.loginPopup({ prompt: 'select_account' });
    (await popupOpened).close();
    const closed = await rejects(pending, 'closed popup');
    eq(closed.code, 'popup_closed', 'closed');
  } finally {
    window.open = realOpen;
  }
}

/** An error redirect is explained from the catalogue: AADSTS50020 says to invite or use /common/. */
export async function errorRedirectIsExplained() {
  const t = await newClient();
  const e = await rejects(signIn(t, 'bob@fabrikam.onmicrosoft.com'), 'an external user through the tenant authority');
  assert(e instanceof GraphgateError, 'a GraphgateError');
  eq(e.aadsts, 50020, 'AADSTS number');
  eq(e.code, 'AADSTS50020', 'code');
  assert(/invit/i.test(e.hint) && /\/common\//.test(e.hint), `the hint says invite or /common/: ${e.hint}`);
  assert(e.hintZh && /[\u4e00-\u9fff]/.test(e.hintZh), 'a Chinese hint');
  eq(location.search, '', 'the error redirect is cleaned from the address bar too');
}

/** Tokens come from memory while fresh; parallel callers share one request; expiry refreshes. */
export async function tokenCacheAndSingleFlight() {
  const t = await newClient();
  const { accessToken } = await signIn(t, 'adele@contoso.onmicrosoft.com');
  const tokenCalls = () => proxyCalls(t.seen, '/api/auth/token');
  const first = await Promise.all(Array.from({ length: 20 }, () => t.client.getAccessToken()));
  assert(first.every((x) => x === accessToken), 'the exchanged token is served from memory');
  eq(tokenCalls(), 0, 'no proxy call while the token is fresh');
  // Inside the refresh margin (5 minutes before expiry), the token is renewed: once for everyone.
  t.clock.now += 3600 * 1000 - 200 * 1000;
  const upstreamBefore = await calls('token:refresh_token');
  const renewed = await Promise.all(Array.from({ length: 50 }, () => t.client.getAccessToken()));
  eq(tokenCalls(), 1, 'fifty callers, one proxy request');
  assert(renewed.every((x) => x === renewed[0]), 'everyone got the same token');
  eq(await calls('token:refresh_token'), upstreamBefore, 'the proxy answered from its own cache');
  // forceRefresh goes upstream through the proxy.
  const forced = await t.client.getAccessToken({ forceRefresh: true });
  assert(forced !== accessToken, 'a new token');
  eq(await calls('token:refresh_token'), upstreamBefore + 1, 'one upstream refresh');
  // Signed out: token calls answer interaction_required, typed.
  await t.client.logout();
  const e = await rejects(t.client.getAccessToken({ forceRefresh: true }), 'after logout');
  assert(e instanceof GraphgateError && e.interactionRequired, `interaction required, got ${e.code}`);
  eq(e.error, 'interaction_required', 'the proxy answers interaction_required');
  eq(e.code, 'not_signed_in', 'because the session is gone');
  assert(e.hint, 'explained');
  eq(await t.client.account(), null, 'no account after logout');
}

/** A 401 from Graph: one silent refresh through the proxy and one retry. */
export async function unauthorizedRefreshesOnce() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const meBefore = await calls('GET /v1.0/me');
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'status', status: 401 });
  const me = await t.client.me();
  eq(me.userPrincipalName, 'adele@contoso.onmicrosoft.com', 'the retry succeeds');
  eq(await calls('GET /v1.0/me'), meBefore + 2, 'Graph saw the call and its one retry');
  const forced = t.seen.filter((c) => c.url.includes('/api/auth/token') && JSON.parse(c.body).forceRefresh);
  eq(forced.length, 1, 'one forced refresh');
  // Two 401s in a row: no loop; the error is Graph's, explained.
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 2, kind: 'status', status: 401 });
  const e = await rejects(t.client.me(), 'two 401s');
  eq(e.status, 401, 'the second 401 surfaces');
  eq(await calls('GET /v1.0/me'), meBefore + 4, 'exactly one retry');
}

// Graph's CORS exposure of `Retry-After`, as the emulator's control API switches it.
async function exposeRetryAfter(expose) {
  await control('POST', '/cors', { exposeRetryAfter: expose });
}

/** 429 with Retry-After readable by the page: the call waits and succeeds; a wait beyond the bound fails typed. */
export async function throttlingHonoursRetryAfter() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const meBefore = await calls('GET /v1.0/me');
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'throttle', retry_after: 1 });
  const started = performance.now();
  const me = await t.client.me();
  eq(me.userPrincipalName, 'adele@contoso.onmicrosoft.com', 'succeeds after the wait');
  assert(performance.now() - started >= 1000, 'waited the second Retry-After asked for');
  eq(await calls('GET /v1.0/me'), meBefore + 2, 'one retry');
  // Retry-After of an hour exceeds maxRetryDelaySeconds: no wait, a retryable typed error.
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'throttle', retry_after: 3600 });
  const e = await rejects(t.client.me(), 'too long a wait');
  eq(e.status, 429, 'status');
  assert(e.retryable, 'retryable');
  assert(e.hint, `explained: ${e.code}`);
  // Retries are bounded: four throttles in a row exhaust maxRetries (3).
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 4, kind: 'throttle', retry_after: 0 });
  const before = await calls('GET /v1.0/me');
  const exhausted = await rejects(t.client.me(), 'retries exhausted');
  eq(exhausted.status, 429, 'the last throttle surfaces');
  eq(await calls('GET /v1.0/me'), before + 4, 'the call and three retries');
  // The wait asked for is the wait taken, seen through the page's clock.
  const s = await newClient({}, { sleeping: true });
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'throttle', retry_after: 2 });
  await s.client.me();
  eq(JSON.stringify(s.clock.slept), '[2000]', 'exactly the two seconds Retry-After asked for');
}

/**
 * 429 whose Retry-After CORS hides from the page (Graph once did not expose it; some resources
 * send none): exponential backoff with full jitter, exactly min(N, maxRetries) + 1 calls for N
 * throttles, and the whole wait within maxRetryDelaySeconds, seen through the page's clock.
 */
export async function throttlingWithHiddenRetryAfter() {
  await exposeRetryAfter(false);
  try {
    const t = await newClient({ maxRetryDelaySeconds: 5 }, { sleeping: true });
    await signIn(t, 'adele@contoso.onmicrosoft.com');
    for (const n of [1, 2, 3, 6]) {
      t.clock.slept.length = 0;
      const before = await calls('GET /v1.0/me');
      // Asks for an hour, which the page cannot read: the wait is the module's own.
      await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: n, kind: 'throttle', retry_after: 3600 });
      const outcome = await t.client.me().then(
        (me) => me,
        (e) => e,
      );
      eq(await calls('GET /v1.0/me'), before + Math.min(n, 3) + 1, `${n} throttles: the call and min(N, 3) retries`);
      if (n <= 3) eq(outcome.userPrincipalName, 'adele@contoso.onmicrosoft.com', `${n} throttles: succeeds`);
      else {
        assert(outcome instanceof GraphgateError && outcome.status === 429, `${n} throttles: the last 429 surfaces`);
        assert(outcome.retryable && outcome.hint, 'retryable, explained');
        await control('DELETE', '/faults');
      }
      eq(t.clock.slept.length, Math.min(n, 3), 'one wait per retry');
      t.clock.slept.forEach((ms, i) => assert(ms >= 0 && ms <= 1000 * 2 ** i, `wait ${i} (${ms} ms) within its backoff step`));
      const total = t.clock.slept.reduce((a, b) => a + b, 0);
      assert(total <= 5000, `the waits (${total} ms) stay within maxRetryDelaySeconds`);
    }
    // The bounds of the default client too: four throttles, three retries, then the 429.
    const d = await newClient({}, { sleeping: true });
    await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 4, kind: 'throttle', retry_after: 0 });
    const before = await calls('GET /v1.0/me');
    const exhausted = await rejects(d.client.me(), 'retries exhausted');
    eq(exhausted.status, 429, 'the last throttle surfaces');
    eq(await calls('GET /v1.0/me'), before + 4, 'the call and three retries');
  } finally {
    await exposeRetryAfter(true);
  }
}

/** pages() follows @odata.nextLink; listMessages gives one page and its link. */
export async function pagingFollowsNextLink() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const first = await t.client.listMessages({ top: 1, select: ['subject', 'from'] });
  eq(first.value.length, 1, 'one message per page');
  assert(first.nextLink, 'a next link');
  const subjects = [];
  let pages = 0;
  for await (const page of t.client.graph.pages('/me/messages?$top=1&$select=subject')) {
    pages++;
    subjects.push(...page.map((m) => m.subject));
  }
  assert(pages >= 2, `several pages (${pages})`);
  eq(subjects.length, pages, 'one message each');
  assert(subjects.includes('Welcome to the graphgate sandbox'), 'the seeded message is among them');
  eq(new Set(subjects).size, subjects.length, 'no page repeats');
  const lists = await t.client.todoLists();
  assert(lists.length >= 1, 'To Do lists');
  const tasks = await t.client.todoTasks(lists[0].id);
  assert(Array.isArray(tasks), 'tasks of a list');
}

/** batch() sends 20 requests per $batch call and answers in the order asked. */
export async function batchSplitsAtTwenty() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const before = await calls('POST /v1.0/$batch');
  const requests = Array.from({ length: 45 }, (_, i) => ({ id: `r${i}`, method: 'GET', url: i % 2 ? '/me' : '/me/todo/lists' }));
  const answers = await t.client.graph.batch(requests);
  eq(await calls('POST /v1.0/$batch'), before + 3, '45 requests, three $batch calls');
  eq(answers.length, 45, 'an answer each');
  answers.forEach((a, i) => {
    eq(a.id, `r${i}`, 'in the order asked');
    eq(a.status, 200, `answer ${i}`);
  });
  eq(answers[1].body.userPrincipalName, 'adele@contoso.onmicrosoft.com', 'bodies come back');
  // Requests joined by dependsOn stay in one $batch across the 20 boundary (Graph refuses a
  // dependsOn on a request of another batch), and made-up ids never take the caller's ('3').
  const chained = [
    { id: '3', url: '/me' },
    ...Array.from({ length: 18 }, () => ({ url: '/me' })),
    { id: 'lists', url: '/me/todo/lists' },
    { id: 'after', url: '/me', dependsOn: ['lists'] },
  ];
  const calledBefore = await calls('POST /v1.0/$batch');
  const chainedAnswers = await t.client.graph.batch(chained);
  eq(await calls('POST /v1.0/$batch'), calledBefore + 2, '21 requests, two $batch calls');
  chainedAnswers.forEach((a, i) => eq(a.status, 200, `chained answer ${i}`));
  eq(new Set(chainedAnswers.map((a) => a.id)).size, 21, 'every id once');
  eq(chainedAnswers[0].id, '3', "the caller's id");
  eq(chainedAnswers[20].id, 'after', 'the dependent request, in its place');
  const tooMany = Array.from({ length: 21 }, (_, i) => ({ id: `c${i}`, url: '/me', dependsOn: i ? [`c${i - 1}`] : undefined }));
  const refused = await rejects(t.client.graph.batch(tooMany), 'a chain longer than one $batch');
  eq(refused.code, 'invalid_json_body', 'typed');
}

/**
 * A second sign-in (another account, other scopes) leaves nothing of the first: every token kept
 * for it is dropped. Two handleRedirect calls on one redirect share one redemption.
 */
export async function signingInAgainReplacesTheAccount() {
  const t = await newClient();
  await emulatorSession(t.client, 'adele@contoso.onmicrosoft.com');
  await t.client.loginRedirect({ loginHint: 'adele@contoso.onmicrosoft.com' });
  history.pushState(null, '', await throughFrame(t.navigated.at(-1)));
  const exchanges = proxyCalls(t.seen, '/api/auth/exchange');
  const [a, b] = await Promise.all([t.client.handleRedirect(), t.client.handleRedirect()]);
  assert(a && a === b, 'both calls get the one answer');
  eq(proxyCalls(t.seen, '/api/auth/exchange'), exchanges + 1, 'one redemption');
  eq((await t.client.me()).userPrincipalName, 'adele@contoso.onmicrosoft.com', 'Adele');
  const adeleMail = await t.client.getAccessToken({ scopes: ['Mail.Read'] });
  // Megan signs in on the same page with other scopes than the default ones.
  const megan = await signIn(t, 'megan@contoso.onmicrosoft.com', { scopes: ['User.Read'] });
  eq(megan.account.username, 'megan@contoso.onmicrosoft.com', 'Megan signed in');
  eq((await t.client.account()).username, 'megan@contoso.onmicrosoft.com', 'account() is Megan');
  eq((await t.client.me()).userPrincipalName, 'megan@contoso.onmicrosoft.com', "Graph sees Megan, not Adele's kept token");
  assert((await t.client.getAccessToken({ scopes: ['Mail.Read'] })) !== adeleMail, "Adele's Mail.Read token is gone");
}

/** sendMail reaches the recipient's mailbox in the emulator; Graph errors are explained. */
export async function sendMailAndGraphErrors() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const subject = `graphgate browser test ${Math.random().toString(36).slice(2)}`;
  eq(await t.client.sendMail({ to: 'megan@contoso.onmicrosoft.com', subject, text: 'Hello from the browser' }), null, '202, no body');
  const box = await control('GET', '/mailboxes/megan@contoso.onmicrosoft.com');
  assert(box.value.some((m) => m.subject === subject), 'the message arrived');
  const e = await rejects(t.client.graph.get('/me/todo/lists/no-such-list/tasks'), 'a missing list');
  assert(e instanceof GraphgateError, 'typed');
  eq(e.status, 404, 'status');
  assert(e.code && e.hint, `explained: ${e.code}`);
  // A body that is bytes goes as it is, with its own type; the method may be given in any case.
  const raw = `graphgate raw body ${Math.random().toString(36).slice(2)}`;
  const blob = new Blob([JSON.stringify({ message: { subject: raw, body: { contentType: 'Text', content: 'x' }, toRecipients: [{ emailAddress: { address: 'megan@contoso.onmicrosoft.com' } }] } })], { type: 'application/json' });
  eq(await t.client.graph.request('post', '/me/sendMail', blob), null, 'sent from a Blob');
  const box2 = await control('GET', '/mailboxes/megan@contoso.onmicrosoft.com');
  assert(box2.value.some((m) => m.subject === raw), 'the Blob body arrived as the message');
  // An answer that says JSON but is not is a typed error, not a SyntaxError.
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'malformed_json' });
  const malformed = await rejects(t.client.me(), 'malformed JSON');
  assert(malformed instanceof GraphgateError, `typed, got ${malformed?.name}`);
  eq(malformed.code, 'malformed_response', 'malformed_response');
}

/** A redeemed invitation's return starts a silent sign-in, and an interactive one when it must. */
export async function inviteReturnSignsInSilently() {
  const t = await newClient();
  await emulatorSession(t.client, 'megan@contoso.onmicrosoft.com');
  eq(await t.client.handleRedirect(`${location.origin}/?code=from-the-invitation&state=graphgate-invite`), null, 'no result yet');
  const silent = new URL(t.navigated.at(-1));
  eq(silent.searchParams.get('prompt'), 'none', 'tried silently first');
  history.pushState(null, '', await throughFrame(silent.href));
  const result = await t.client.handleRedirect();
  eq(result.account.username, 'megan@contoso.onmicrosoft.com', 'signed in without a click');
  // No session at Microsoft any more: the silent try comes back login_required, and the page is
  // sent to the interactive sign-in instead of showing an error.
  await control('DELETE', '/sessions');
  await t.client.handleRedirect(`${location.origin}/?code=again&state=graphgate-invite`);
  const second = t.navigated.at(-1);
  history.pushState(null, '', await throughFrame(second));
  const before = t.navigated.length;
  eq(await t.client.handleRedirect(), null, 'no result: the user is asked');
  eq(t.navigated.length, before + 1, 'one more navigation');
  const interactive = new URL(t.navigated.at(-1));
  eq(interactive.searchParams.get('prompt'), null, 'interactive this time');
  eq(location.search, '', 'the address bar is clean');
}

/** What the client refuses: app routes taken for redirects, tokens to other hosts, replayed writes. */
export async function guardsAgainstMisuse() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  // An app route with `code`, `error` or `state` in its query is not a sign-in answer: untouched.
  for (const route of ['/inbox?code=PROMO&state=x', '/?error=404', '/?code=PROMO']) {
    history.pushState(null, '', route);
    eq(await t.client.handleRedirect(), null, `${route} is not a redirect`);
    eq(`${location.pathname}${location.search}`, route, `${route} stays in the address bar`);
  }
  history.pushState(null, '', '/');
  // The bearer token goes to the Graph base's origin only.
  const before = t.seen.length;
  const away = await rejects(t.client.graph.get('https://evil.example/v1.0/me'), 'another host');
  eq(away.code, 'invalid_url', 'refused');
  eq(t.seen.slice(before).filter((c) => c.url.includes('evil.example')).length, 0, 'nothing was sent there');
  // A method Graph does not answer to is refused before anything is sent (fetch itself would
  // throw on TRACE, which then read as a network failure).
  for (const verb of ['TRACE', 'PROPFIND', 'GE T']) {
    const bad = await rejects(t.client.graph.request(verb, '/me'), `method ${verb}`);
    eq(bad.code, 'invalid_url', `${verb} is refused as a method`);
    eq(bad.message, `'${verb}' is not an HTTP method`, 'says why');
  }
  eq(t.seen.slice(before).filter((c) => c.url.includes('/v1.0/')).length, 0, 'nothing was sent for them');
  // A write answered 504 may have happened: it is not sent again (a read would be).
  const sends = await calls('POST /v1.0/me/sendMail');
  await control('POST', '/faults', { path: '/v1.0/me/sendMail', method: 'POST', count: 1, kind: 'status', status: 504 });
  const timeout = await rejects(t.client.sendMail({ to: 'megan@contoso.onmicrosoft.com', subject: 'once', text: 'x' }), '504');
  eq(timeout.status, 504, 'the 504 surfaces');
  eq(await calls('POST /v1.0/me/sendMail'), sends + 1, 'the write was sent once');
  // A forced refresh does not join an ordinary request already under way.
  t.clock.now += 3600 * 1000;
  const tokenCalls = () => t.seen.filter((c) => c.url.includes('/api/auth/token')).length;
  const asked = tokenCalls();
  const [plain, forced] = await Promise.all([t.client.getAccessToken(), t.client.getAccessToken({ forceRefresh: true })]);
  eq(tokenCalls(), asked + 2, 'two requests: the forced one on its own');
  assert(plain && forced && plain !== forced, 'the forced one is a new token');
  // Scopes are a list, or one scope as a string (as getAccessToken takes them); anything else is
  // refused saying what is expected.
  const one = await newClient({ scopes: 'Mail.Send' });
  eq(JSON.stringify(one.client.options.scopes), '["Mail.Send"]', 'one scope as a string');
  const loose = await rejects(newClient({ scopes: 5 }), 'scopes of a number');
  eq(loose.code, 'config_invalid', 'typed');
  assert(loose.message.includes('a string or an array of strings'), `says what scopes must be: ${loose.message}`);
  // The same rule wherever a list of strings is taken: a number among getAccessToken's scopes,
  // or a number as listMessages' select, is refused, not dropped.
  const mixed = await rejects(t.client.getAccessToken({ scopes: ['User.Read', 7] }), 'a number among the scopes');
  eq(mixed.code, 'invalid_json_body', 'typed');
  assert(/^getAccessToken: invalid type\b.*, expected a string$/.test(mixed.message), `says what a scope must be: ${mixed.message}`);
  const select = await rejects(t.client.listMessages({ select: 5 }), 'select of a number');
  eq(select.code, 'invalid_json_body', 'typed');
  assert(select.message.endsWith('expected a string or an array of strings'), `says what select must be: ${select.message}`);
  // A wrongly typed option is named, with what was expected in serde's words, without the
  // `Error: ` of a JavaScript error's text in the middle of the sentence.
  const typed = await rejects(newClient({ maxRetries: 'three' }), 'maxRetries as a string');
  eq(typed.code, 'config_invalid', 'typed');
  assert(/^the client's options: maxRetries: invalid type: string\b.*, expected f64$/.test(typed.message), `names it and says what it wanted: ${typed.message}`);
  const login = await rejects(t.client.loginRedirect({ loginHint: 42 }), 'loginHint as a number');
  eq(login.code, 'invalid_json_body', 'typed');
  assert(/^loginRedirect: loginHint: invalid type\b.*, expected a string$/.test(login.message), `names it: ${login.message}`);
  // Options are an object: a string or an array (which serde would read by position) is refused.
  for (const [given, kind] of [['User.Read', 'string'], [['User.Read'], 'array']]) {
    const shape = await rejects(t.client.loginRedirect(given), `loginRedirect(${JSON.stringify(given)})`);
    eq(shape.code, 'invalid_json_body', 'typed');
    eq(shape.message, `loginRedirect: expected an object (given: ${kind})`, 'says what it takes');
  }
  // A refresh margin beyond the proxy's own would count every token as stale: refused.
  const margin = await rejects(newClient({ refreshMarginSeconds: 600 }), 'too large a margin');
  eq(margin.code, 'config_invalid', 'typed');
  assert(margin.hint, 'explained');
  // Sign-out the proxy could not do keeps the user signed in here, and says why.
  const down = await newClient({
    fetch: recording([], (req, call) => (call.url.includes('/api/auth/logout') ? Promise.reject(new TypeError('offline')) : fetch(req))),
  });
  eq((await down.client.account()).username, 'adele@contoso.onmicrosoft.com', 'signed in');
  const failed = await rejects(down.client.logout(), 'proxy unreachable');
  eq(failed.code, 'network_error', 'typed');
  eq((await down.client.account()).username, 'adele@contoso.onmicrosoft.com', 'still signed in');
}

/** A throttled request inside a `$batch` is resent alone after its own Retry-After; one whose dependency was throttled goes with it. */
export async function batchResendsThrottledRequests() {
  const t = await newClient({}, { sleeping: true });
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const batches = () => t.seen.filter((c) => c.url.endsWith('/$batch'));
  const idsOf = (call) => JSON.parse(call.body).requests.map((r) => r.id);
  await control('POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'throttle', retry_after: 2, in_batch: true });
  const before = batches().length;
  const answers = await t.client.graph.batch([
    { id: 'me', url: '/me' },
    { id: 'lists', url: '/me/todo/lists' },
  ]);
  eq(batches().length, before + 2, 'the $batch and one resend');
  eq(JSON.stringify(idsOf(batches().at(-1))), '["me"]', 'only the throttled request is resent');
  eq(JSON.stringify(t.clock.slept), '[2000]', "after its own Retry-After, read from the batch's body");
  eq(answers.map((a) => `${a.id}:${a.status}`).join(' '), 'me:200 lists:200', 'both answered, in order');
  eq(answers[0].body.userPrincipalName, 'adele@contoso.onmicrosoft.com', 'the resent answer');
  // A throttled request takes the requests that depend on it (answered 424) along.
  await control('POST', '/faults', { path: '/v1.0/me/todo/lists', method: 'GET', count: 1, kind: 'throttle', retry_after: 1, in_batch: true });
  const chained = await t.client.graph.batch([
    { id: 'me', url: '/me' },
    { id: 'lists', url: '/me/todo/lists' },
    { id: 'again', url: '/me', dependsOn: ['lists'] },
  ]);
  const resent = JSON.parse(batches().at(-1).body).requests;
  eq(JSON.stringify(resent.map((r) => r.id)), '["lists","again"]', 'the throttled request and its dependant');
  eq(JSON.stringify(resent[1].dependsOn), '["lists"]', 'still joined');
  eq(chained.map((a) => `${a.id}:${a.status}`).join(' '), 'me:200 lists:200 again:200', 'all answered');
}

/** Two tabs holding the same redirect (a duplicated tab) make one redemption. */
export async function twoTabsRedeemOnce() {
  const a = await newClient();
  await emulatorSession(a.client, 'adele@contoso.onmicrosoft.com');
  await a.client.loginRedirect({ loginHint: 'adele@contoso.onmicrosoft.com' });
  const landed = await throughFrame(a.navigated.at(-1));
  // The other tab has its own copy of sessionStorage, holding the same pending sign-in.
  const b = await newClient({ storage: copyOf(sessionStorage) });
  const exchanges = () => proxyCalls(a.seen, '/api/auth/exchange') + proxyCalls(b.seen, '/api/auth/exchange');
  const [ra, rb] = await Promise.all([a.client.handleRedirect(landed), b.client.handleRedirect(landed)]);
  eq(exchanges(), 1, 'one redemption for both tabs');
  eq(ra.account.username, 'adele@contoso.onmicrosoft.com', 'one tab signed in');
  eq(rb.account.username, 'adele@contoso.onmicrosoft.com', 'the other uses that sign-in');
  assert(ra.accessToken && rb.accessToken, 'both have a token');
  eq((await b.client.me()).userPrincipalName, 'adele@contoso.onmicrosoft.com', 'and can call Graph');
}

/** Two tabs signing in at once: they begin one at a time (so one sign-in cookie serves both), and each redeems its own sign-in. */
export async function twoTabsSignInAtOnce() {
  const spans = [];
  // Records when each tab's request to /api/auth/begin left and when its answer was in.
  const timed = (tab) => (req, call) => {
    const span = { tab, url: call.url, start: performance.now() };
    return fetch(req).then((res) => {
      span.end = performance.now();
      spans.push(span);
      return res;
    });
  };
  const seenA = [];
  const seenB = [];
  const a = await newClient({ fetch: recording(seenA, timed('a')) });
  const b = await newClient({ fetch: recording(seenB, timed('b')), storage: copyOf(sessionStorage) });
  await emulatorSession(a.client, 'adele@contoso.onmicrosoft.com');
  await Promise.all([
    a.client.loginRedirect({ loginHint: 'adele@contoso.onmicrosoft.com' }),
    b.client.loginRedirect({ loginHint: 'adele@contoso.onmicrosoft.com' }),
  ]);
  const begins = spans.filter((s) => s.url.includes('/api/auth/begin')).sort((x, y) => x.start - y.start);
  eq(begins.length, 2, 'each tab began its own sign-in');
  assert(begins[1].start >= begins[0].end, 'the second began after the first answer (and its cookie) was in');
  const stateOf = (url) => new URL(url).searchParams.get('state');
  assert(stateOf(a.navigated[0]) !== stateOf(b.navigated[0]), 'two sign-ins');
  const [landedA, landedB] = [await throughFrame(a.navigated[0]), await throughFrame(b.navigated[0])];
  const rb = await b.client.handleRedirect(landedB);
  const ra = await a.client.handleRedirect(landedA);
  eq(ra.account.username, 'adele@contoso.onmicrosoft.com', 'the first tab signed in');
  eq(rb.account.username, 'adele@contoso.onmicrosoft.com', 'the second tab signed in');
  eq(proxyCalls(seenA, '/api/auth/exchange') + proxyCalls(seenB, '/api/auth/exchange'), 2, 'each redeemed its own');
  // Its own sign-in only: a tab holding another tab's redirect has nothing to redeem.
  const again = await rejects(a.client.handleRedirect(landedB), 'another tab\'s redirect');
  eq(again.code, 'no_pending_request', 'not this tab\'s');
}

// A Storage-like copy of `store` (what a duplicated tab starts with).
function copyOf(store) {
  const items = new Map();
  for (let i = 0; i < store.length; i++) items.set(store.key(i), store.getItem(store.key(i)));
  return {
    get length() {
      return items.size;
    },
    key: (i) => [...items.keys()][i] ?? null,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, String(v)),
    removeItem: (k) => void items.delete(k),
  };
}

/** Signing out in one tab signs the app's other tabs out: their tokens are dropped from memory. */
export async function signOutReachesOtherTabs() {
  const a = await newClient();
  await signIn(a, 'adele@contoso.onmicrosoft.com');
  let told;
  const signedOut = new Promise((resolve) => {
    told = resolve;
  });
  const b = await newClient({ onSignedOut: () => told() });
  const asked = () => proxyCalls(b.seen, '/api/auth/token');
  await b.client.getAccessToken();
  const n = asked();
  await b.client.getAccessToken();
  eq(asked(), n, 'the other tab answers from memory');
  await a.client.logout();
  await signedOut;
  const e = await rejects(b.client.getAccessToken(), 'signed out elsewhere');
  assert(e.interactionRequired, `interaction required, got ${e.code}`);
  eq(asked(), n + 1, 'its memory was cleared: it asked the proxy');
}

/** A claims challenge from Graph (CAE) is answered through the proxy without the user. */
export async function claimsChallengeAnsweredSilently() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  await control('POST', '/claims-challenges', { account: 'adele@contoso.onmicrosoft.com' });
  try {
    const meBefore = await calls('GET /v1.0/me');
    const me = await t.client.me();
    eq(me.userPrincipalName, 'adele@contoso.onmicrosoft.com', 'answered after the challenge');
    eq(await calls('GET /v1.0/me'), meBefore + 2, 'the challenged call and its retry');
    const claimed = t.seen.filter((c) => c.url.includes('/api/auth/token') && JSON.parse(c.body ?? '{}').claims);
    eq(claimed.length, 1, 'one token request carrying the claims');
    assert(JSON.parse(JSON.parse(claimed[0].body).claims).access_token, "the challenge's claims");
    eq((await t.client.me()).userPrincipalName, 'adele@contoso.onmicrosoft.com', 'the new token satisfies it');
    eq(await calls('GET /v1.0/me'), meBefore + 3, 'no second challenge');
  } finally {
    await control('DELETE', '/claims-challenges');
  }
}

/** A claims challenge that needs the user: the error carries the claims into the next sign-in. */
export async function claimsChallengeNeedsTheUser() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  await control('POST', '/claims-challenges', { account: 'adele@contoso.onmicrosoft.com', interaction: true });
  try {
    const e = await rejects(t.client.me(), 'needs the user');
    assert(e instanceof GraphgateError && e.interactionRequired, `interaction required, got ${e.code}`);
    assert(e.claims && JSON.parse(e.claims).access_token, 'the error carries the claims');
    assert(e.hint, 'explained');
    eq((await t.client.account()).username, 'adele@contoso.onmicrosoft.com', 'the session is kept');
    await t.client.loginRedirect({ loginHint: 'adele@contoso.onmicrosoft.com' });
    const url = new URL(t.navigated.at(-1));
    eq(url.searchParams.get('claims'), e.claims, 'the next sign-in sends the claims');
    history.pushState(null, '', await throughFrame(url.href));
    await t.client.handleRedirect();
    eq((await t.client.me()).userPrincipalName, 'adele@contoso.onmicrosoft.com', 'signed in with the claims, Graph answers');
  } finally {
    await control('DELETE', '/claims-challenges');
  }
}

/** Every Graph request carries a fresh client-request-id; errors keep it, with Graph's request-id. */
export async function errorsCarryRequestIds() {
  const t = await newClient();
  await signIn(t, 'adele@contoso.onmicrosoft.com');
  const e = await rejects(t.client.graph.get('/me/todo/lists/no-such-list/tasks'), 'a missing list');
  const sent = t.seen.filter((c) => c.url.includes('/no-such-list'));
  eq(sent.length, 1, 'one call');
  const id = sent[0].headers['client-request-id'];
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id ?? ''), `a GUID client-request-id: ${id}`);
  eq(e.clientRequestId, id, 'the error keeps the id it was sent with');
  assert(e.requestId && e.requestId !== id, "and Graph's own request-id");
  await t.client.me();
  await t.client.me();
  const ids = t.seen.filter((c) => c.url.endsWith('/v1.0/me')).map((c) => c.headers['client-request-id']);
  eq(new Set(ids).size, ids.length, 'fresh on every request');
}

// graphgate's JavaScript API: sign-in by redirect or popup, the in-memory token cache, the Graph
// client and its typed helpers. Protocol work (PKCE, state, nonce, the authorize URL, the
// redirect's parsing) is done by the wasm module this file is installed over; see `install`.

let core = null;
let initCore = null;
let ready = null;

/** Binds the wasm exports (and, for the web target, the function that instantiates them). */
export function install(exports, init) {
  core = exports;
  initCore = init ?? null;
}

// The module, instantiated once; a failed load is not kept, so the next call tries again.
const loaded = () =>
  (ready ??= Promise.resolve(initCore ? initCore() : undefined).catch((e) => {
    ready = null;
    throw new GraphgateError('internal_error', `the graphgate module could not be loaded: ${e?.message ?? e}`);
  }));

const PENDING = 'graphgate.pending.';
const POPUP_NAME = 'graphgate-signin';
const INVITE_STATE = 'graphgate-invite';
// What a silent (prompt=none) sign-in answers when the user must be asked after all.
const NEEDS_INTERACTION = ['login_required', 'interaction_required', 'consent_required'];
const INTERACTION_CODES = [...NEEDS_INTERACTION, 'not_signed_in'];
const PENDING_MAX_AGE_MS = 3_600_000;
const RETRY_STATUSES = [429, 503, 504];
const BATCH_LIMIT = 20;
// The proxy renews a session's token this long before it expires; a client margin beyond it would
// count every token the proxy hands out as stale.
const MAX_REFRESH_MARGIN_SECONDS = 300;

/** Every error graphgate raises: a catalogue code, and the catalogue's hint once explained. */
export class GraphgateError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'GraphgateError';
    this.code = code;
    this.aadsts = extra.aadsts ?? (Number(/^AADSTS(\d+)$/.exec(code ?? '')?.[1]) || null);
    this.retryable = extra.retryable ?? false;
    this.hint = extra.hint ?? null;
    this.hintZh = extra.hintZh ?? null;
    this.explanation = extra.explanation ?? null;
    this.explanationZh = extra.explanationZh ?? null;
    this.correlationId = extra.correlationId ?? null;
    this.status = extra.status ?? null;
    this.slug = extra.slug ?? null;
    this.error = extra.error ?? null;
    this.lookupUrl = extra.lookupUrl ?? null;
  }

  /** True when the page should answer with `loginRedirect` (or `loginPopup`). */
  get interactionRequired() {
    return [this.code, this.error].some((c) => INTERACTION_CODES.includes(c));
  }
}

// A wasm export's thrown error (an Error with code, aadsts, correlationId) as a GraphgateError.
function fromCore(e) {
  if (e instanceof GraphgateError) return e;
  return new GraphgateError(e?.code ?? 'unknown_error', String(e?.message ?? e), {
    aadsts: e?.aadsts,
    correlationId: e?.correlationId,
    error: e?.error,
  });
}

function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    throw fromCore(e);
  }
}

// The `fetch` given in the options, else the global one.
const fetcherOf = (o) => o.fetch ?? globalThis.fetch.bind(globalThis);
const trimSlash = (s) => String(s ?? '').replace(/\/+$/, '');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const scopeKey = (scopes) => [...(scopes ?? [])].sort().join(' ');
const storageOf = (options) => {
  if (options.storage) return options.storage;
  try {
    return globalThis.sessionStorage;
  } catch {
    return null;
  }
};

/**
 * True when this page is graphgate's sign-in popup come back with the answer: the page that
 * opened it completes the sign-in and closes it, so this page should do nothing but wait.
 */
export function inSignInPopup() {
  try {
    const w = globalThis.window;
    return !!w?.opener && w.opener !== w && w.name === POPUP_NAME && /[?#&](code|error)=/.test(location.href);
  } catch {
    return false;
  }
}

/** A client from explicit options. */
export async function createClient(options) {
  await loaded();
  try {
    return new Client(options ?? {});
  } catch (e) {
    const proxy = trimSlash(options?.proxyUrl ?? '');
    throw options?.proxyUrl === undefined ? e : await explain(fetcherOf(options), proxy, new Map(), e);
  }
}

/** A client configured by the proxy's `GET /api/config`; `overrides` win over what it says. */
export async function createClientFromProxy(proxyUrl, overrides = {}) {
  await loaded();
  const base = trimSlash(proxyUrl);
  const fetcher = fetcherOf(overrides);
  try {
    return await configured(base, fetcher, overrides);
  } catch (e) {
    throw await explain(fetcher, base, new Map(), e);
  }
}

async function configured(base, fetcher, overrides) {
  let res;
  try {
    res = await fetcher(`${base}/api/config`, { credentials: 'include' });
  } catch (e) {
    throw new GraphgateError('network_error', `the proxy at '${base}' could not be reached: ${e.message}`);
  }
  if (!res.ok) throw await proxyError(res);
  const config = await json(res, 'GET /api/config');
  const here = globalThis.location ? `${location.origin}${location.pathname}` : '';
  const uris = config.redirectUris ?? [];
  const redirectUri =
    overrides.redirectUri ??
    uris.find((u) => u === here) ??
    (globalThis.location ? uris.find((u) => new URL(u).origin === location.origin) : uris[0]);
  if (!redirectUri) {
    // Signing in would come back to another origin, whose sessionStorage holds nothing of this one.
    throw new GraphgateError(
      'config_invalid',
      `none of the proxy's redirect URIs (${uris.join(', ')}) is on this page's origin ${globalThis.location?.origin}`,
    );
  }
  return new Client({
    proxyUrl: base,
    clientId: config.clientId,
    tenant: config.tenant,
    loginBaseUrl: config.loginBaseUrl,
    graphBaseUrl: config.graphBaseUrl,
    redirectUri,
    scopes: config.defaultScopes,
    ...overrides,
  });
}

// Fills in the catalogue's hint (from the proxy's `/api/explain`, cached per code in `cache`) when
// the error lacks one; a failed lookup is not cached.
async function explain(fetcher, proxyUrl, cache, e) {
  const err = fromCore(e);
  if (err.hint) return err;
  const code = err.aadsts ? `AADSTS${err.aadsts}` : err.code;
  let flight = cache.get(code);
  if (!flight) {
    flight = fetcher(`${proxyUrl}/api/explain?code=${encodeURIComponent(code)}`)
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    cache.set(code, flight);
  }
  const x = await flight;
  if (!x) {
    cache.delete(code);
    return err;
  }
  err.hint = x.hint;
  err.hintZh = x.hintZh;
  err.explanation = x.cause;
  err.explanationZh = x.causeZh;
  err.slug = x.slug;
  err.retryable ||= x.retryable;
  err.lookupUrl = x.lookupUrl ?? null;
  return err;
}

// A response's JSON body, or a typed error when it is not JSON (an HTML fallback page, say).
async function json(res, what) {
  try {
    return await res.json();
  } catch {
    throw new GraphgateError('malformed_response', `${what} did not answer JSON (HTTP ${res.status})`, { status: res.status });
  }
}

async function proxyError(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    // Not JSON: the status alone is explained.
  }
  return new GraphgateError(body.code ?? body.error ?? 'unknown_error', body.message ?? `HTTP ${res.status}`, {
    retryable: body.retryable,
    hint: body.hint,
    hintZh: body.hintZh,
    explanation: body.cause,
    explanationZh: body.causeZh,
    correlationId: body.correlationId,
    status: res.status,
    slug: body.slug,
    error: body.error,
  });
}

class Client {
  #o;
  #fetch;
  #now;
  #storage;
  #navigate;
  #tokens = new Map();
  #inflight = new Map();
  #kept = new Map();
  #seq = 0;
  #generation = 0;
  #navigating = false;
  #explained = new Map();
  #account = null;
  #handling = null;

  constructor(o) {
    for (const key of ['clientId', 'tenant', 'loginBaseUrl', 'graphBaseUrl']) {
      if (!o[key]) throw new GraphgateError('config_invalid', `createClient needs the option '${key}'`);
    }
    this.#o = {
      proxyUrl: trimSlash(o.proxyUrl ?? ''),
      clientId: o.clientId,
      tenant: o.tenant,
      loginBaseUrl: trimSlash(o.loginBaseUrl),
      graphBaseUrl: trimSlash(o.graphBaseUrl),
      redirectUri: o.redirectUri ?? (globalThis.location ? `${location.origin}${location.pathname}` : ''),
      scopes: o.scopes ?? ['User.Read'],
      refreshMarginSeconds: o.refreshMarginSeconds ?? MAX_REFRESH_MARGIN_SECONDS,
      maxRetries: o.maxRetries ?? 3,
      maxRetryDelaySeconds: o.maxRetryDelaySeconds ?? 60,
      popupTimeoutSeconds: o.popupTimeoutSeconds ?? 300,
    };
    const margin = this.#o.refreshMarginSeconds;
    if (!(margin >= 0 && margin <= MAX_REFRESH_MARGIN_SECONDS)) {
      throw new GraphgateError(
        'config_invalid',
        `refreshMarginSeconds is ${margin}: give 0 to ${MAX_REFRESH_MARGIN_SECONDS} (the proxy renews tokens ${MAX_REFRESH_MARGIN_SECONDS} s before they expire)`,
      );
    }
    this.#fetch = fetcherOf(o);
    this.#now = o.clock ?? (() => Date.now());
    this.#navigate = o.navigate ?? ((url) => location.assign(url));
    this.#storage = storageOf(o);
    this.graph = new Graph(this);
  }

  /** The options in effect (no secrets are ever among them). */
  get options() {
    return { ...this.#o };
  }

  // The authorize URL and what must be kept until the redirect comes back.
  async #authorize(req = {}) {
    const verifier = call(core.newPkceVerifier);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const scopes = req.scopes ?? this.#o.scopes;
    const [url, state, nonce] = call(
      core.buildAuthorizeUrl,
      this.#o.loginBaseUrl,
      this.#o.tenant,
      this.#o.clientId,
      this.#o.redirectUri,
      scopes.join('\n'),
      verifier,
      digest,
      req.prompt,
      req.loginHint,
      req.domainHint,
    );
    const pending = { state, nonce, verifier, scopes, appState: req.state ?? null, at: this.#now() };
    if (req.fallback) pending.fallback = true;
    this.#keep(pending);
    return { url, pending };
  }

  #keep(pending) {
    if (!this.#storage) throw new GraphgateError('storage_unavailable', 'sessionStorage is not available');
    try {
      this.#storage.setItem(PENDING + pending.state, JSON.stringify(pending));
    } catch (e) {
      throw new GraphgateError('storage_unavailable', `sessionStorage refused the pending sign-in: ${e.message}`);
    }
  }

  // Takes (reads and removes) the pending request for `state`, and drops stale ones.
  #take(state) {
    const store = this.#storage;
    if (!store) throw new GraphgateError('storage_unavailable', 'sessionStorage is not available');
    const raw = store.getItem(PENDING + state);
    store.removeItem(PENDING + state);
    const stale = (text) => {
      try {
        return this.#now() - JSON.parse(text).at > PENDING_MAX_AGE_MS;
      } catch {
        return true;
      }
    };
    if (typeof store.key === 'function' && typeof store.length === 'number') {
      for (let i = store.length - 1; i >= 0; i--) {
        const key = store.key(i);
        if (key?.startsWith(PENDING) && stale(store.getItem(key))) store.removeItem(key);
      }
    }
    return raw && !stale(raw) ? JSON.parse(raw) : null;
  }

  /** Starts sign-in by navigating this page to Microsoft's sign-in. */
  async loginRedirect(req = {}) {
    await loaded();
    let url;
    try {
      ({ url } = await this.#authorize(req));
    } catch (e) {
      throw await this.#explain(fromCore(e));
    }
    this.#navigating = true;
    await this.#navigate(url);
  }

  /** True once this client has sent the page to Microsoft (sign-in or sign-out). */
  get navigating() {
    return this.#navigating;
  }

  /** Signs in in a popup; resolves like `handleRedirect` once the popup reaches the redirect URI. */
  async loginPopup(req = {}) {
    // Opened before any await so the browser still sees the user's click (the module is loaded:
    // this client exists).
    const popup = window.open('', POPUP_NAME, 'popup,width=483,height=600');
    if (!popup) throw await this.#explain(new GraphgateError('popup_blocked', 'the browser blocked the sign-in popup'));
    let pending;
    try {
      const built = await this.#authorize(req);
      pending = built.pending;
      popup.location.href = built.url;
    } catch (e) {
      popup.close();
      throw await this.#explain(fromCore(e));
    }
    const target = new URL(this.#o.redirectUri);
    const deadline = this.#now() + this.#o.popupTimeoutSeconds * 1000;
    const landed = await new Promise((resolve, reject) => {
      const timer = setInterval(() => {
        if (popup.closed) {
          clearInterval(timer);
          reject(new GraphgateError('popup_closed', 'the sign-in popup was closed before sign-in finished'));
          return;
        }
        let href = '';
        try {
          href = popup.location.href; // throws while the popup shows another origin
        } catch {
          // Still at the sign-in page.
        }
        if (href && href !== 'about:blank') {
          const at = new URL(href);
          if (at.origin === target.origin && at.pathname === target.pathname && /[?#&](code|error)=/.test(href)) {
            clearInterval(timer);
            popup.close();
            resolve(href);
            return;
          }
        }
        if (this.#now() > deadline) {
          clearInterval(timer);
          popup.close();
          reject(new GraphgateError('popup_closed', 'the sign-in popup did not finish in time'));
        }
      }, 50);
    }).catch(async (e) => {
      this.#take(pending.state);
      throw await this.#explain(e);
    });
    return this.#complete(landed, false);
  }

  /**
   * On the redirect page: completes a sign-in this tab started. Resolves `null` when the page is
   * not a sign-in redirect.
   */
  async handleRedirect(url) {
    await loaded();
    // Inside the sign-in popup the opener reads the answer: leave it in the address bar.
    if (url === undefined && inSignInPopup()) return null;
    // A second call while this page's answer is being redeemed (two components, or a framework
    // running an effect twice) shares it: the address bar is clean by then.
    if (url === undefined && this.#handling) return this.#handling;
    const here = globalThis.location?.href;
    const completion = this.#complete(url ?? here, (url ?? here) === here);
    if (url === undefined) {
      this.#handling = completion;
      completion.then(
        () => (this.#handling = null),
        () => (this.#handling = null),
      );
    }
    return completion;
  }

  async #complete(url, clean) {
    // Only the redirect URI's own path, with a state this library sent, is a sign-in answer: an
    // app route such as `/?error=404` or a crafted link is left alone.
    let at;
    let state;
    try {
      at = new URL(url, globalThis.location?.href);
      state = core.redirectState(url);
    } catch {
      return null;
    }
    if (!state || at.pathname !== new URL(this.#o.redirectUri).pathname) return null;
    if (clean && globalThis.history) {
      at.search = '';
      at.hash = '';
      history.replaceState(history.state, '', at.href);
    }
    if (state === INVITE_STATE) {
      // A redeemed invitation lands here. Redeeming signed the person in at Microsoft, so the
      // app's own sign-in is tried silently first, and asks the user only if it must.
      await this.loginRedirect({ prompt: 'none', fallback: true });
      return null;
    }
    try {
      const pending = this.#take(state);
      if (!pending) {
        // Another tab's answer, one used already, or a link someone made: nothing to redeem, and
        // its text (which anyone can write) is not shown.
        throw new GraphgateError('no_pending_request', 'this tab has no sign-in waiting for this redirect');
      }
      let code;
      try {
        code = core.parseRedirect(url, pending.state);
      } catch (e) {
        if (pending.fallback && NEEDS_INTERACTION.includes(e?.error)) {
          await this.loginRedirect({ scopes: pending.scopes, state: pending.appState ?? undefined });
          return null;
        }
        throw fromCore(e);
      }
      const answer = await this.#proxy('POST', '/api/auth/exchange', {
        code,
        codeVerifier: pending.verifier,
        redirectUri: this.#o.redirectUri,
        nonce: pending.nonce,
        scopes: pending.scopes,
      });
      // A new sign-in (perhaps of another account) replaces everything kept for the previous one,
      // and answers to requests from before it are not kept.
      this.#forget();
      const token = this.#cache(pending.scopes, answer);
      return { account: answer.account, accessToken: token.accessToken, expiresOn: token.expiresOn, scopes: answer.scopes, state: pending.appState };
    } catch (e) {
      throw await this.#explain(fromCore(e));
    }
  }

  // A proxy token answer as the cache keeps it.
  #entry(answer) {
    return {
      accessToken: answer.accessToken,
      expiresOn: new Date(this.#now() + Number(answer.expiresIn ?? 0) * 1000),
      scopes: answer.scopes,
    };
  }

  // Keeps a proxy token answer in memory (for the default scopes and the ones asked for).
  #cache(scopes, answer) {
    const entry = this.#entry(answer);
    this.#tokens.set(scopeKey(scopes), entry);
    if (scopeKey(scopes) === scopeKey(this.#o.scopes)) this.#tokens.set('', entry);
    this.#account = answer.account ?? this.#account;
    return entry;
  }

  /**
   * A valid access token: from memory while it is fresh, else one request (shared by all callers
   * asking at the same time) to the proxy's `/api/auth/token`.
   */
  async getAccessToken(req = {}) {
    return (await this.acquireToken(req)).accessToken;
  }

  /** Like `getAccessToken`, with its expiry and scopes. */
  async acquireToken({ scopes, forceRefresh = false } = {}) {
    const key = scopeKey(scopes);
    const held = this.#tokens.get(key);
    const margin = this.#o.refreshMarginSeconds * 1000;
    if (!forceRefresh && held && held.expiresOn.getTime() - margin > this.#now()) return held;
    // A forced refresh (Graph refused the token) never joins an ordinary request under way.
    const slot = forceRefresh ? `${key}\u0000force` : key;
    let flight = this.#inflight.get(slot);
    if (!flight) {
      const body = {};
      if (scopes?.length) body.scopes = scopes;
      if (forceRefresh) body.forceRefresh = true;
      const generation = this.#generation;
      const seq = ++this.#seq;
      flight = this.#proxy('POST', '/api/auth/token', body)
        .then((answer) => {
          // An answer that outlived a sign-out, or is older than one kept already, is not kept.
          const newest = seq > (this.#kept.get(key) ?? 0);
          if (generation !== this.#generation || !newest) return this.#entry(answer);
          this.#kept.set(key, seq);
          return this.#cache(scopes ?? [], answer);
        })
        .catch(async (e) => {
          if (e.interactionRequired && generation === this.#generation) this.#forget();
          throw await this.#explain(e);
        })
        .finally(() => {
          if (this.#inflight.get(slot) === flight) this.#inflight.delete(slot);
        });
      this.#inflight.set(slot, flight);
    }
    return flight;
  }

  // Drops every token and the account; requests under way are neither joined nor kept.
  #forget() {
    this.#generation++;
    this.#tokens.clear();
    this.#inflight.clear();
    this.#kept.clear();
    this.#account = null;
  }

  /** The signed-in account (asked of the proxy after a reload), or `null`. */
  async account() {
    if (this.#account) return this.#account;
    const generation = this.#generation;
    try {
      const { account } = await this.#proxy('GET', '/api/auth/session');
      // An answer that outlived a sign-out or a new sign-in is not kept.
      if (generation !== this.#generation) return this.#account;
      this.#account = account;
      return account;
    } catch (e) {
      if (e.interactionRequired) return null;
      throw await this.#explain(e);
    }
  }

  /**
   * Signs out: the proxy drops the session and its refresh token, memory is cleared. With
   * `{redirect: true}` the page then goes to Microsoft's sign-out; the URL is returned either way.
   */
  async logout({ redirect = false } = {}) {
    this.#generation++; // answers arriving while the proxy ends the session are not kept
    const { logoutUrl } = await this.#proxy('POST', '/api/auth/logout', {}).catch(async (e) => {
      // The proxy still holds the session: memory keeps the account, and the page can try again.
      throw await this.#explain(e);
    });
    this.#forget();
    if (redirect) {
      this.#navigating = true;
      await this.#navigate(logoutUrl);
    }
    return logoutUrl;
  }

  /** Invites a guest through the proxy (`POST /api/invitations`). */
  async invite(email, options = {}) {
    return this.#proxy('POST', '/api/invitations', { email, ...options }).catch(async (e) => {
      throw await this.#explain(e);
    });
  }

  /** Whether `email` is a member, an invited guest who has not redeemed yet, a guest, or unknown. */
  async inviteStatus(email) {
    return this.#proxy('GET', `/api/invitations/status?email=${encodeURIComponent(email)}`).catch(async (e) => {
      throw await this.#explain(e);
    });
  }

  /** The signed-in user's profile (`GET /me`). */
  me() {
    return this.graph.get('/me');
  }

  /** Sends mail as the signed-in user; `message` is Graph's shape or `{to, cc, bcc, subject, text | html}`. */
  sendMail(message, { saveToSentItems = true } = {}) {
    return this.graph.post('/me/sendMail', { message: graphMessage(message), saveToSentItems });
  }

  /** One page of messages: `{value, nextLink}`; pass `nextLink` to `graph.get` or `graph.pages` for more. */
  async listMessages({ top = 25, folder, select } = {}) {
    const path = folder ? `/me/mailFolders/${encodeURIComponent(folder)}/messages` : '/me/messages';
    const query = new URLSearchParams({ $top: String(top) });
    if (select?.length) query.set('$select', [].concat(select).join(','));
    const page = await this.graph.get(`${path}?${query}`);
    return { value: page.value ?? [], nextLink: page['@odata.nextLink'] ?? null };
  }

  /** Every To Do list of the signed-in user. */
  todoLists() {
    return this.graph.all('/me/todo/lists');
  }

  /** Every task of one To Do list. */
  todoTasks(listId) {
    return this.graph.all(`/me/todo/lists/${encodeURIComponent(listId)}/tasks`);
  }

  // A call to the proxy, with its cookie; its errors arrive explained already.
  async #proxy(method, path, body) {
    const init = { method, credentials: 'include', headers: {} };
    if (method !== 'GET') {
      init.headers['X-Graphgate'] = '1';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body ?? {});
    }
    let res;
    try {
      res = await this.#fetch(`${this.#o.proxyUrl}${path}`, init);
    } catch (e) {
      throw new GraphgateError('network_error', `the proxy could not be reached: ${e.message}`);
    }
    if (!res.ok) throw await proxyError(res);
    return json(res, `${method} ${path}`);
  }

  // Fills in the catalogue's hint (from the proxy's `/api/explain`) when the error lacks one.
  async _explain(e) {
    return this.#explain(e);
  }

  async #explain(e) {
    return explain(this.#fetch, this.#o.proxyUrl, this.#explained, e);
  }

  get _fetch() {
    return this.#fetch;
  }

  get _now() {
    return this.#now;
  }
}

function addresses(list) {
  return [].concat(list ?? []).map((a) =>
    typeof a === 'string' ? { emailAddress: { address: a } } : a.emailAddress ? a : { emailAddress: a },
  );
}

function graphMessage(m) {
  if (m.toRecipients) return m;
  const out = {
    subject: m.subject ?? '',
    body: m.html !== undefined ? { contentType: 'HTML', content: m.html } : { contentType: 'Text', content: m.text ?? '' },
    toRecipients: addresses(m.to),
  };
  if (m.cc) out.ccRecipients = addresses(m.cc);
  if (m.bcc) out.bccRecipients = addresses(m.bcc);
  return out;
}

/** The Graph client: bearer token from the client, bounded retries, one refresh on a 401. */
class Graph {
  #client;

  constructor(client) {
    this.#client = client;
  }

  // The full URL of `path`; the bearer token is only ever sent to the Graph base's origin.
  #url(path) {
    const base = this.#client.options.graphBaseUrl; // with its version: https://graph.microsoft.com/v1.0
    let url;
    if (/^https?:\/\//.test(path)) {
      url = path;
    } else {
      const rel = String(path).startsWith('/') ? String(path) : `/${path}`;
      url = /^\/(v1\.0|beta)(\/|$)/.test(rel) ? base.replace(/\/(v1\.0|beta)$/, '') + rel : base + rel;
    }
    if (new URL(url).origin !== new URL(base).origin) {
      throw new GraphgateError('invalid_url', `'${new URL(url).origin}' is not Graph (${new URL(base).origin}): no token is sent there`);
    }
    return url;
  }

  /** Any Graph request; resolves the parsed JSON answer (or `null` when there is none). */
  async request(method, path, body, headers = {}) {
    method = String(method).toUpperCase();
    const client = this.#client;
    const { maxRetries, maxRetryDelaySeconds } = client.options;
    let url;
    try {
      url = this.#url(path);
    } catch (e) {
      throw await client._explain(e);
    }
    // 429 and 503 mean the request was not processed; after a 504 a write may have happened.
    const retryOn = ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method) ? RETRY_STATUSES : [429, 503];
    let refreshed = false;
    let retries = 0;
    for (;;) {
      const token = await client.getAccessToken({ forceRefresh: false });
      const h = { ...headers, Authorization: `Bearer ${token}` };
      const init = { method, headers: h };
      if (body !== undefined && body !== null) {
        // Plain objects, arrays and numbers are sent as JSON; a string (JSON already) and anything
        // else (a Blob, bytes, a form, a stream) as it is.
        const proto = typeof body === 'object' && Object.getPrototypeOf(body);
        const json = typeof body !== 'string' && (!proto || proto === Object.prototype || Array.isArray(body));
        init.body = json ? JSON.stringify(body) : body;
        if (json || typeof body === 'string') setDefault(h, 'Content-Type', 'application/json');
      }
      let res;
      try {
        res = await client._fetch(url, init);
      } catch (e) {
        throw await client._explain(new GraphgateError('network_error', `Graph could not be reached: ${e.message}`));
      }
      if (res.status === 401 && !refreshed) {
        refreshed = true;
        await client.getAccessToken({ forceRefresh: true });
        continue;
      }
      if (retryOn.includes(res.status) && retries < maxRetries) {
        const wait = retryAfter(res.headers.get('Retry-After'), client._now()) ?? 2 ** retries;
        if (wait <= maxRetryDelaySeconds) {
          retries++;
          await sleep(wait * 1000);
          continue;
        }
      }
      if (!res.ok) throw await client._explain(await graphError(res));
      return answerOf(res, `${method} ${path}`);
    }
  }

  get(path, headers) {
    return this.request('GET', path, undefined, headers);
  }

  post(path, body, headers) {
    return this.request('POST', path, body, headers);
  }

  patch(path, body, headers) {
    return this.request('PATCH', path, body, headers);
  }

  put(path, body, headers) {
    return this.request('PUT', path, body, headers);
  }

  delete(path, headers) {
    return this.request('DELETE', path, undefined, headers);
  }

  /** Each page's `value`, following `@odata.nextLink` until there is none. */
  async *pages(path, headers) {
    let next = path;
    while (next) {
      const page = await this.get(next, headers);
      yield page?.value ?? [];
      next = page?.['@odata.nextLink'];
    }
  }

  /** Every item of every page. */
  async all(path, headers) {
    const items = [];
    for await (const page of this.pages(path, headers)) items.push(...page);
    return items;
  }

  /**
   * Runs requests through `$batch`, 20 at a time; answers come back in the order asked. Requests
   * joined by `dependsOn` go in the same `$batch` (Graph resolves `dependsOn` only within one).
   */
  async batch(requests) {
    const taken = new Set(requests.filter((r) => r.id != null).map((r) => String(r.id)));
    let next = 0;
    const freshId = () => {
      while (taken.has(String(++next)));
      return String(next);
    };
    const items = requests.map((r) => {
      const item = { id: r.id != null ? String(r.id) : freshId(), method: (r.method ?? 'GET').toUpperCase(), url: r.url };
      if (r.headers || r.body !== undefined) item.headers = { ...r.headers };
      if (r.body !== undefined) {
        item.body = r.body;
        setDefault(item.headers, 'Content-Type', 'application/json');
      }
      if (r.dependsOn) item.dependsOn = [].concat(r.dependsOn).map(String);
      return item;
    });
    const answers = new Map();
    for (const chunk of batchChunks(items)) {
      const answer = await this.post('/$batch', { requests: chunk });
      for (const x of answer?.responses ?? []) answers.set(String(x.id), x);
    }
    return items.map((item) => answers.get(item.id) ?? { id: item.id, status: 0, headers: {}, body: null });
  }
}

// Splits batch items into `$batch` calls of at most 20, keeping each group of requests joined by
// `dependsOn` together and the groups in order.
function batchChunks(items) {
  const root = new Map(items.map((it) => [it.id, it.id]));
  const find = (id) => {
    while (root.get(id) !== id) id = root.get(id);
    return id;
  };
  for (const it of items) {
    for (const dep of it.dependsOn ?? []) if (root.has(dep)) root.set(find(it.id), find(dep));
  }
  const groups = new Map();
  for (const it of items) {
    const key = find(it.id);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(it);
  }
  const chunks = [];
  let chunk = [];
  for (const group of groups.values()) {
    if (group.length > BATCH_LIMIT) {
      throw new GraphgateError(
        'invalid_json_body',
        `${group.length} batch requests depend on each other; one $batch takes at most ${BATCH_LIMIT}`,
      );
    }
    if (chunk.length + group.length > BATCH_LIMIT) {
      chunks.push(chunk);
      chunk = [];
    }
    chunk.push(...group);
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

// Sets header `name` unless the caller gave it in any letter case.
function setDefault(headers, name, value) {
  if (!Object.keys(headers).some((k) => k.toLowerCase() === name.toLowerCase())) headers[name] = value;
}

// A Graph answer: parsed JSON, `null` when empty, a Blob for anything else (a photo, `$value`).
async function answerOf(res, what) {
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') ?? '';
  if (!/[/+]json\b/i.test(type)) {
    const blob = await res.blob();
    return blob.size || type ? blob : null;
  }
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new GraphgateError('malformed_response', `${what}: Graph's answer is not the JSON it announced`, { status: res.status });
  }
}

// Seconds a `Retry-After` header asks for: delta-seconds or an HTTP date; undefined when absent or invalid.
function retryAfter(value, nowMs) {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  // Only an HTTP date (IMF-fixdate, e.g. `Wed, 21 Oct 2026 07:28:00 GMT`); anything else is ignored.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

async function graphError(res) {
  let error = null;
  try {
    const body = await res.json();
    error = body?.error ?? null;
  } catch {
    // Not Graph's JSON: the status names the error.
  }
  const fallback = { 400: 'invalidRequest', 401: 'unauthenticated', 403: 'accessDenied', 404: 'itemNotFound', 429: 'TooManyRequests', 503: 'serviceNotAvailable' };
  const inner = error?.innerError ?? error?.innererror ?? {};
  return new GraphgateError(error?.code ?? fallback[res.status] ?? 'generalException', error?.message ?? `HTTP ${res.status}`, {
    status: res.status,
    retryable: RETRY_STATUSES.includes(res.status),
    correlationId: inner['client-request-id'] ?? inner['request-id'] ?? res.headers.get('request-id'),
  });
}

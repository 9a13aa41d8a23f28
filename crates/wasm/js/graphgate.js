// The npm package `graphgate`'s hand-written part: it loads the wasm module, defines the
// `GraphgateError` class (an Error subclass, so `instanceof` works) and the `graph.pages`
// iterator, and re-exports the module's functions. Everything else is Rust (crates/wasm).

let loader = null;
let ready = null;

/** Sets how the module is loaded: a function resolving its exports, instantiated. */
export function install(load) {
  loader = load;
  ready = null;
}

/** Every error graphgate raises: a catalogue code, and the catalogue's hint once explained. */
export class GraphgateError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'GraphgateError';
    this.code = code;
    Object.assign(this, { retryable: false, interactionRequired: false }, extra);
  }
}

/** Each page's `value`, following `@odata.nextLink` until there is none. */
async function* pages(path, headers) {
  for (let next = path; next; ) {
    const page = await this.page(next, headers);
    yield page.value;
    next = page.nextLink;
  }
}

// The module, loaded once; a failed load is not kept, so the next call tries again. Where there
// is no page (Node, server-side rendering) importing works and signing in says why it cannot.
function loaded() {
  ready ??= (async () => {
    if (typeof window === 'undefined') {
      throw new GraphgateError('browser_required', 'graphgate signs users in from a browser page; there is no window here');
    }
    const core = await loader();
    core.useErrorClass(GraphgateError);
    core.Graph.prototype.pages = pages;
    return core;
  })().catch((e) => {
    ready = null;
    throw e instanceof GraphgateError ? e : new GraphgateError('internal_error', `the graphgate module could not be loaded: ${e?.message ?? e}`);
  });
  return ready;
}

/** Starts loading the module now (the entry calls it on import in a page). */
export function preload() {
  if (typeof window !== 'undefined') loaded().catch(() => {});
}

/** A client from explicit options. */
export async function createClient(options) {
  return (await loaded()).createClient(options);
}

/** A client configured by the proxy's `GET /api/config`; `overrides` win over what it says. */
export async function createClientFromProxy(proxyUrl, overrides) {
  return (await loaded()).createClientFromProxy(proxyUrl, overrides);
}

/**
 * True on graphgate's sign-in popup come back with the answer (the page that opened it finishes
 * the sign-in). Answered before the module loads, so a popup page need not load it at all.
 */
export function inSignInPopup() {
  try {
    const w = globalThis.window;
    return !!w?.opener && w.opener !== w && w.name === 'graphgate-signin' && /[?#&](code|error)=/.test(w.location.href);
  } catch {
    return false;
  }
}

// Start-up measurement (a script, not a test): the median time from navigation start to "ready",
// over fresh page loads in headless Chromium, all over plain HTTP on loopback, of four signed-out
// pages: a page on the npm package doing what the msal-browser page does (create the client,
// `handleRedirect()`), the msal-browser page (`initialize()`, `handleRedirectPromise()`), the
// demo page (graphgate-proxy + graphgate-emulator), whose ready also asks the proxy who is signed
// in, and a blank page whose one script only marks ready: the floor every page pays.
// Usage (from tests/, after `cargo build -p graphgate-emulator -p graphgate-proxy` and
// `cargo xtask wasm`): node bench/startup.mjs [--runs 30] [--www DIR]; `--www` measures another
// copy of the demo page (www/ by default).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { SANDBOX, freePort, startEmulator, startProxy } from '../harness/stack.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const RUNS = Number(flag('--runs', '30'));
const WWW = resolve(flag('--www', join(root, 'www')));

/** The demo site as `cargo xtask demo` assembles it: www/ with the npm package under graphgate/. */
function demoSite(dir) {
  cpSync(WWW, dir, { recursive: true });
  cpSync(join(target, 'npm', 'web'), join(dir, 'graphgate'), { recursive: true });
}

/** `bench/<name>.mjs` bundled and minified into `dir/<name>.js`, as an application ships it. */
function bundle(name, dir, options) {
  return build({
    entryPoints: [join(here, `${name}.mjs`)],
    outfile: join(dir, `${name}.js`),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    logLevel: 'warning',
    ...options,
  });
}

/**
 * Writes `dir/index.html`: a signed-out page (`data-state="loading"` until its script says) that
 * loads the module script `script`, after `head` (a preload, say).
 */
function writePage(dir, { comment, title, script, head = '' }) {
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html>\n<!-- ${comment} -->\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
      `<link rel="icon" href="data:,">${head}<script type="module" src="./${script}"></script></head>` +
      '<body data-state="loading"></body></html>\n',
  );
}

/** The msal-browser page: msal-page.mjs bundled and minified, as an application ships it. */
async function msalSite(dir, emulator) {
  const authority = `${emulator.base}/${SANDBOX.contoso}`;
  const config = { clientId: SANDBOX.clientId, authority, knownAuthorities: [new URL(emulator.base).host] };
  await bundle('msal-page', dir, { define: { MSAL_BENCH_CONFIG: JSON.stringify(config) } });
  writePage(dir, { comment: 'The msal-browser start-up yardstick page.', title: 'msal-browser', script: 'msal-page.js' });
}

/**
 * The graphgate page: graphgate-page.mjs bundled and minified with the package, as an application
 * ships it, configured with what the proxy serving it says in `/api/config`; the .wasm beside it,
 * preloaded as the README advises.
 */
async function graphgateSite(dir, origin) {
  const config = await (await fetch(`${origin}/api/config`)).json();
  await bundle('graphgate-page', dir, {
    alias: { graphgate: join(target, 'npm', 'web', 'index.js') },
    external: ['*.wasm'],
    define: {
      GRAPHGATE_BENCH_CONFIG: JSON.stringify({
        clientId: config.clientId,
        tenant: config.tenant,
        loginBaseUrl: config.loginBaseUrl,
        graphBaseUrl: config.graphBaseUrl,
      }),
    },
  });
  cpSync(join(target, 'npm', 'web', 'graphgate_core_bg.wasm'), join(dir, 'graphgate_core_bg.wasm'));
  writePage(dir, {
    comment: 'The graphgate start-up page.',
    title: 'graphgate',
    script: 'graphgate-page.js',
    head: '<link rel="preload" as="fetch" crossorigin href="./graphgate_core_bg.wasm">',
  });
}

/** The blank page: blank-page.mjs bundled the same way, the least any of these pages does. */
async function blankSite(dir) {
  mkdirSync(dir);
  await bundle('blank-page', dir);
  writePage(dir, { comment: 'The start-up floor page.', title: 'blank', script: 'blank-page.js' });
}

/** A proxy for the emulator serving `site` on a free loopback port it is configured for. */
async function serve(emulator, site) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const proxy = await startProxy(emulator, {
    origins: [origin],
    redirectUris: [`${origin}/`],
    listen: `127.0.0.1:${port}`,
    staticDir: site,
  });
  return { origin, stop: proxy.stop };
}

/**
 * One fresh load of `url` in a new browser context (empty cache, no cookies, no storage): the
 * time from navigation start to the performance mark `mark`, in milliseconds.
 */
async function load(browser, url, mark) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const failed = new Promise((_, fail) => page.once('pageerror', fail));
    await Promise.race([page.goto(url), failed]);
    const handle = await Promise.race([
      page.waitForFunction((name) => performance.getEntriesByName(name, 'mark')[0]?.startTime, mark, {
        timeout: 30_000,
      }),
      failed,
    ]);
    const ms = await handle.jsonValue();
    const state = await page.getAttribute('body', 'data-state');
    if (state !== 'signed-out') throw new Error(`${url} ended ${state}, not signed-out`);
    return ms;
  } finally {
    await context.close();
  }
}

/** Median, 90th percentile (nearest rank) and minimum of `xs`. */
function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 ? s[Math.floor(mid)] : (s[mid - 1] + s[mid]) / 2;
  return { median, p90: s[Math.ceil(0.9 * s.length) - 1], min: s[0] };
}

const work = mkdtempSync(join(tmpdir(), 'graphgate-bench-'));
const stops = [];
let browser;
try {
  const emulator = await startEmulator({ http: true });
  stops.push(emulator.stop);
  const demoDir = join(work, 'demo');
  const msalDir = join(work, 'msal');
  const pageDir = join(work, 'page');
  demoSite(demoDir);
  await msalSite(msalDir, emulator);
  mkdirSync(pageDir);
  const demo = await serve(emulator, demoDir);
  stops.push(demo.stop);
  const msal = await serve(emulator, msalDir);
  stops.push(msal.stop);
  const page = await serve(emulator, pageDir);
  stops.push(page.stop);
  await graphgateSite(pageDir, page.origin);
  const blankDir = join(work, 'blank');
  await blankSite(blankDir);
  const blank = await serve(emulator, blankDir);
  stops.push(blank.stop);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pages = [
    { name: 'graphgate', url: `${page.origin}/`, mark: 'graphgate-page-ready' },
    { name: 'msal-browser', url: `${msal.origin}/`, mark: 'msal-ready' },
    { name: 'graphgate demo', url: `${demo.origin}/`, mark: 'graphgate-ready' },
    { name: 'blank (floor)', url: `${blank.origin}/`, mark: 'blank-ready' },
  ];
  // One discarded load of each (the servers and the browser warm up), then the pages by
  // turns, so that whatever else the machine is doing weighs on all alike.
  for (const p of pages) await load(browser, p.url, p.mark);
  const times = pages.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [j, p] of pages.entries()) times[j].push(await load(browser, p.url, p.mark));
  }
  const results = pages.map((p, j) => ({ ...p, ...stats(times[j]) }));
  const ms = (x) => `${x.toFixed(1)} ms`.padStart(10);
  console.log(
    `navigation start -> ready, ${RUNS} fresh loads each, taking turns (new context, empty cache), Chromium ${browser.version()} headless`,
  );
  console.log(`${'page'.padEnd(16)}${'median'.padStart(10)}${'p90'.padStart(10)}${'min'.padStart(10)}`);
  for (const r of results) console.log(`${r.name.padEnd(16)}${ms(r.median)}${ms(r.p90)}${ms(r.min)}`);
  const [g, m, d, b] = results;
  const ratio = (a, b) => `median ${(a.median / b.median).toFixed(2)}x, p90 ${(a.p90 / b.p90).toFixed(2)}x, min ${(a.min / b.min).toFixed(2)}x`;
  console.log(`graphgate / msal-browser: ${ratio(g, m)} (goal: median <= 0.50x)`);
  console.log(`graphgate demo / msal-browser: ${ratio(d, m)}`);
  // What each page adds to the floor: the part a library's start-up can change.
  const above = (x) => `${(x.median - b.median).toFixed(1)} ms`;
  console.log(`above the blank page (median): graphgate ${above(g)}, msal-browser ${above(m)}, graphgate demo ${above(d)}`);
  console.log(`blank / msal-browser: ${ratio(b, m)} (no page can start faster than the blank one)`);
} finally {
  await browser?.close().catch(() => {});
  for (const stop of stops.reverse()) await stop().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}

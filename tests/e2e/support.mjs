// What every end-to-end scenario needs: the emulator over HTTPS, a proxy serving the demo site,
// headless Chromium trusting the emulator's CA, the emulator's control API, and screenshots.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, startEmulator, startProxy } from '../harness/stack.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The demo site `cargo xtask demo` and `cargo xtask test` assemble (www/ + the npm package). */
export const SITE = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'demo', 'site');
const SHOTS = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'e2e');

export const ADELE = 'adele@contoso.onmicrosoft.com';
export const MEGAN = 'megan@contoso.onmicrosoft.com';
export const BOB = 'bob@fabrikam.onmicrosoft.com';
/** Adele's object ID in Contoso. */
export const ADELE_ID = 'a1f5c3e2-0b4d-4c6e-8f1a-2b3c4d5e6f70';
/** Members of Contoso may invite; Adele is listed by object ID too, so a proxy of the same stack
 *  whose authority is /common/ passes the check that signed-in needs a single tenant or a list. */
export const INVITE_POLICY = `[invitations]\npolicy = "signed-in"\nallowed_object_ids = ["${ADELE_ID}"]`;

/**
 * Chromium (Debian's) with its own profile, whose NSS database trusts the emulator's CA; resolves
 * { browser, home } (`home` is the temporary HOME to remove after `browser.close()`).
 */
export async function launch(caFile) {
  const home = mkdtempSync(join(tmpdir(), 'graphgate-e2e-home-'));
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
  execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'graphgate-emulator', '-i', caFile]);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    env: { ...process.env, HOME: home },
  });
  return { browser, home };
}

/**
 * Starts the emulator (HTTPS), a proxy serving the demo site (or the folder `site`) at
 * http://127.0.0.1:PORT (SQLite sessions), and Chromium. `tenant` is the proxy's authority;
 * `stack.restartProxy()` stops the proxy and starts it again on the same address and database.
 */
export async function startStack({ tenant, extra = INVITE_POLICY, site = SITE } = {}) {
  const emulator = await startEmulator();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-e2e-proxy-'));
  const proxyOptions = {
    origins: [origin],
    redirectUris: [`${origin}/`],
    store: 'sqlite',
    dir,
    listen: `127.0.0.1:${port}`,
    staticDir: site,
    extra,
    ...(tenant ? { tenant } : {}),
  };
  let proxy;
  let launched;
  try {
    proxy = await startProxy(emulator, proxyOptions);
    launched = await launch(emulator.caFile);
  } catch (e) {
    // Without this the emulator and proxy keep the test process alive: the run hangs instead of failing.
    await proxy?.stop().catch(() => {});
    await emulator.stop();
    throw e;
  }
  const { browser, home } = launched;
  const stack = {
    emulator,
    origin,
    browser,
    ca: readFileSync(emulator.caFile),
    /** Another proxy (another tenant) on its own port, serving the same site. */
    async secondProxy(options) {
      const p2 = await freePort();
      const o2 = `http://127.0.0.1:${p2}`;
      const second = await startProxy(emulator, {
        ...proxyOptions,
        dir: undefined,
        origins: [o2],
        redirectUris: [`${o2}/`],
        listen: `127.0.0.1:${p2}`,
        ...options,
      });
      stack.extra.push(second);
      return { origin: o2, stop: second.stop };
    },
    extra: [],
    async restartProxy() {
      await proxy.stop({ keepDir: true });
      proxy = await startProxy(emulator, proxyOptions);
    },
    async stop() {
      await browser.close().catch(() => {});
      for (const p of stack.extra) await p.stop().catch(() => {});
      await proxy.stop().catch(() => {});
      await emulator.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return stack;
}

/** The emulator's control API (`/_emulator/…`), over HTTPS trusting its CA. */
export function control(stack, method, path, body) {
  const url = new URL(`${stack.emulator.base}/_emulator${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((ok, fail) => {
    const req = request(
      url,
      { method, ca: stack.ca, headers: payload ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          if (res.statusCode >= 400) fail(new Error(`control ${method} ${path}: ${res.statusCode} ${text}`));
          else ok(text ? JSON.parse(text) : null);
        });
      },
    );
    req.on('error', fail);
    req.end(payload);
  });
}

/** How many times the emulator saw `key` (e.g. `token:refresh_token`, `GET /v1.0/me`). */
export async function calls(stack, key) {
  return (await control(stack, 'GET', '/calls'))[key] ?? 0;
}

/** A screenshot of `page` under target/e2e/. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Opens the demo page and waits until it has booted. */
export async function openDemo(context, origin) {
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-state="signed-out"], body[data-state="signed-in"]');
  return page;
}

/**
 * Walks the emulator's pages (account picker, invitation, consent) as `account` until the browser
 * is back at `origin` (or, for a popup, the popup is gone).
 */
export async function throughMicrosoft(page, origin, account) {
  const pick = `button.account[data-upn="${account}"]`;
  for (let step = 0; step < 5; step++) {
    const next = await Promise.race([
      page.waitForURL((u) => u.href.startsWith(origin)).then(() => 'home', () => 'gone'),
      page.waitForSelector(pick).then(() => 'pick', () => 'gone'),
      page.waitForSelector('#accept').then(() => 'accept', () => 'gone'),
      page.waitForEvent('close').then(() => 'gone', () => 'gone'),
    ]);
    if (next === 'home' || next === 'gone') return next;
    await Promise.all([page.waitForNavigation().catch(() => null), page.click(next === 'pick' ? pick : '#accept')]);
  }
  throw new Error(`still on the emulator's pages after five steps: ${page.url()}`);
}

/** Signs `account` in by redirect from the demo page; resolves when the page has booted again. */
export async function signInByRedirect(page, origin, account) {
  await Promise.all([page.waitForURL((u) => !u.href.startsWith(origin)), page.click('#signin-redirect')]);
  await throughMicrosoft(page, origin, account);
  await page.waitForSelector('body[data-state="signed-in"], #error:not([hidden])');
}

// Microsoft's single-page-app library, @azure/msal-browser 5, unpatched and with its validation
// on, in headless Chromium against graphgate-emulator over HTTPS (Chromium trusts the emulator's
// CA through an NSS database, as the end-to-end tests do): loginRedirect and
// handleRedirectPromise, acquireTokenSilent from MSAL's cache (no token request upstream) and
// forced through the refresh token (redeemed from the page, without a secret), Graph called with
// the token, loginPopup through msal-browser's redirect bridge, and the refresh token's fixed
// 24 hours (AADSTS700084), reached by moving the emulator's clock. The page is bundled with
// esbuild and served from a small server on loopback, at the sandbox app's `spa` redirect URIs
// (`http://localhost/spa` and `/spa/redirect`, any port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { SANDBOX, startEmulator } from '../harness/stack.mjs';
import { ADELE, control, launch } from '../e2e/support.mjs';

const TIMEOUT = { timeout: 180_000 };
const ADELE_OID = 'a1f5c3e2-0b4d-4c6e-8f1a-2b3c4d5e6f70';
const here = (file) => fileURLToPath(new URL(file, import.meta.url));

const PAGES = {
  '/spa': `<!doctype html><meta charset="utf-8"><title>msal-browser against graphgate-emulator</title>
<button id="popup">Sign in in a popup</button><script type="module" src="/spa/page.js"></script>`,
  '/spa/redirect': `<!doctype html><meta charset="utf-8"><title>Signing in…</title>
<p>Processing authentication…</p><script type="module" src="/spa/bridge.js"></script>`,
};

/** Bundles the page and the redirect bridge for the emulator at `base`; resolves the folder. */
async function bundle(base) {
  const out = mkdtempSync(join(tmpdir(), 'graphgate-msal-browser-'));
  await build({
    entryPoints: { page: here('./page.js'), bridge: here('./bridge.js') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: out,
    define: { EMU_BASE: JSON.stringify(base), TENANT: JSON.stringify(SANDBOX.contoso) },
    logLevel: 'warning',
  });
  return out;
}

/** Serves the two pages and their scripts on loopback; resolves { origin, stop }. */
function serve(dir) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname.replace(/\/$/, '');
    const script = { '/spa/page.js': 'page.js', '/spa/bridge.js': 'bridge.js' }[path];
    if (PAGES[path]) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(PAGES[path]);
    } else if (script) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(readFileSync(join(dir, script)));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://localhost:${server.address().port}`;
      ok({
        origin,
        stop: () =>
          new Promise((done) => {
            server.close(done);
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Opens the test page in `context`; resolves the page and what handleRedirectPromise gave. */
async function openPage(context, origin) {
  const page = await context.newPage();
  await page.goto(`${origin}/spa`);
  return { page, handled: await handled(page) };
}

/** What msal-browser's handleRedirectPromise resolved on the page now loaded. */
async function handled(page) {
  await page.waitForFunction(() => window.t);
  return page.evaluate(() => window.t.ready);
}

/**
 * Picks `account` on the emulator's sign-in page, and accepts the consent page if it follows;
 * resolves once the browser is leaving the emulator (a popup may close itself right away). One
 * step after another, so no wait is left pending.
 */
async function signInAs(page, account) {
  const pick = `button.account[data-upn="${account}"]`;
  await page.waitForSelector(pick);
  const emulatorHost = new URL(page.url()).host;
  // A popup that closes itself ends a wait: it has left the emulator.
  const settled = (wait) => wait.catch((e) => (page.isClosed() ? null : Promise.reject(e)));
  const navigated = () => settled(page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() }));
  await Promise.all([navigated(), settled(page.click(pick))]);
  if (page.isClosed() || new URL(page.url()).host !== emulatorHost) return;
  await page.waitForLoadState('domcontentloaded');
  if (await page.$('#accept')) await Promise.all([navigated(), page.click('#accept')]);
}

/** The tail of msal-browser's log on `page`, for a failure's message. */
async function logTail(page) {
  return page.evaluate(() => window.t?.logs.slice(-25).join('\n') ?? '').catch(() => '');
}

/** The token requests the emulator answered since its counters were last reset. */
async function tokenCalls(stack) {
  const calls = await control(stack, 'GET', '/calls');
  return Object.fromEntries(Object.entries(calls).filter(([key]) => key.startsWith('token:')));
}

function assertAdele(result, what) {
  assert.ok(result && !result.error, `${what}: ${JSON.stringify(result)}`);
  assert.deepEqual(
    result.account,
    {
      homeAccountId: `${ADELE_OID}.${SANDBOX.contoso}`,
      username: ADELE,
      name: 'Adele Vance',
      tenantId: SANDBOX.contoso,
      localAccountId: ADELE_OID,
    },
    `${what}: the account`,
  );
  assert.deepEqual(result.idTokenClaims, { oid: ADELE_OID, tid: SANDBOX.contoso }, what);
  assert.ok(result.accessToken, `${what}: an access token`);
}

test('msal-browser signs in by redirect and by popup, and keeps tokens as against Entra', TIMEOUT, async () => {
  const emulator = await startEmulator();
  const stack = { emulator, ca: readFileSync(emulator.caFile) };
  const out = await bundle(emulator.base);
  const site = await serve(out);
  const { browser, home } = await launch(emulator.caFile);
  let page;
  try {
    const context = await browser.newContext();
    ({ page } = await openPage(context, site.origin));
    assert.equal(await page.evaluate(() => window.t.ready), null, 'nothing to handle before signing in');

    // loginRedirect: to the emulator's sign-in and consent pages, clicked through as Adele, and
    // back to the page, where handleRedirectPromise redeems the code from the browser.
    await Promise.all([
      page.waitForURL((u) => !u.href.startsWith(site.origin)),
      page.evaluate((hint) => void window.t.loginRedirect(hint), ADELE),
    ]);
    await signInAs(page, ADELE);
    await page.waitForURL((u) => u.href.startsWith(site.origin));
    const signedIn = await handled(page);
    assertAdele(signedIn, 'handleRedirectPromise');
    assert.ok(signedIn.scopes.includes('User.Read'), signedIn.scopes.join(' '));

    // acquireTokenSilent: from MSAL's cache, with no token request reaching the emulator.
    await control(stack, 'DELETE', '/calls');
    const cached = await page.evaluate(() => window.t.silent());
    assertAdele(cached, 'acquireTokenSilent');
    assert.equal(cached.fromCache, true, 'served from the cache');
    assert.equal(cached.accessToken, signedIn.accessToken);
    assert.deepEqual(await tokenCalls(stack), {}, 'no token request upstream');

    // Forced: through the refresh token, redeemed from the page without a secret.
    const refreshed = await page.evaluate(() => window.t.forced());
    assertAdele(refreshed, 'acquireTokenSilent with forceRefresh');
    assert.equal(refreshed.fromCache, false);
    assert.notEqual(refreshed.accessToken, signedIn.accessToken);
    assert.deepEqual(await tokenCalls(stack), { 'token:refresh_token': 1 });
    const me = await page.evaluate((token) => window.t.me(token), refreshed.accessToken);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.displayName, 'Adele Vance');

    // loginPopup, on a page of its own (a fresh browser context): the popup ends on the redirect
    // bridge, which hands the response to this page and closes; this page never navigates.
    const context2 = await browser.newContext();
    const second = await openPage(context2, site.origin);
    assert.equal(second.handled, null);
    const [popup] = await Promise.all([context2.waitForEvent('page'), second.page.click('#popup')]);
    const closed = popup.waitForEvent('close');
    await popup.waitForLoadState();
    await signInAs(popup, ADELE);
    await closed;
    await second.page.waitForFunction(() => window.t.popup);
    const viaPopup = await second.page.evaluate(() => window.t.popup);
    assertAdele(viaPopup, 'loginPopup');
    assert.equal(new URL(second.page.url()).pathname, '/spa');
    const cachedAfterPopup = await second.page.evaluate(() => window.t.silent());
    assert.equal(cachedAfterPopup.fromCache, true);

    // The refresh token of a single-page app lives 24 hours from the sign-in, however used.
    await control(stack, 'POST', '/clock', { seconds: 24 * 3600 });
    const expired = await page.evaluate(() => window.t.refreshOnly());
    assert.equal(expired.error, true, JSON.stringify(expired));
    assert.equal(expired.errorCode, 'invalid_grant', JSON.stringify(expired));
    assert.match(expired.message, /AADSTS700084: The refresh token was issued to a single page app \(SPA\)/);
  } catch (e) {
    e.message += page ? `\n--- msal-browser log ---\n${await logTail(page)}` : '';
    throw e;
  } finally {
    await browser.close().catch(() => {});
    rmSync(home, { recursive: true, force: true });
    await site.stop();
    await emulator.stop();
    rmSync(out, { recursive: true, force: true });
  }
});

// The journey of field-notes.md in real headless Chromium: the demo page (www/ on the npm package)
// served by graphgate-proxy, against graphgate-emulator over HTTPS. Each scenario starts its own
// emulator and proxy; screenshots of the main screens go to target/e2e/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ADELE,
  BOB,
  MEGAN,
  SITE,
  calls,
  control,
  openDemo,
  shot,
  signInByRedirect,
  startStack,
  throughMicrosoft,
} from './support.mjs';
import { SANDBOX } from '../harness/stack.mjs';

const TIMEOUT = { timeout: 120_000 };

async function withStack(options, body) {
  const stack = await startStack(options);
  try {
    const context = await stack.browser.newContext({ viewport: { width: 1280, height: 800 } });
    await body(stack, context);
  } finally {
    await stack.stop();
  }
}

// Sends a mail from the compose card and checks it reached `to`'s mailbox in the emulator.
async function sendMailThroughThePage(stack, page, to) {
  const subject = `graphgate e2e ${Math.random().toString(36).slice(2, 10)}`;
  await page.fill('#compose-to', to);
  await page.fill('#compose-subject', subject);
  await page.fill('#compose-body', 'Sent by the end-to-end test.');
  await page.click('#compose-send');
  await page.waitForSelector('#compose-status[data-result="sent"]');
  const box = await control(stack, 'GET', `/mailboxes/${to}`);
  assert.ok(
    box.value.some((m) => m.subject === subject),
    `the message is in ${to}'s mailbox`,
  );
}

async function errorShown(page, code) {
  const panel = page.locator(`#error[data-code="${code}"]`);
  await panel.waitFor({ state: 'visible' });
  return (await page.locator('#error-hint').textContent()) ?? '';
}

// A signed-in member invites `email` from the page; resolves the redeem URL. The page gets only
// the status word (the link is for admins' API keys), so the link is the one Microsoft mailed,
// read from the emulator's record of the invitation.
async function inviteFromThePage(stack, page, email) {
  await page.fill('#invite-email', email);
  await page.click('#invite-check');
  await page.waitForSelector('#invite-status[data-status="not-invited"]');
  await page.click('#invite-send');
  await page.waitForSelector('#invite-status[data-status="invited"]');
  assert.equal(await page.locator('#invite-link').getAttribute('href'), null, 'no link for a page');
  const sent = (await control(stack, 'GET', '/invitations')).value.filter((i) => i.email === email);
  const href = sent.at(-1)?.inviteRedeemUrl;
  assert.match(href ?? '', /\/redeem\?rd=/, 'the invitation was sent');
  return href;
}

// Adele invites Bob, signs out; Bob follows the link and lands signed in (one-step onboarding).
async function inviteAndRedeem(stack, context, { screenshots = false } = {}) {
  const admin = await openDemo(context, stack.origin);
  await signInByRedirect(admin, stack.origin, ADELE);
  const redeem = await inviteFromThePage(stack, admin, BOB);
  if (screenshots) await shot(admin, '04-invited');
  await admin.click('#signout');
  await admin.waitForSelector('body[data-state="signed-out"]');
  await admin.close();
  const guest = await context.newPage();
  await guest.goto(redeem);
  await throughMicrosoft(guest, stack.origin, BOB);
  await guest.waitForSelector('body[data-state="signed-in"]');
  return guest;
}

test('1. a member signs in by redirect, sees the profile, sends mail', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const page = await openDemo(context, stack.origin);
    await shot(page, '01-signed-out');
    await signInByRedirect(page, stack.origin, ADELE);
    assert.match(await page.textContent('#account'), /adele@contoso\.onmicrosoft\.com/);
    await page.waitForSelector('#profile-name:not(:empty)');
    assert.match(await page.textContent('#profile-upn'), /adele@contoso\.onmicrosoft\.com/);
    await page.waitForSelector('#inbox .message');
    assert.equal(new URL(page.url()).search, '', 'code and state are gone from the address bar');
    await shot(page, '01-signed-in');
    await sendMailThroughThePage(stack, page, MEGAN);
    await shot(page, '01-mail-sent');
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 375, height: 800 });
    await phone.goto(`${stack.origin}/`);
    await phone.waitForSelector('body[data-state="signed-in"]');
    await shot(phone, '01-phone');
  });
});

test('2. a member signs in in a popup and sends mail', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const page = await openDemo(context, stack.origin);
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#signin-popup')]);
    await throughMicrosoft(popup, stack.origin, MEGAN);
    await page.waitForSelector('body[data-state="signed-in"]');
    assert.match(await page.textContent('#account'), /megan@contoso\.onmicrosoft\.com/);
    assert.ok(popup.isClosed(), 'the popup closed itself');
    await page.waitForSelector('#profile-name:not(:empty)');
    await sendMailThroughThePage(stack, page, ADELE);
    await shot(page, '02-popup-signed-in');
  });
});

test('3. an external user who was never invited is refused, and the page explains AADSTS50020', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const page = await openDemo(context, stack.origin);
    await signInByRedirect(page, stack.origin, BOB);
    const hint = await errorShown(page, 'AADSTS50020');
    assert.match(hint, /invite/i, 'the fix says to invite the user');
    assert.match(hint, /\/common\//, 'or to sign in through /common/');
    assert.match(await page.textContent('#error-why-text'), /tenant/i, "the catalogue's explanation of why");
    assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');
    await shot(page, '03-aadsts50020');
    await page.click('#lang');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh');
    assert.match(await page.textContent('#error-hint'), /[\u4e00-\u9fff]/, 'the hint in Chinese');
    assert.match(await page.textContent('#error-why-text'), /[\u4e00-\u9fff]/, 'the explanation in Chinese');
    await shot(page, '03-aadsts50020-zh');
  });
});

test('4. the admin invites that user, who redeems and lands signed in', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const guest = await inviteAndRedeem(stack, context, { screenshots: true });
    assert.match(await guest.textContent('#account'), /bob@fabrikam\.onmicrosoft\.com/);
    const invitations = await control(stack, 'GET', '/invitations');
    assert.equal(invitations.value.at(-1).externalUserState, 'Accepted');
    await shot(guest, '04-guest-signed-in');
  });
});

test('5. a guest through the tenant authority has no mailbox; through /common/ mail works', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const guest = await inviteAndRedeem(stack, context);
    await sendFails(guest);
    await shot(guest, '05-mailbox-not-enabled');
    // The inbox card keeps its own failure: its code brings the explanation back to the panel.
    await guest.click('#error-dismiss');
    await guest.locator('#error').waitFor({ state: 'hidden' });
    await guest.click('#inbox-note .link-btn[data-code="MailboxNotEnabledForRESTAPI"]');
    await errorShown(guest, 'MailboxNotEnabledForRESTAPI');
    // The same site behind a proxy whose authority is /common/: Bob signs in at home (Fabrikam).
    const common = await stack.secondProxy({ tenant: 'common' });
    const page = await openDemo(context, common.origin);
    await signInByRedirect(page, common.origin, BOB);
    await page.waitForSelector('#profile-name:not(:empty)');
    await sendMailThroughThePage(stack, page, MEGAN);
    await shot(page, '05-common-mail-sent');

    async function sendFails(p) {
      await p.fill('#compose-to', MEGAN);
      await p.fill('#compose-subject', 'from a guest');
      await p.fill('#compose-body', 'no mailbox here');
      await p.click('#compose-send');
      const hint = await errorShown(p, 'MailboxNotEnabledForRESTAPI');
      assert.ok(hint.length > 20, `explained: ${hint}`);
    }
  });
});

test('6. an expired access token is refreshed silently, even across a proxy restart', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const page = await openDemo(context, stack.origin);
    await signInByRedirect(page, stack.origin, ADELE);
    await page.waitForSelector('#profile-name:not(:empty)');
    const signIns = await calls(stack, `GET /${SANDBOX.contoso}/oauth2/v2.0/authorize`);
    for (const restart of [false, true]) {
      if (restart) await stack.restartProxy();
      const refreshes = await calls(stack, 'token:refresh_token');
      await control(stack, 'POST', '/clock', { seconds: 2 * 3600 });
      await page.evaluate(() => document.querySelector('#profile-name').replaceChildren());
      await page.click('#refresh-profile');
      await page.waitForSelector('#profile-name:not(:empty)');
      assert.equal(await calls(stack, 'token:refresh_token'), refreshes + 1, 'one silent refresh');
    }
    assert.equal(
      await calls(stack, `GET /${SANDBOX.contoso}/oauth2/v2.0/authorize`),
      signIns,
      'no second sign-in',
    );
    assert.equal(await page.getAttribute('body', 'data-state'), 'signed-in');
  });
});

test('7. sign out: the session is gone and token calls answer interaction_required', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const page = await openDemo(context, stack.origin);
    await signInByRedirect(page, stack.origin, ADELE);
    await page.waitForSelector('#profile-name:not(:empty)');
    const cookie = (await context.cookies()).find((c) => c.name === 'graphgate');
    assert.ok(cookie, 'a session cookie');
    await page.click('#signout');
    await page.waitForSelector('body[data-state="signed-out"]');
    await shot(page, '07-signed-out');
    // The page's own client, and the proxy asked directly with the old cookie put back.
    const fromClient = await page.evaluate(async () => {
      const { createClientFromProxy } = await import('/graphgate/index.js');
      const client = await createClientFromProxy('');
      try {
        await client.getAccessToken();
        return null;
      } catch (e) {
        return { interactionRequired: e.interactionRequired, error: e.error, code: e.code };
      }
    });
    assert.deepEqual(fromClient, { interactionRequired: true, error: 'interaction_required', code: 'not_signed_in' });
    await context.addCookies([cookie]);
    const replayed = await page.evaluate(async () => {
      const r = await fetch('/api/auth/token', {
        method: 'POST',
        headers: { 'X-Graphgate': '1', 'Content-Type': 'application/json' },
        body: '{}',
      });
      return { status: r.status, body: await r.json() };
    });
    assert.equal(replayed.status, 401);
    assert.equal(replayed.body.error, 'interaction_required', 'the old session ID opens nothing');
  });
});

test('8. Graph answers 429 with Retry-After: the call succeeds after waiting', TIMEOUT, async () => {
  await withStack({}, async (stack, context) => {
    const page = await openDemo(context, stack.origin);
    await signInByRedirect(page, stack.origin, ADELE);
    await page.waitForSelector('#profile-name:not(:empty)');
    const before = await calls(stack, 'GET /v1.0/me');
    await control(stack, 'POST', '/faults', { path: '/v1.0/me', method: 'GET', count: 1, kind: 'throttle', retry_after: 2 });
    await page.evaluate(() => document.querySelector('#profile-name').replaceChildren());
    const started = Date.now();
    await page.click('#refresh-profile');
    await page.waitForSelector('#profile-name:not(:empty)');
    assert.ok(Date.now() - started >= 2000, 'the page waited for Retry-After');
    assert.equal(await calls(stack, 'GET /v1.0/me'), before + 2, 'throttled once, then answered');
    assert.equal(await page.locator('#error:visible').count(), 0, 'no error shown');
  });
});

// What README's "Content Security Policy" section asks of a page, and nothing more: scripts and
// the wasm module from the page's own origin, calls to the proxy (the same origin here) and to Graph
// (the emulator here); everything else refused. (`frame-ancestors` too belongs in a real policy, but
// only as a header: a <meta> policy ignores it.)
function strictPolicy(graphOrigin) {
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    `connect-src 'self' ${graphOrigin}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

// Every Content Security Policy violation reported on `origin`'s pages (their
// `securitypolicyviolation` events), as a list that grows while the scenario runs.
async function violationsOn(context, origin) {
  const seen = [];
  await context.exposeBinding('reportViolation', (_source, v) => {
    if (v.page.startsWith(origin)) seen.push(v);
  });
  await context.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) =>
      window.reportViolation({ directive: e.effectiveDirective, blocked: e.blockedURI, page: e.documentURI }),
    ),
  );
  return seen;
}

test('9. under a strict Content Security Policy, sign-in by redirect and Graph calls work without a violation', TIMEOUT, async () => {
  // The demo site with the policy in its page, served by this scenario's proxy.
  const site = mkdtempSync(join(tmpdir(), 'graphgate-e2e-csp-'));
  cpSync(SITE, site, { recursive: true });
  try {
    await withStack({ site }, async (stack, context) => {
      const policy = strictPolicy(new URL(stack.emulator.base).origin);
      const index = join(site, 'index.html');
      const meta = `<meta http-equiv="Content-Security-Policy" content="${policy}">`;
      writeFileSync(index, readFileSync(index, 'utf8').replace('<meta charset="utf-8">', `<meta charset="utf-8">\n    ${meta}`));
      const violations = await violationsOn(context, stack.origin);
      const page = await openDemo(context, stack.origin);
      assert.equal(await page.locator('#error').isHidden(), true, 'the module loaded and asked for the session');
      assert.deepEqual(violations, [], 'no violation while booting');
      await signInByRedirect(page, stack.origin, ADELE);
      assert.match(await page.textContent('#account'), /adele@contoso\.onmicrosoft\.com/);
      await page.waitForSelector('#profile-name:not(:empty)');
      assert.match(await page.textContent('#profile-upn'), /adele@contoso\.onmicrosoft\.com/);
      await page.waitForSelector('#inbox .message');
      assert.equal(await page.locator('#error').isHidden(), true, 'no error shown');
      assert.deepEqual(violations, [], 'no violation');
      // The policy is in force on the page signed in: a call it does not allow is refused.
      const refused = await page.evaluate(async () => {
        const reported = new Promise((ok) => document.addEventListener('securitypolicyviolation', ok, { once: true }));
        await fetch('http://127.0.0.1:9/').catch(() => {});
        return (await reported).effectiveDirective;
      });
      assert.equal(refused, 'connect-src', 'the page runs under the policy');
    });
  } finally {
    rmSync(site, { recursive: true, force: true });
  }
});

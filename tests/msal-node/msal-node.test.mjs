// Microsoft's confidential-client library, @azure/msal-node, against graphgate-emulator with its
// default validation on: a code redemption (code from the emulator's sign-in page), a silent
// request served from MSAL's cache with no token request upstream, a refresh, and a
// client-credentials request. Node trusts the emulator's CA through NODE_EXTRA_CA_CERTS,
// which must be set when Node starts, so the MSAL part runs in a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../harness/stack.mjs';

test('msal-node completes a code redemption, a cached silent request, a refresh and client credentials', async () => {
  const emu = await startEmulator();
  try {
    const flow = fileURLToPath(new URL('./flow.mjs', import.meta.url));
    const { code, output } = await new Promise((ok) => {
      const child = spawn(process.execPath, [flow], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: emu.caFile, EMU_BASE: emu.base },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c) => (output += c));
      child.stderr.on('data', (c) => (output += c));
      child.on('exit', (code) => ok({ code, output }));
    });
    assert.equal(code, 0, output);
    for (const step of [
      'code redeemed',
      'served from cache',
      'refreshed silently',
      'refreshed by token',
      'client credentials',
    ]) {
      assert.match(output, new RegExp(`ok: ${step}`), output);
    }
  } finally {
    await emu.stop();
  }
});

// Runs a command with graphgate-emulator (plain HTTP) and graphgate-proxy started for a browser page
// at a fixed loopback origin, then stops both: `node harness/with-stack.mjs <command> [args…]`.
// The command sees GRAPHGATE_TEST_EMULATOR, GRAPHGATE_TEST_PROXY, GRAPHGATE_TEST_ORIGIN and
// WASM_BINDGEN_TEST_ADDRESS (where wasm-bindgen-test-runner serves the page).
import { spawn } from 'node:child_process';
import { freePort, startEmulator, startProxy } from './stack.mjs';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: node harness/with-stack.mjs <command> [args…]');
  process.exit(2);
}
const pagePort = await freePort();
const origin = `http://127.0.0.1:${pagePort}`;
const emulator = await startEmulator({ http: true });
let proxy;
try {
  proxy = await startProxy(emulator, {
    origins: [origin],
    redirectUris: [`${origin}/`],
    capabilities: ['cp1'],
    // Every scenario signs in from this one address, faster than a person would.
    extra: 'sign_ins_per_minute = 1000',
  });
} catch (e) {
  await emulator.stop();
  throw e;
}
const child = spawn(cmd, args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    GRAPHGATE_TEST_EMULATOR: emulator.base,
    GRAPHGATE_TEST_PROXY: proxy.base,
    GRAPHGATE_TEST_ORIGIN: origin,
    WASM_BINDGEN_TEST_ADDRESS: `127.0.0.1:${pagePort}`,
    WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION: '1',
  },
});
const code = await new Promise((ok) => child.on('exit', (c, signal) => ok(c ?? (signal ? 1 : 0))));
await proxy.stop();
await emulator.stop();
process.exit(code);

// The demo: graphgate-emulator (plain HTTP, sandbox seed) and graphgate-proxy serving the demo site
// (www/ with the npm package under graphgate/) on one origin, with SQLite sessions in a temporary
// directory; prints the URL and the sandbox accounts; Ctrl-C stops both. With `--config FILE` the
// proxy runs with that configuration (a real Microsoft tenant) and no emulator is started; with
// `--env` the same, configured by GRAPHGATE_* environment variables alone, in `--workdir DIR`.
// Usage: node harness/demo.mjs SITE_DIR [--config FILE | --env [--workdir DIR]] [--port 8080] [--emulator-port 8400]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { binary, startEmulator, startProxy } from './stack.mjs';

const args = process.argv.slice(2);
const site = args[0] && !args[0].startsWith('--') ? resolve(args[0]) : null;
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
if (!site) {
  console.error(
    'usage: node harness/demo.mjs SITE_DIR [--config FILE | --env [--workdir DIR]] [--port 8080] [--emulator-port 8400]',
  );
  process.exit(2);
}
const port = flag('--port', '8080');
const config = flag('--config', null);
const fromEnv = args.includes('--env');

const stopped = [];
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const stop of stopped.reverse()) await stop().catch(() => {});
  process.exit(code);
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

if (config || fromEnv) {
  // A real tenant: the user's configuration (a file, or GRAPHGATE_* variables alone), the demo
  // site served by the same proxy. Relative paths inside a file (sqlite_path, key files) are
  // taken from the file's folder; with --env, from the folder the demo was started in.
  const child = spawn(binary('graphgate-proxy'), config ? ['serve', '--config', resolve(config)] : ['serve'], {
    stdio: 'inherit',
    cwd: config ? dirname(resolve(config)) : resolve(flag('--workdir', process.cwd())),
    env: { GRAPHGATE_SERVER_STATIC_DIR: site, ...process.env },
  });
  stopped.push(
    () =>
      new Promise((ok) => {
        if (child.exitCode !== null) return ok();
        child.once('exit', ok);
        child.kill('SIGTERM');
      }),
  );
  child.on('exit', (code) => stopAll(code ?? 0));
} else {
  const origin = `http://localhost:${port}`;
  const emulator = await startEmulator({ http: true, listen: `127.0.0.1:${flag('--emulator-port', '8400')}` });
  stopped.push(emulator.stop);
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-demo-'));
  stopped.push(async () => rmSync(dir, { recursive: true, force: true }));
  const proxy = await startProxy(emulator, {
    origins: [origin, `http://127.0.0.1:${port}`],
    redirectUris: [`${origin}/`],
    store: 'sqlite',
    dir,
    listen: `127.0.0.1:${port}`,
    staticDir: site,
    extra: `[invitations]\npolicy = "signed-in"`,
  }).catch(async (e) => {
    await stopAll(1);
    throw e;
  });
  stopped.push(proxy.stop);
  console.log(`
graphgate demo — open ${origin}/ in your browser (Ctrl-C stops everything)

  proxy + demo page  ${origin}  (SQLite sessions in ${dir})
  emulator           ${emulator.base}  (offline Microsoft sign-in and Graph; sandbox seed)

Sandbox accounts (no passwords: pick one on the emulator's sign-in page):
  adele@contoso.onmicrosoft.com   Adele Vance, Contoso admin — may invite guests
  megan@contoso.onmicrosoft.com   Megan Bowen, Contoso member
  bob@fabrikam.onmicrosoft.com    Bob of Fabrikam — not invited yet: AADSTS50020 until Adele invites him
  kim@outlook.example             Kim, a personal Microsoft account
`);
}

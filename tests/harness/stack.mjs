// Starts graphgate-emulator and graphgate-proxy (the binaries cargo built) on free loopback ports
// for a test, and stops them: the harness every Node and browser test shares.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The sandbox seed's facts the tests use. */
export const SANDBOX = {
  contoso: '8eaef023-2b34-4da1-9baa-8bc8c9d6a490',
  clientId: '6731de76-14a6-49ae-97bc-6eba6914391e',
  secret: 'sandbox-secret~5yN.Xq2Vt8Lw3Kd9Rb7Mh4Fz',
};

/** A free loopback TCP port (for an address a restarted server must keep). */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export function binary(name) {
  const dir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  return join(dir, process.env.GRAPHGATE_PROFILE ?? 'debug', name);
}

// Spawns `cmd`, resolves the first stdout match of `pattern` (its first group), fails on exit.
// Its standard error goes to ours, or to the file descriptor `stderr`.
function startProcess(cmd, args, pattern, what, env = {}, stderr = 'inherit') {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', stderr], env: { ...process.env, ...env } });
  const found = new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not start: ${out}`)), 60_000);
    const read = (chunk) => {
      out += chunk;
      const m = out.match(pattern);
      if (m) {
        clearTimeout(timer);
        // From here on its output (the log) is drained and dropped, so it never waits on us.
        child.stdout.off('data', read);
        child.stdout.resume();
        ok(m[1]);
      }
    };
    child.stdout.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${what} exited (${code}): ${out}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
  };
  return { found, stop, pid: child.pid };
}

/**
 * Starts the emulator with its control API; resolves to { base, caFile, stop }. `http: true` serves
 * plain HTTP (for browsers that do not trust its CA); otherwise HTTPS with the CA written to caFile.
 * `listen` fixes the address (default: a free port); `seed` names a seed file to start from instead
 * of the sandbox.
 */
export async function startEmulator({ http = false, listen = '127.0.0.1:0', seed } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-emu-'));
  const caFile = http ? null : join(dir, 'ca.pem');
  const args = ['--listen', listen, '--control', ...(http ? ['--http'] : ['--ca-out', caFile])];
  if (seed) args.push('--seed', seed);
  const p = startProcess(binary('graphgate-emulator'), args, /listening on (https?:\/\/\S+)/, 'the emulator');
  const base = await p.found.catch(async (e) => {
    await p.stop();
    throw e;
  });
  const stop = async () => {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { base, caFile, stop, pid: p.pid };
}

/**
 * Starts graphgate-proxy for the emulator at `emulator` (from startEmulator) with an in-memory
 * session store (or SQLite in `dir`, which a restarted proxy may reuse); resolves to
 * { base, dir, stop }. `origins` may call it with credentials (the first is its public origin);
 * `redirectUris` are the pages signing in; `listen` fixes the address (a restart keeps the page's
 * origin); `staticDir` is served at `/`; `capabilities` are the client capabilities declared on
 * token requests (`['cp1']` for claims challenges); `extra` is appended to the TOML (after `[session]`);
 * `server` is added to its `[server]` table; `stderr` is a file descriptor for its log (default: ours).
 */
export async function startProxy(
  emulator,
  {
    origins = [],
    redirectUris,
    tenant = SANDBOX.contoso,
    store = 'memory',
    dir: keep,
    listen = '127.0.0.1:0',
    staticDir,
    capabilities = [],
    extra = '',
    server = '',
    stderr = 'inherit',
  } = {},
) {
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'graphgate-proxy-'));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, SANDBOX.secret);
  const keyFile = join(dir, 'session.key');
  if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32).toString('base64'));
  const toml = `
[server]
listen = "${listen}"
public_origin = "${origins[0] ?? 'http://127.0.0.1'}"
allowed_origins = ${JSON.stringify(origins)}
${staticDir ? `static_dir = ${JSON.stringify(staticDir)}` : ''}
${server}
[entra]
tenant = "${tenant}"
app_tenant = "${SANDBOX.contoso}"
client_id = "${SANDBOX.clientId}"
redirect_uris = ${JSON.stringify(redirectUris)}
scopes = ["User.Read", "Mail.Read", "Mail.Send", "Tasks.Read"]
client_capabilities = ${JSON.stringify(capabilities)}
login_base = "${emulator.base}"
graph_base = "${emulator.base}"
${emulator.caFile ? `extra_ca_file = ${JSON.stringify(emulator.caFile)}` : ''}
credential = { secret = { file = ${JSON.stringify(secretFile)} } }
[session]
store = "${store}"
sqlite_path = ${JSON.stringify(join(dir, 'sessions.db'))}
key = { file = ${JSON.stringify(keyFile)} }
${extra}
`;
  const configFile = join(dir, 'proxy.toml');
  writeFileSync(configFile, toml);
  const p = startProcess(
    binary('graphgate-proxy'),
    ['serve', '--config', configFile],
    /listening on (http:\/\/\S+)/,
    'the proxy',
    { RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stderr,
  );
  const base = await p.found.catch(async (e) => {
    await p.stop();
    throw e;
  });
  const stop = async ({ keepDir = false } = {}) => {
    await p.stop();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };
  return { base, dir, stop, pid: p.pid };
}

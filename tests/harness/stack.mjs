// Starts graphgate-emulator and graphgate-proxy (the binaries cargo built), and a redis-server for a
// proxy's Redis session store, on free loopback ports for a test, and stops them: the harness every
// Node and browser test shares.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
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

/** Whether a Redis server answers `+PONG` to a `PING` on `port` within `ms`. */
function pong(port, ms) {
  return new Promise((ok) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (value) => {
      socket.destroy();
      ok(value);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk;
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

/**
 * Starts `redis-server` (from PATH, or REDIS_SERVER) on a free loopback port with its own temporary
 * directory, saving nothing to disk; resolves to { url, port, dir, stop, pid } once it answers PING.
 * `stderr` is a file descriptor for its log (default: dropped, shown only if it fails to start).
 */
export async function startRedis({ stderr } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-redis-'));
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const cmd = process.env.REDIS_SERVER ?? 'redis-server';
  const child = spawn(cmd, args, { stdio: ['ignore', stderr ?? 'pipe', stderr ?? 'pipe'] });
  // Until it is ready its log is kept for the error; after that it is drained and dropped.
  let log = '';
  const keep = (chunk) => {
    if (log.length < 16_384) log += chunk;
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = null;
  const gone = new Promise((ok) => {
    child.once('error', (e) => {
      exited = e.code === 'ENOENT' ? `${cmd} is not installed (apt-get install redis-server)` : e.message;
      ok();
    });
    child.once('exit', (code, signal) => {
      exited ??= `exited (${code ?? signal})`;
      ok();
    });
  });
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`redis-server did not start: ${exited}\n${log}`);
    }
    if (await pong(port, 1000)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer PING on port ${port} within 20 s\n${log}`);
    }
    // The next attempt after a short pause, or at once if it exits meanwhile.
    await Promise.race([gone, new Promise((ok) => setTimeout(ok, 50))]);
  }
  for (const stream of [child.stdout, child.stderr]) {
    stream?.off('data', keep);
    stream?.resume();
  }
  return { url: `redis://127.0.0.1:${port}/0`, port, dir, stop, pid: child.pid };
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
 * session store (or SQLite in `dir`, which a restarted proxy may reuse, or Redis); resolves to
 * { base, dir, redis, stop }. `redis` selects the Redis store: a server from startRedis (which the
 * caller stops, so a restarted proxy finds its sessions), or `true` (as is `store: 'redis'` alone)
 * for a redis-server of this proxy's own, stopped and removed with it. `origins` may call it with
 * credentials (the first is its public origin); `redirectUris` are the pages signing in; `listen`
 * fixes the address (a restart keeps the page's origin); `staticDir` is served at `/`;
 * `capabilities` are the client capabilities declared on token requests (`['cp1']` for claims
 * challenges); `extra` is appended to the TOML (after `[session]`); `server` is added to its
 * `[server]` table; `stderr` is a file descriptor for its log (default: ours).
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
    redis: redisOption = store === 'redis',
  } = {},
) {
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'graphgate-proxy-'));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, SANDBOX.secret);
  const keyFile = join(dir, 'session.key');
  if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32).toString('base64'));
  const own = redisOption === true ? await startRedis() : null;
  const redis = own ?? (redisOption || null);
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
${
  redis
    ? `store = "redis"\nredis_url = ${JSON.stringify(redis.url)}`
    : `store = "${store}"\nsqlite_path = ${JSON.stringify(join(dir, 'sessions.db'))}`
}
key = { file = ${JSON.stringify(keyFile)} }
${extra}
`;
  const configFile = join(dir, 'proxy.toml');
  let p;
  let base;
  try {
    writeFileSync(configFile, toml);
    p = startProcess(
      binary('graphgate-proxy'),
      ['serve', '--config', configFile],
      /listening on (http:\/\/\S+)/,
      'the proxy',
      { RUST_LOG: process.env.RUST_LOG ?? 'warn' },
      stderr,
    );
    base = await p.found;
  } catch (e) {
    await p?.stop();
    await own?.stop();
    throw e;
  }
  const stop = async ({ keepDir = false } = {}) => {
    await p.stop();
    await own?.stop();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };
  return { base, dir, redis, stop, pid: p.pid };
}

// `cargo xtask bench`'s driver: graphgate-proxy beside the msal-node peer, against one
// graphgate-emulator, in one run. It starts the emulator (HTTPS, seeded with BENCH_USERS users),
// then runs itself again with Node trusting the emulator's CA (NODE_EXTRA_CA_CERTS must be set
// when Node starts), and that run signs users in, drives wrk, counts upstream calls at the
// emulator and writes target/bench/report.md, report.json and chart.svg. The cached-token figures
// are measured twice: with the SQLite session store and, from a second proxy against a
// redis-server of its own, with the Redis store.
//
// Options: --quick (2 s per figure, no warm-up: a smoke test that fails on errors, never on
// numbers; 100 users). The binaries come from CARGO_TARGET_DIR (or target/) under GRAPHGATE_PROFILE
// (`release` for a real run).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, openSync, closeSync } from 'node:fs';
import { tmpdir, cpus, loadavg, totalmem } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, startProxy, startRedis, SANDBOX, freePort } from '../tests/harness/stack.mjs';
import { signIn } from './sign-in.mjs';
import { renderReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const quick = process.argv.includes('--quick');
const USERS = quick ? 100 : 1000;
const SECONDS = quick ? 2 : 10;
const WARMUP = quick ? 0 : 2;
const CONNECTIONS = 64;
const REDIRECT = 'http://localhost:5173/';
// The scopes graphgate-proxy is configured with by the harness (and so asks for by default).
const SCOPES = ['User.Read', 'Mail.Read', 'Mail.Send', 'Tasks.Read'];
const out = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'bench');

/** The object ID of bench user `n` (the emulator's seed gets the same list). */
const userId = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

if (!process.env.BENCH_EMULATOR) {
  // First run: the emulator, seeded with the sandbox and the bench users; then the real run.
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-bench-'));
  const seed = join(dir, 'seed.toml');
  let toml = readFileSync(join(root, 'crates/emulator/seed/sandbox.toml'), 'utf8');
  for (let n = 1; n <= USERS; n += 1) {
    toml += `\n[[users]]\nid = "${userId(n)}"\ntenant = "${SANDBOX.contoso}"\nupn = "bench${n}@contoso.onmicrosoft.com"\nname = "Bench user ${n}"\n`;
  }
  writeFileSync(seed, toml);
  const emulator = await startEmulator({ seed });
  const code = await new Promise((ok) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: emulator.caFile,
        BENCH_EMULATOR: emulator.base,
        BENCH_EMULATOR_PID: String(emulator.pid),
        BENCH_DIR: dir,
      },
    });
    child.on('exit', ok);
  });
  await emulator.stop();
  process.exit(code ?? 1);
}

const emu = process.env.BENCH_EMULATOR;
/** The emulator as the harness's startProxy wants it. */
const emulator = { base: emu, caFile: process.env.NODE_EXTRA_CA_CERTS };
const dir = process.env.BENCH_DIR;

/** The emulator's control API. */
async function control(method, path, body) {
  const res = await fetch(`${emu}/_emulator${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}
const calls = async (key) => (await control('GET', '/calls'))[key] ?? 0;

/** Resident memory of a process, in KiB (VmRSS). */
function rssKib(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]);
}

/** Runs wrk against `url` with bench/load.lua; resolves to its JSON summary plus req/s. Not
 * synchronously: this process keeps reading the servers' logs meanwhile, as a log collector would. */
async function wrk(url, { seconds = SECONDS, method = 'GET', body, contentType, cookies } = {}) {
  const env = { ...process.env, METHOD: method, REQUEST_PATH: new URL(url).pathname };
  if (body !== undefined) env.BODY = body;
  if (contentType) env.CONTENT_TYPE = contentType;
  if (cookies) {
    const file = join(dir, `cookies-${cookies.length}-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(file, `${cookies.join('\n')}\n`);
    env.COOKIES = file;
  }
  const origin = new URL(url).origin;
  // A slow server is measured, not failed: wrk's own two-second timeout would count its answers as errors.
  const args = ['-t', '2', '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--timeout', '30s', '-s', join(here, 'load.lua'), origin];
  const { stdout: text } = await promisify(execFile)('wrk', args, { env, encoding: 'utf8' });
  const line = text.split('\n').find((l) => l.startsWith('{"requests"'));
  if (!line) throw new Error(`wrk printed no summary:\n${text}`);
  const r = JSON.parse(line);
  return { ...r, rps: r.requests / (r.duration_us / 1e6) };
}

/** A figure: a warm-up (not kept), then the measured run; errors fail the bench. */
async function measure(name, url, options = {}) {
  if (WARMUP) await wrk(url, { ...options, seconds: WARMUP });
  const r = await wrk(url, options);
  const failed = r.errors > 0;
  console.log(`${failed ? 'FAILED' : 'ok    '} ${name}: ${Math.round(r.rps)} req/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs, ${r.errors} errors`);
  if (failed) {
    // One more request of the same kind, to show what the failing answers say.
    const headers = { 'x-graphgate': '1', 'content-type': options.contentType ?? 'application/json' };
    if (options.cookies) headers.cookie = options.cookies[0];
    const probe = await fetch(url, { method: options.method ?? 'GET', headers, body: options.body });
    const said = `${probe.status} ${(await probe.text()).slice(0, 300)}`;
    throw new Error(`${name}: ${r.errors} requests failed (${r.status_errors} by status); one more answered ${said}`);
  }
  return { name, ...r };
}

/** Signs bench users `from`..`to` in at `server`, `parallel` at a time; resolves to their cookies. */
async function signInUsers(server, from, to, parallel = 16) {
  const cookies = [];
  let next = from;
  const worker = async () => {
    while (next <= to) {
      const n = next;
      next += 1;
      cookies[n - from] = await signIn({
        server,
        emulator: emu,
        tenant: SANDBOX.contoso,
        clientId: SANDBOX.clientId,
        account: userId(n),
        redirectUri: REDIRECT,
        scopes: SCOPES,
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return cookies;
}

/** A refresh token of bench user 1, redeemed straight at the emulator (for its own refresh rate). */
async function emulatorRefreshToken() {
  const { randomBytes, createHash } = await import('node:crypto');
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: SANDBOX.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    response_mode: 'query',
    scope: ['openid', 'offline_access', ...SCOPES].join(' '),
    state: 'bench',
    nonce: 'bench',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const action = `${emu}/${SANDBOX.contoso}/oauth2/v2.0/authorize`;
  const form = (step) =>
    fetch(action, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ q: query, account: userId(1), step }) });
  let res = await form('select');
  if (res.status === 200) res = await form('accept');
  const code = new URL(res.headers.get('location')).searchParams.get('code');
  const token = await fetch(`${emu}/${SANDBOX.contoso}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: SANDBOX.clientId,
      client_secret: SANDBOX.secret,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    }),
  });
  return (await token.json()).refresh_token;
}

/** Starts the msal-node peer; resolves to { base, pid, stop }. */
async function startPeer() {
  const child = spawn(process.execPath, [join(here, 'peer-msal-node/server.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      EMU_BASE: emu,
      TENANT: SANDBOX.contoso,
      CLIENT_ID: SANDBOX.clientId,
      CLIENT_SECRET: SANDBOX.secret,
      REDIRECT_URI: REDIRECT,
      SCOPES: SCOPES.join(','),
      PORT: '0',
    },
  });
  const base = await new Promise((ok, fail) => {
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
      const m = text.match(/listening on (\S+)/);
      if (m) ok(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`the msal-node peer exited (${code}): ${text}`)));
  });
  const stop = () =>
    new Promise((ok) => {
      child.once('exit', ok);
      child.kill('SIGTERM');
    });
  return { base, pid: child.pid, stop };
}

// What the bench sets on graphgate-proxy so that it measures the proxy, not a limiter; printed
// in the report.
const apiKeyFile = join(dir, 'api-keys');
writeFileSync(apiKeyFile, 'bench-api-key');
const BENCH_SERVER = ['max_connections_per_ip = 10000'];
const BENCH_SETTINGS = [
  'force_refresh_interval_secs = 0',
  'sign_ins_per_minute = 1000000',
  '[limits]',
  'exchanges_per_minute = 1000000',
  'token_refreshes_per_minute = 1000000',
  'logouts_per_minute = 1000000',
  '[invitations]',
  'policy = "admin"',
  `api_keys = { file = ${JSON.stringify(apiKeyFile)} }`,
  'admin_rate_limit_per_minute = 1000000',
];

const report = {
  date: new Date().toISOString(),
  quick,
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
  loadBefore: loadavg(),
  settings: {
    users: USERS,
    seconds: SECONDS,
    warmup: WARMUP,
    connections: CONNECTIONS,
    graphgate: ['[server]', ...BENCH_SERVER, '[session]', ...BENCH_SETTINGS],
  },
  figures: [],
  memory: {},
  upstream: {},
};
const figure = (server, path, r) => report.figures.push({ server, path, ...r });

/** The servers running, stopped at the end whatever happens. */
const live = new Set();
function track(server) {
  live.add(server);
  const stop = server.stop;
  server.stop = (...args) => {
    live.delete(server);
    return stop(...args);
  };
  return server;
}

/**
 * The cached-token figures with the Redis store: a redis-server, a second proxy using it (its log
 * at info, as the SQLite proxy's), its sessions signed in as the SQLite proxy's were. Resolves to
 * what the report says of the store; the figures go with the others.
 */
async function redisFigures() {
  const cmd = process.env.REDIS_SERVER ?? 'redis-server';
  const { stdout: said } = await promisify(execFile)(cmd, ['--version'], { encoding: 'utf8' });
  const version = said.match(/v=(\S+)/)?.[1] ?? said.trim();
  const redis = track(await startRedis());
  const logFile = join(dir, 'proxy-redis.log');
  const log = openSync(logFile, 'a');
  process.env.RUST_LOG = 'info';
  let proxy;
  try {
    try {
      const options = { ...proxyOptions, dir: join(dir, 'proxy-redis'), listen: '127.0.0.1:0', redis, stderr: log };
      mkdirSync(options.dir, { recursive: true });
      proxy = track(await startProxy(emulator, options));
    } catch (e) {
      throw new Error(`the proxy with the Redis store did not start: ${e.message}\n${readFileSync(logFile, 'utf8')}`);
    }
    const name = (path) => `${path} (Redis)`;
    const token = { method: 'POST', body: '{}' };
    const url = `${proxy.base}/api/auth/token`;
    const one = await signInUsers(proxy.base, 1, 1);
    figure('graphgate', name('token, 1 session'), await measure(`graphgate ${name('token, 1 session')}`, url, { ...token, cookies: one }));
    const all = one.concat(await signInUsers(proxy.base, 2, USERS));
    const many = name(`token, ${USERS} sessions`);
    figure('graphgate', many, await measure(`graphgate ${many}`, url, { ...token, cookies: all }));
    const oneOfMany = name(`token, 1 session of ${USERS}`);
    figure('graphgate', oneOfMany, await measure(`graphgate ${oneOfMany}`, url, { ...token, cookies: one }));
    return { version, proxySignedInKib: rssKib(proxy.pid), serverKib: rssKib(redis.pid) };
  } finally {
    process.env.RUST_LOG = 'warn';
    await proxy?.stop();
    await redis.stop();
    closeSync(log);
  }
}

mkdirSync(out, { recursive: true });
const proxyLog = openSync(join(dir, 'proxy.log'), 'a');
const listen = `127.0.0.1:${await freePort()}`;
const proxyOptions = {
  origins: ['http://localhost:5173'],
  redirectUris: [REDIRECT],
  store: 'sqlite',
  dir: join(dir, 'proxy'),
  listen,
  server: BENCH_SERVER.join('\n'),
  extra: BENCH_SETTINGS.join('\n'),
  stderr: proxyLog,
};
mkdirSync(proxyOptions.dir, { recursive: true });

try {
  // graphgate-proxy, its log at info level (as deployed).
  process.env.RUST_LOG = 'info';
  let proxy = track(await startProxy(emulator, proxyOptions));
  report.memory.graphgateIdleKib = rssKib(proxy.pid);
  figure('graphgate', '/healthz', await measure('graphgate /healthz', `${proxy.base}/healthz`));
  const one = await signInUsers(proxy.base, 1, 1);
  const token = { method: 'POST', body: '{}' };
  figure('graphgate', 'token, 1 session', await measure('graphgate token, 1 session', `${proxy.base}/api/auth/token`, { ...token, cookies: one }));
  // After one sign-in and the load so far: what serving costs whatever the number of sessions
  // (connections' buffers, the upstream client), so that the per-session figure is the rest.
  report.memory.graphgateOneSessionKib = rssKib(proxy.pid);
  const upTo64 = one.concat(await signInUsers(proxy.base, 2, 64));
  figure('graphgate', 'token, 64 sessions', await measure('graphgate token, 64 sessions', `${proxy.base}/api/auth/token`, { ...token, cookies: upTo64 }));
  const all = upTo64.concat(await signInUsers(proxy.base, 65, USERS));
  figure('graphgate', `token, ${USERS} sessions`, await measure(`graphgate token, ${USERS} sessions`, `${proxy.base}/api/auth/token`, { ...token, cookies: all }));
  figure('graphgate', `token, 1 session of ${USERS}`, await measure(`graphgate token, 1 session of ${USERS}`, `${proxy.base}/api/auth/token`, { ...token, cookies: one }));
  report.memory.graphgateSignedInKib = rssKib(proxy.pid);
  const refreshesBefore = await calls('token:refresh_token');
  const forced = await measure('graphgate forced refresh, 64 sessions', `${proxy.base}/api/auth/token`, {
    method: 'POST',
    body: '{"forceRefresh":true}',
    cookies: upTo64,
  });
  figure('graphgate', 'forced refresh, 64 sessions', forced);
  report.upstream.forcedRefreshes = (await calls('token:refresh_token')) - refreshesBefore;

  // From a cold cache (a restarted proxy, sessions in SQLite): 1,000 parallel requests of one session.
  await proxy.stop({ keepDir: true });
  proxy = track(await startProxy(emulator, proxyOptions));
  let before = await calls('token:refresh_token');
  const parallel = await Promise.all(
    Array.from({ length: 1000 }, () =>
      fetch(`${proxy.base}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-graphgate': '1', cookie: one[0] },
        body: '{}',
      }).then((r) => r.status),
    ),
  );
  report.upstream.perThousandTokenRequests = (await calls('token:refresh_token')) - before;
  report.upstream.tokenAnswers = parallel.filter((s) => s === 200).length;
  // 1,000 invitations from a cold app-only cache.
  await proxy.stop({ keepDir: true });
  proxy = track(await startProxy(emulator, proxyOptions));
  before = await calls('token:client_credentials');
  const invited = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      fetch(`${proxy.base}/api/invitations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-graphgate': '1', authorization: 'Bearer bench-api-key' },
        body: JSON.stringify({ email: `guest${i}@example.org` }),
      }).then((r) => r.status),
    ),
  );
  report.upstream.appTokensPerThousandInvitations = (await calls('token:client_credentials')) - before;
  report.upstream.invitationAnswers = invited.filter((s) => s === 200).length;
  await proxy.stop({ keepDir: true });

  // The floor with logging off.
  process.env.RUST_LOG = 'off';
  proxy = track(await startProxy(emulator, proxyOptions));
  figure('graphgate', '/healthz, logging off', await measure('graphgate /healthz, logging off', `${proxy.base}/healthz`));
  await proxy.stop({ keepDir: true });
  process.env.RUST_LOG = 'warn';

  // The cached-token figures again, with the Redis session store.
  report.redis = await redisFigures();

  // The emulator's own refresh rate, asked directly.
  const rt = await emulatorRefreshToken();
  const refreshForm = new URLSearchParams({
    grant_type: 'refresh_token',
    client_id: SANDBOX.clientId,
    client_secret: SANDBOX.secret,
    refresh_token: rt,
    scope: SCOPES.join(' '),
  }).toString();
  figure('emulator', 'refresh grant', await measure('emulator refresh grant', `${emu}/${SANDBOX.contoso}/oauth2/v2.0/token`, {
    method: 'POST',
    body: refreshForm,
    contentType: 'application/x-www-form-urlencoded',
  }));

  // The msal-node peer, the same figures.
  const peer = track(await startPeer());
  try {
    report.memory.peerIdleKib = rssKib(peer.pid);
    figure('msal-node', '/healthz', await measure('msal-node /healthz', `${peer.base}/healthz`));
    const p1 = await signInUsers(peer.base, 1, 1);
    figure('msal-node', 'token, 1 session', await measure('msal-node token, 1 session', `${peer.base}/api/auth/token`, { ...token, cookies: p1 }));
    report.memory.peerOneSessionKib = rssKib(peer.pid);
    // The peer is measured with MSAL's cache hitting, as a deployment of it would run: checked.
    const probe = await fetch(`${peer.base}/api/auth/token`, {
      method: 'POST',
      headers: { cookie: p1[0], 'content-type': 'application/json', 'x-graphgate': '1' },
      body: '{}',
    });
    const answer = await probe.json();
    if (answer.fromCache !== true) {
      throw new Error(`the msal-node peer's token did not come from MSAL's cache: ${probe.status} ${JSON.stringify(answer).slice(0, 200)}`);
    }
    report.peerFromCache = true;
    const p64 = p1.concat(await signInUsers(peer.base, 2, 64));
    figure('msal-node', 'token, 64 sessions', await measure('msal-node token, 64 sessions', `${peer.base}/api/auth/token`, { ...token, cookies: p64 }));
    const pAll = p64.concat(await signInUsers(peer.base, 65, USERS));
    figure('msal-node', `token, ${USERS} sessions`, await measure(`msal-node token, ${USERS} sessions`, `${peer.base}/api/auth/token`, { ...token, cookies: pAll }));
    figure('msal-node', `token, 1 session of ${USERS}`, await measure(`msal-node token, 1 session of ${USERS}`, `${peer.base}/api/auth/token`, { ...token, cookies: p1 }));
    report.memory.peerSignedInKib = rssKib(peer.pid);
    figure('msal-node', 'forced refresh, 64 sessions', await measure('msal-node forced refresh, 64 sessions', `${peer.base}/api/auth/token`, {
      method: 'POST',
      body: '{"forceRefresh":true}',
      cookies: p64,
    }));
  } finally {
    await peer.stop();
  }
  report.loadAfter = loadavg();
  const { markdown, svg } = renderReport(report);
  writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'report.md'), markdown);
  writeFileSync(join(out, 'chart.svg'), svg);
  console.log(`\n${markdown}\nwritten to ${out}`);
} finally {
  // The last started first: a proxy before the redis-server it uses.
  for (const server of [...live].reverse()) await server.stop({ keepDir: true });
  closeSync(proxyLog);
}

// Renders a bench run (bench/run.mjs's report object) as Markdown — the figures side by side,
// the Redis session store's beside SQLite's, the targets met or not, the settings, the machine and
// the load — and as an SVG bar chart of the same request rates.

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const ms = (us) => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
const mib = (kib) => (kib / 1024).toFixed(1);
/** KiB of RSS each session after the first adds: from `oneKib` (one session, served under load) to `allKib` (n). */
const kibPerSession = (allKib, oneKib, n) => (allKib - oneKib) / (n - 1);

/** The figure of `server` named `path`. */
const find = (report, server, path) => report.figures.find((f) => f.server === server && f.path === path);

/** The name of the Redis store's figure measured as SQLite's `path`. */
const redisPath = (path) => `${path} (Redis)`;
const isRedis = (f) => f.path.endsWith(' (Redis)');

/** The cached-token figures measured with both stores: [what, SQLite's path]. */
const storePaths = (n) => [
  ['1 session', 'token, 1 session'],
  [`${n} sessions`, `token, ${n} sessions`],
  [`1 session of ${n}`, `token, 1 session of ${n}`],
];

/** The paragraph comparing the Redis store with SQLite. */
function redisLine(report) {
  const r = report.redis;
  if (!r) return 'Redis session store: not measured in this run.';
  const n = report.settings.users;
  const ratios = storePaths(n).map(([what, path]) => {
    const sqlite = find(report, 'graphgate', path);
    const redis = find(report, 'graphgate', redisPath(path));
    return `${what} ${sqlite && redis && sqlite.rps > 0 ? `${(redis.rps / sqlite.rps).toFixed(2)}×` : '–'}`;
  });
  return (
    `Redis ÷ SQLite, cached token req/s: ${ratios.join(', ')} (a second graphgate-proxy with \`store = "redis"\`, ` +
    `redis-server ${r.version} on loopback without persistence; after ${n} sign-ins that proxy's RSS was ` +
    `${mib(r.proxySignedInKib)} MiB and redis-server's ${mib(r.serverKib)} MiB).`
  );
}

/** The targets, each with its measured value and whether it is met. */
function targets(report) {
  const n = report.settings.users;
  const g = (path) => find(report, 'graphgate', path);
  const healthz = g('/healthz');
  const one = g('token, 1 session');
  const many = g(`token, ${n} sessions`);
  const oneOfMany = g(`token, 1 session of ${n}`);
  const peerOne = find(report, 'msal-node', 'token, 1 session');
  const forced = g('forced refresh, 64 sessions');
  const emulator = find(report, 'emulator', 'refresh grant');
  const m = report.memory;
  const perSession = kibPerSession(m.graphgateSignedInKib, m.graphgateOneSessionKib, n) * 1024;
  const rows = [
    ['cached token, 1 session ≥ 0.8× /healthz', one.rps / healthz.rps, 0.8],
    [`cached token, ${n} sessions ≥ 0.8× /healthz`, many.rps / healthz.rps, 0.8],
    ['cached token, 1 session ≥ 20× the msal-node peer', one.rps / peerOne.rps, 20],
    [`1 session (of ${n} signed in) ≥ 0.9× ${n} sessions`, oneOfMany.rps / many.rps, 0.9],
    ['cached token p99 ≤ 1.5× /healthz p99 (64 sessions)', g('token, 64 sessions').p99_us / healthz.p99_us, 1.5, true],
    ['forced refresh ≥ 0.9× the emulator’s own refresh rate', forced.rps / emulator.rps, 0.9],
  ].map(([what, value, bound, atMost]) => ({
    what,
    value: Number.isFinite(value) ? `${value.toFixed(2)}×` : '–',
    met: Number.isFinite(value) && (atMost ? value <= bound : value >= bound),
  }));
  rows.push(
    { what: 'idle RSS ≤ 20 MiB', value: `${mib(m.graphgateIdleKib)} MiB`, met: m.graphgateIdleKib <= 20 * 1024 },
    { what: 'RSS per signed-in session ≤ 4 KiB', value: `${(perSession / 1024).toFixed(2)} KiB`, met: perSession <= 4096 },
    {
      what: '1 upstream refresh per 1,000 parallel token requests of a session (cold cache)',
      value: `${report.upstream.perThousandTokenRequests} (${report.upstream.tokenAnswers} answered 200)`,
      met: report.upstream.perThousandTokenRequests === 1,
    },
    {
      what: '1 app-only token per 1,000 invitations (cold cache)',
      value: `${report.upstream.appTokensPerThousandInvitations} (${report.upstream.invitationAnswers} answered 200)`,
      met: report.upstream.appTokensPerThousandInvitations === 1,
    },
  );
  return rows;
}

/** The report as Markdown. */
function markdown(report) {
  const n = report.settings.users;
  const paths = [
    '/healthz',
    '/healthz, logging off',
    'token, 1 session',
    redisPath('token, 1 session'),
    'token, 64 sessions',
    `token, ${n} sessions`,
    redisPath(`token, ${n} sessions`),
    `token, 1 session of ${n}`,
    redisPath(`token, 1 session of ${n}`),
    'forced refresh, 64 sessions',
  ].filter((path) => !path.endsWith(' (Redis)') || find(report, 'graphgate', path));
  const redisMeasured = report.figures.some(isRedis);
  const cell = (f) => (f ? `${fmt(f.rps)} | ${ms(f.p50_us)} | ${ms(f.p99_us)}` : '– | – | –');
  const lines = [
    `# graphgate bench${report.quick ? ' (quick smoke run: the numbers mean little)' : ''}`,
    '',
    `${report.date} · ${report.machine} · load average before ${report.loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${report.loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
    '',
    `wrk, ${report.settings.connections} connections, 2 threads, ${report.settings.seconds} s per figure after a ${report.settings.warmup} s warm-up; graphgate-proxy (SQLite store, log at info${redisMeasured ? '; the rows marked Redis from a second graphgate-proxy with the Redis store' : ''}), the msal-node peer (Express 5, express-session, @azure/msal-node) and graphgate-emulator on the same machine, in the same run.`,
    '',
    '| figure | graphgate req/s | p50 ms | p99 ms | msal-node req/s | p50 ms | p99 ms | graphgate ÷ msal-node |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const path of paths) {
    const g = find(report, 'graphgate', path);
    const p = find(report, 'msal-node', path);
    const ratio = g && p && p.rps > 0 ? `${(g.rps / p.rps).toFixed(1)}×` : '–';
    lines.push(`| ${path} | ${cell(g)} | ${cell(p)} | ${ratio} |`);
  }
  const e = find(report, 'emulator', 'refresh grant');
  lines.push(`| the emulator's refresh grant, asked directly | ${cell(e)} | | | | |`);
  const m = report.memory;
  lines.push(
    '',
    redisLine(report),
    '',
    report.peerFromCache
      ? 'The msal-node peer\'s token answers came from MSAL\'s cache (`acquireTokenSilent` answered `fromCache: true`, checked in this run).'
      : 'The msal-node peer was not measured.',
    '',
    '| memory (RSS) | graphgate | msal-node |',
    '| --- | ---: | ---: |',
    `| idle | ${mib(m.graphgateIdleKib)} MiB | ${mib(m.peerIdleKib)} MiB |`,
    `| after 1 sign-in and its load | ${mib(m.graphgateOneSessionKib)} MiB | ${mib(m.peerOneSessionKib)} MiB |`,
    `| after ${n} sign-ins | ${mib(m.graphgateSignedInKib)} MiB | ${mib(m.peerSignedInKib)} MiB |`,
    `| per session (the ${n - 1} after the first) | ${kibPerSession(m.graphgateSignedInKib, m.graphgateOneSessionKib, n).toFixed(2)} KiB | ${kibPerSession(m.peerSignedInKib, m.peerOneSessionKib, n).toFixed(2)} KiB |`,
    '',
    `Upstream: ${report.upstream.forcedRefreshes} refreshes reached the emulator for the forced-refresh figure.`,
    '',
    '## Targets',
    '',
    '| target | measured | met |',
    '| --- | ---: | :---: |',
    ...targets(report).map((t) => `| ${t.what} | ${t.value} | ${t.met ? 'yes' : 'no'} |`),
    '',
    '## Settings',
    '',
    `graphgate-proxy ran with these settings added, so that the bench measures the proxy and not a limiter: \`${report.settings.graphgate.join('; ')}\`. ${n} users were signed in to each server without a browser (bench/sign-in.mjs).`,
    '',
  );
  return lines.join('\n');
}

/** The request rates as a horizontal bar chart, each Redis store figure under SQLite's. */
function svg(report) {
  const measured = report.figures.filter((f) => f.rps > 0);
  const rows = measured
    .filter((f) => !isRedis(f))
    .flatMap((f) => [f, ...measured.filter((r) => isRedis(r) && r.server === f.server && r.path === redisPath(f.path))]);
  rows.push(...measured.filter((f) => !rows.includes(f)));
  const max = Math.max(...rows.map((f) => f.rps));
  const width = 860;
  const label = 300;
  const bar = 22;
  const height = 40 + rows.length * (bar + 8);
  const colour = { graphgate: '#2b6cb0', 'msal-node': '#c05621', emulator: '#718096' };
  const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="8" y="20" font-size="14">Requests per second (${esc(report.date)})</text>`,
  ];
  rows.forEach((f, i) => {
    const y = 36 + i * (bar + 8);
    const w = Math.max(1, ((width - label - 90) * f.rps) / max);
    parts.push(
      `<text x="8" y="${y + 15}">${esc(`${f.server}: ${f.path}`)}</text>`,
      `<rect x="${label}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${isRedis(f) ? '#4fa3d9' : (colour[f.server] ?? '#999')}"/>`,
      `<text x="${(label + w + 6).toFixed(1)}" y="${y + 15}">${fmt(f.rps)}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** Both renderings of `report`. */
export function renderReport(report) {
  return { markdown: markdown(report), svg: svg(report) };
}

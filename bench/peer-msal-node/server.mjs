// The incumbent graphgate-proxy is measured against, written as Microsoft's Node samples write a
// web app's token backend: Express 5, express-session (its in-memory store) and one
// ConfidentialClientApplication with MSAL's in-memory token cache. Sign-in redeems the code with
// acquireTokenByCode; the token route calls acquireTokenSilent with the account kept in the
// session. It serves the routes graphgate-proxy serves, with the same bodies, so one scripted
// sign-in and one load generator drive both.
//
// Configured by the environment: EMU_BASE (the login base), TENANT, CLIENT_ID, CLIENT_SECRET,
// REDIRECT_URI, SCOPES (comma-separated), PORT (0 picks one), and NODE_EXTRA_CA_CERTS for the
// emulator's CA. Prints `listening on http://127.0.0.1:<port>` once it accepts connections.
import express from 'express';
import session from 'express-session';
import { ConfidentialClientApplication, CryptoProvider, LogLevel } from '@azure/msal-node';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const base = env('EMU_BASE');
const tenant = env('TENANT');
const redirectUri = env('REDIRECT_URI');
const scopes = env('SCOPES', 'User.Read,Mail.Send').split(',');

const cca = new ConfidentialClientApplication({
  auth: {
    clientId: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
    authority: `${base}/${tenant}`,
    knownAuthorities: [new URL(base).host],
  },
  system: { loggerOptions: { logLevel: LogLevel.Warning, piiLoggingEnabled: false } },
});
const crypto = new CryptoProvider();

const app = express();
app.disable('x-powered-by');
app.use(express.json());
app.use(
  session({
    secret: crypto.createNewGuid(),
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: false },
  }),
);

/** The answer graphgate-proxy gives for a token, from MSAL's AuthenticationResult. */
function tokenAnswer(result) {
  const expiresOn = Math.floor(result.expiresOn.getTime() / 1000);
  return {
    accessToken: result.accessToken,
    expiresOn,
    expiresIn: Math.max(0, expiresOn - Math.floor(Date.now() / 1000)),
    scopes: result.scopes,
    account: result.account,
    fromCache: result.fromCache,
  };
}

const fail = (res, status, error, message) => res.status(status).json({ error, message });

app.get('/healthz', (_req, res) => res.type('text').send('ok'));

app.get('/api/config', (_req, res) =>
  res.json({ clientId: env('CLIENT_ID'), tenant, authority: `${base}/${tenant}`, redirectUris: [redirectUri], defaultScopes: scopes }),
);

app.post('/api/auth/begin', async (req, res) => {
  const { verifier, challenge } = await crypto.generatePkceCodes();
  const state = crypto.createNewGuid();
  const nonce = crypto.createNewGuid();
  req.session.pending = { ...(req.session.pending ?? {}), [state]: { verifier, nonce } };
  res.json({ state, nonce, codeChallenge: challenge, codeChallengeMethod: 'S256', expiresIn: 600 });
});

app.post('/api/auth/exchange', async (req, res) => {
  const { code, state } = req.body ?? {};
  const pending = req.session.pending?.[state];
  if (!code || !pending) return fail(res, 400, 'sign_in_unknown', 'no sign-in waiting for this state');
  delete req.session.pending[state];
  try {
    const result = await cca.acquireTokenByCode({
      code,
      scopes,
      redirectUri,
      codeVerifier: pending.verifier,
      nonce: pending.nonce,
      state,
    });
    req.session.homeAccountId = result.account.homeAccountId;
    res.json(tokenAnswer(result));
  } catch (e) {
    fail(res, 502, e.errorCode ?? 'upstream_error', e.message);
  }
});

app.post('/api/auth/token', async (req, res) => {
  const homeAccountId = req.session.homeAccountId;
  if (!homeAccountId) return fail(res, 401, 'not_signed_in', 'no session');
  const account = await cca.getTokenCache().getAccountByHomeId(homeAccountId);
  if (!account) return fail(res, 401, 'not_signed_in', 'the account is not in the token cache');
  const wanted = req.body?.scopes?.length ? req.body.scopes : scopes;
  try {
    const result = await cca.acquireTokenSilent({ account, scopes: wanted, forceRefresh: Boolean(req.body?.forceRefresh) });
    res.json(tokenAnswer(result));
  } catch (e) {
    fail(res, 401, e.errorCode ?? 'interaction_required', e.message);
  }
});

app.get('/api/auth/session', async (req, res) => {
  const homeAccountId = req.session.homeAccountId;
  const account = homeAccountId && (await cca.getTokenCache().getAccountByHomeId(homeAccountId));
  if (!account) return fail(res, 401, 'not_signed_in', 'no session');
  res.json({ account, scopes });
});

app.post('/api/auth/logout', async (req, res) => {
  const homeAccountId = req.session.homeAccountId;
  const account = homeAccountId && (await cca.getTokenCache().getAccountByHomeId(homeAccountId));
  if (account) await cca.getTokenCache().removeAccount(account);
  req.session.destroy(() => res.json({ logoutUrl: `${base}/${tenant}/oauth2/v2.0/logout` }));
});

const server = app.listen(Number(env('PORT', '0')), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));

// The test page: Microsoft's @azure/msal-browser, configured as its documentation says for a
// single-page app, against graphgate-emulator. Bundled by esbuild with EMU_BASE and TENANT
// defined; msal-browser.test.mjs drives it through window.t and the page's buttons.
import { CacheLookupPolicy, LogLevel, PublicClientApplication } from '@azure/msal-browser';

const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';
const SCOPES = ['User.Read'];
const logs = [];

const pca = new PublicClientApplication({
  auth: {
    clientId: CLIENT_ID,
    authority: `${EMU_BASE}/${TENANT}`,
    knownAuthorities: [new URL(EMU_BASE).host],
    redirectUri: `${location.origin}/spa`,
  },
  cache: { cacheLocation: 'sessionStorage' },
  system: {
    loggerOptions: {
      logLevel: LogLevel.Verbose,
      piiLoggingEnabled: false,
      loggerCallback: (_level, message) => logs.push(message),
    },
  },
});

/** What the test reads of an authentication result (plain data, for page.evaluate). */
function summary(result) {
  if (!result) return null;
  const { homeAccountId, username, name, tenantId, localAccountId } = result.account;
  return {
    account: { homeAccountId, username, name, tenantId, localAccountId },
    accessToken: result.accessToken,
    scopes: result.scopes,
    fromCache: result.fromCache,
    idTokenClaims: { oid: result.idTokenClaims.oid, tid: result.idTokenClaims.tid },
  };
}

/** An error as plain data. */
function failure(e) {
  return { error: true, errorCode: e?.errorCode ?? '', subError: e?.subError ?? '', message: String(e?.message ?? e) };
}

const settle = (promise) => promise.then(summary, failure);

function account() {
  const all = pca.getAllAccounts();
  if (all.length !== 1) throw new Error(`expected one account, found ${all.length}`);
  return all[0];
}

window.t = {
  logs,
  /** Resolves when msal-browser has started and handled a redirect back to the page, if any. */
  ready: pca.initialize().then(() => settle(pca.handleRedirectPromise())),
  loginRedirect: (loginHint) => pca.loginRedirect({ scopes: SCOPES, loginHint }),
  silent: () => settle(pca.acquireTokenSilent({ scopes: SCOPES, account: account() })),
  forced: () => settle(pca.acquireTokenSilent({ scopes: SCOPES, account: account(), forceRefresh: true })),
  /** Only through the refresh token: no hidden-iframe fallback, so the server's answer shows. */
  refreshOnly: () =>
    settle(
      pca.acquireTokenSilent({
        scopes: SCOPES,
        account: account(),
        forceRefresh: true,
        cacheLookupPolicy: CacheLookupPolicy.RefreshToken,
      }),
    ),
  /** Graph's /me with a token, from the page. */
  me: async (token) => {
    const res = await fetch(`${EMU_BASE}/v1.0/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  },
  popup: null,
};

// A popup must be opened by a click; the test reads the outcome from window.t.popup.
document.getElementById('popup').addEventListener('click', () => {
  window.t.popup = settle(
    pca.loginPopup({ scopes: SCOPES, redirectUri: `${location.origin}/spa/redirect`, prompt: 'select_account' }),
  );
});

// A standard OpenID provider, panva's oidc-provider (OpenID Certified), served on Entra's paths
// over HTTPS, for graphgate-proxy's tests: its own issuer `{base}/{tenant}` (not Entra's
// `…/v2.0`), ID tokens without `tid` or `oid`, a client with a secret, refresh tokens rotated at
// every use, and a fixed account signed in without a page. Run alone, it prints its address and
// the path of its certificate (for `entra.extra_ca_file`).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

/** The one account that signs in. */
export const ACCOUNT = {
  sub: 'ada-lovelace',
  name: 'Ada Lovelace',
  email: 'ada@contoso.example',
  preferred_username: 'ada@contoso.example',
};

/** The delegated scopes the provider knows besides OpenID Connect's (the proxy's defaults). */
const API_SCOPES = ['User.Read', 'Mail.Read', 'Mail.Send', 'Tasks.Read'];

/**
 * A self-signed certificate for 127.0.0.1 and localhost (CA:FALSE, so it is trusted as itself:
 * rustls refuses a CA certificate as a server's), made with the openssl command line.
 */
function certificate(dir) {
  const config = join(dir, 'openssl.cnf');
  writeFileSync(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = ext',
      'prompt = no',
      '[dn]',
      'CN = graphgate oidc-provider test',
      '[ext]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1, DNS:localhost',
      '',
    ].join('\n'),
  );
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  args.push('-days', '2', '-config', config, '-keyout', keyFile, '-out', certFile);
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(`openssl could not make the test certificate: ${e.stderr ?? e.message}`);
  }
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), caFile: certFile };
}

/**
 * Starts the provider on a free loopback port. Resolves to
 * `{ base, issuer, caFile, ca, tenant, stats, stop }`: `base` is what graphgate's `login_base`
 * (and `graph_base`) is set to, `caFile` its certificate, `stats` what the provider saw (token
 * calls by grant type, refresh tokens issued and consumed).
 */
export async function startOidcProvider({ tenant, clientId, clientSecret, redirectUris }) {
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-oidc-'));
  const tls = certificate(dir);
  const stats = { tokenCalls: 0, grants: {}, errors: [], refreshIssued: [], refreshConsumed: [] };
  let handler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => handler(req, res));
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const base = `https://127.0.0.1:${server.address().port}`;
  const prefix = `/${tenant}`;
  const issuer = `${base}${prefix}`;

  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    // Entra's paths under the issuer; discovery is rewritten to `/v2.0/.well-known/…` below.
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      jwks: '/discovery/v2.0/keys',
      end_session: '/oauth2/v2.0/logout',
      userinfo: '/oidc/userinfo',
    },
    // Graph's application scope for app-only calls is `{graph}/.default`, and graph_base is `base`.
    scopes: ['openid', 'offline_access', 'profile', 'email', ...API_SCOPES, `${base}/.default`],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
    // The profile claims in the ID token, as Entra puts them there.
    conformIdTokenClaims: false,
    jwks: { keys: [{ ...signing, kid: 'oidc-provider-test', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
    },
    rotateRefreshToken: true,
    // Entra's lifetimes, roughly: an hour for access and ID tokens, 90 days for refresh tokens.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      ClientCredentials: 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 90 * 86400,
      Grant: 90 * 86400,
      Session: 86400,
    },
    interactions: { url: (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      if (sub !== ACCOUNT.sub) return undefined;
      return { accountId: sub, claims: async () => ({ ...ACCOUNT }) };
    },
  });
  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params.grant_type;
    stats.grants[type] = (stats.grants[type] ?? 0) + 1;
  });
  provider.on('grant.error', (_ctx, error) => stats.errors.push(`${error.error}: ${error.error_description}`));
  provider.on('refresh_token.saved', (token) => stats.refreshIssued.push(token.jti));
  provider.on('refresh_token.consumed', (token) => stats.refreshConsumed.push(token.jti));
  const callback = provider.callback();

  // Signs the fixed account in and grants whatever is asked: the page a user would click through.
  async function interact(req, res) {
    const { prompt, params, session, grantId } = await provider.interactionDetails(req, res);
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: ACCOUNT.sub } };
    } else {
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }

  handler = (req, res) => {
    const url = new URL(req.url, base);
    if (!url.pathname.startsWith(`${prefix}/`)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    let path = url.pathname.slice(prefix.length);
    if (path === '/v2.0/.well-known/openid-configuration') path = '/.well-known/openid-configuration';
    if (path === '/oauth2/v2.0/token' && req.method === 'POST') stats.tokenCalls += 1;
    // oidc-provider keeps offline_access only when consent is asked for; Entra needs no prompt.
    const scope = url.searchParams.get('scope')?.split(' ') ?? [];
    if (path === '/oauth2/v2.0/authorize' && scope.includes('offline_access') && !url.searchParams.has('prompt')) {
      url.searchParams.set('prompt', 'consent');
    }
    if (path.startsWith('/interaction/')) {
      interact(req, res).catch((e) => {
        res.statusCode = 400;
        res.end(String(e.message));
      });
      return;
    }
    // Mounted at the issuer's path: the provider sees its own routes, and builds its URLs with
    // the prefix it was mounted at.
    req.originalUrl = `${prefix}${path}${url.search}`;
    req.url = `${path}${url.search}`;
    callback(req, res);
  };

  const stop = async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    rmSync(dir, { recursive: true, force: true });
  };
  return { base, issuer, caFile: tls.caFile, ca: tls.cert, tenant, stats, stop };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { SANDBOX } = await import('../harness/stack.mjs');
  const op = await startOidcProvider({
    tenant: SANDBOX.contoso,
    clientId: SANDBOX.clientId,
    clientSecret: SANDBOX.secret,
    redirectUris: process.argv.slice(2).length ? process.argv.slice(2) : ['http://localhost:8080/'],
  });
  console.log(`oidc-provider listening on ${op.base} (issuer ${op.issuer}, certificate ${op.caFile})`);
  const stop = () => op.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

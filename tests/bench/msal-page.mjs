// The yardstick page of tests/bench/startup.mjs: @azure/msal-browser booting as a page signed
// out boots (construct, initialize, handle the redirect), then marking `msal-ready`.
import { PublicClientApplication } from '@azure/msal-browser';

// Replaced by esbuild (`define`) with the emulator's app and authority.
const config = MSAL_BENCH_CONFIG;

async function boot() {
  const pca = new PublicClientApplication({
    auth: { clientId: config.clientId, authority: config.authority, knownAuthorities: config.knownAuthorities },
  });
  await pca.initialize();
  const back = await pca.handleRedirectPromise();
  performance.mark('msal-ready');
  document.body.dataset.state = back ? 'signed-in' : 'signed-out';
}

boot();

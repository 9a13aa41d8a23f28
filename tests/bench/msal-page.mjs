// The yardstick page of tests/bench/startup.mjs: @azure/msal-browser's start-up on a signed-out
// page (construct, initialize, handle the redirect), then the performance mark `msal-ready`.
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

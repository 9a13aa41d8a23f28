// The graphgate page of tests/bench/startup.mjs, the twin of msal-page.mjs: the npm package's
// start-up on a signed-out page (create the client, handle the redirect), then the mark
// `graphgate-page-ready`.
import { createClient } from 'graphgate';

// Replaced by esbuild (`define`) with what the page's proxy says in `GET /api/config`.
const config = GRAPHGATE_BENCH_CONFIG;

async function boot() {
  const client = await createClient(config);
  const back = await client.handleRedirect();
  performance.mark('graphgate-page-ready');
  document.body.dataset.state = back ? 'signed-in' : 'signed-out';
}

boot();

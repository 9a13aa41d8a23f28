// msal-browser 5's redirect bridge, as its documentation sets it up: a page of its own that is the
// popup's redirect URI (registered as `spa`), served without Cross-Origin-Opener-Policy, which
// hands the authorization response back to the page that opened the popup and closes it.
import { broadcastResponseToMainFrame } from '@azure/msal-browser/redirect-bridge';

broadcastResponseToMainFrame().catch((e) => {
  document.body.textContent = `redirect bridge: ${e?.errorCode ?? ''} ${e?.message ?? e}`;
});

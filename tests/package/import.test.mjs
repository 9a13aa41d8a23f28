// The npm package where there is no page (Node, server-side rendering): importing it works and
// loads nothing; creating a client there fails with a clear, typed error.
import assert from 'node:assert/strict';
import { test } from 'node:test';

for (const target of ['web', 'bundler']) {
  test(`the ${target} build imports without a window and refuses to sign in there`, async () => {
    const pkg = await import(new URL(`../../target/npm/${target}/index.js`, import.meta.url));
    assert.equal(typeof pkg.createClient, 'function');
    assert.equal(typeof pkg.createClientFromProxy, 'function');
    assert.equal(pkg.inSignInPopup(), false);
    const options = {
      clientId: '6731de76-14a6-49ae-97bc-6eba6914391e',
      tenant: 'common',
      loginBaseUrl: 'https://login.microsoftonline.com',
      graphBaseUrl: 'https://graph.microsoft.com/v1.0',
    };
    for (const attempt of [() => pkg.createClient(options), () => pkg.createClientFromProxy('https://app.example.com')]) {
      await assert.rejects(attempt(), (e) => {
        assert.ok(e instanceof pkg.GraphgateError, 'a GraphgateError');
        assert.equal(e.code, 'browser_required');
        assert.match(e.message, /browser/);
        return true;
      });
    }
  });
}

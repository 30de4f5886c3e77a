import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { UI_CSP, UI_DIR, registerUi } from '../../../src/http/ui';

describe('the analyst page (GET /ui/)', () => {
  let app: FastifyInstance;
  before(() => {
    app = Fastify();
    registerUi(app);
  });
  after(() => app.close());

  it('redirects /ui to /ui/ and serves the page with a strict CSP and no-cache', async () => {
    const redirect = await app.inject('/ui');
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, 'ui/');
    const page = await app.inject('/ui/');
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.equal(page.headers['content-security-policy'], UI_CSP);
    assert.match(UI_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(UI_CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(page.body, fs.readFileSync(path.join(UI_DIR, 'index.html'), 'utf8'));
  });

  it('serves the script and the stylesheet with their types, and nothing else', async () => {
    const js = await app.inject('/ui/app.js');
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    const css = await app.inject('/ui/style.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    for (const url of ['/ui/nope.js', '/ui/..%2Fpackage.json', '/ui/%2E%2E%2Fsrc%2Fpaths.ts']) {
      assert.equal((await app.inject(url)).statusCode, 404, url);
    }
  });

  it('the page has no inline script or style (the CSP would block them)', () => {
    const html = fs.readFileSync(path.join(UI_DIR, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every <script> has a src');
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
    assert.doesNotMatch(html, /\sstyle=/i, 'no style attributes');
    assert.doesNotMatch(
      fs.readFileSync(path.join(UI_DIR, 'app.js'), 'utf8'),
      /\.innerHTML\s*=|insertAdjacentHTML/,
    );
  });

  it('answers a revalidation with 304 while the file is unchanged', async () => {
    const first = await app.inject('/ui/app.js');
    const etag = first.headers.etag as string;
    assert.ok(etag);
    const again = await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
  });
});

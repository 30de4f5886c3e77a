import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageRoot } from '../paths';

/**
 * The analyst page (src/ui: index.html, app.js, style.css), served as is under /ui/. The files stay
 * in src/ui (the TypeScript build does not copy them), found from the package root both from src/
 * (tsx) and dist/src/ (package.json `files` ships them). The page holds no data: it calls the
 * investigation API (/v1/decisions, /v1/sessions) with the analyst's bearer token.
 */
export const UI_DIR = path.join(packageRoot(__dirname), 'src', 'ui');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Scripts and styles only from the page's own files (no inline script, no eval), data only from the
 * same origin, never framed. The chart is built with DOM calls, so it needs no inline style either.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Reads the page's files once; they are small and do not change while the engine runs. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of fs.readdirSync(dir)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (type === undefined) continue;
    const body = fs.readFileSync(path.join(dir, name));
    const etag = `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, type, etag });
  }
  if (!assets.has('index.html')) throw new Error(`risk-stream: no index.html in ${dir}`);
  return assets;
}

function send(reply: FastifyReply, asset: Asset, ifNoneMatch: string | undefined): FastifyReply {
  reply
    .header('content-type', asset.type)
    // Revalidated on every load (cheap with the ETag), so an upgraded engine serves its own page.
    .header('cache-control', 'no-cache')
    .header('etag', asset.etag)
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  if (ifNoneMatch === asset.etag) return reply.code(304).send();
  return reply.send(asset.body);
}

/**
 * GET /ui/ (the page), GET /ui/<file> (its assets). GET /ui redirects to `ui/`, relative, so the page
 * also works behind a proxy that adds a path prefix (the page calls the API relative to itself too).
 */
export function registerUi(app: FastifyInstance, dir: string = UI_DIR): void {
  const assets = loadAssets(dir);
  const index = assets.get('index.html') as Asset;
  app.get('/ui', (_req, reply) => reply.redirect('ui/', 302));
  app.get('/ui/', (req, reply) => send(reply, index, req.headers['if-none-match']));
  app.get<{ Params: { file: string } }>('/ui/:file', (req, reply) => {
    const asset = assets.get(req.params.file);
    if (asset === undefined) {
      return reply.code(404).send({ error: 'NOT_FOUND', message: `no ${req.params.file} in the page` });
    }
    return send(reply, asset, req.headers['if-none-match']);
  });
}

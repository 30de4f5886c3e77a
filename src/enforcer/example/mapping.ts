import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientInfo } from '../../contract';
import { DEFAULT_INPUT_LIMITS, MAX_ASN } from '../../ingest/validate';

/**
 * Pure parts of the example proxy: which SessionAction a request to the toy app is, and what the
 * client looks like. No I/O, so they are table-tested.
 */

/** What a request does, as far as its route tells (step-up and login are known only from the response). */
export interface RouteAction {
  action: string;
  resource: string | null;
  records: number | null;
}

/** Where the toy app checks step-up codes. */
export const STEP_UP_PATH = '/step-up';
/** Where the toy app logs users in (the session appears only in its answer). */
export const LOGIN_PATH = '/login';

/**
 * The route table of the toy app. Unknown routes are `view` (GET, HEAD) or `update`.
 *
 * `path` is the URL's pathname, still percent-encoded. It is matched the way the app's router
 * matches it: per segment, each segment decoded (`/%65xport` is the export route, `/approve/a%2Fb`
 * approves `a/b`); matching the encoded text would let `/%65xport` through as a mere `view`.
 */
export function routeAction(method: string, path: string, query: URLSearchParams): RouteAction {
  const m = method.toUpperCase();
  const segs = path.split('/').map(safeDecode);
  const is = (...names: string[]) =>
    segs.length === names.length + 1 && names.every((n, i) => segs[i + 1] === n);
  if (m === 'GET' && is('export')) {
    const rows = Number(query.get('rows') ?? '100');
    return {
      action: 'export',
      resource: 'records',
      records: Number.isSafeInteger(rows) && rows >= 0 ? rows : null,
    };
  }
  if (m === 'GET' && is('records')) return { action: 'view', resource: 'records', records: null };
  if (m === 'POST' && segs.length === 3 && segs[1] === 'approve' && segs[2] !== '') {
    return { action: 'approve', resource: segs[2]!, records: null };
  }
  if (m === 'POST' && is('admin', 'config'))
    return { action: 'config_change', resource: 'config', records: null };
  // Known only once the app answered: the proxy publishes step_up_passed / step_up_failed.
  if (m === 'POST' && is(STEP_UP_PATH.slice(1))) return { action: 'step_up', resource: null, records: null };
  if (m === 'POST' && is('logout')) return { action: 'logout', resource: null, records: null };
  if (m === 'POST' && is(LOGIN_PATH.slice(1))) return { action: 'login', resource: null, records: null };
  return { action: m === 'GET' || m === 'HEAD' ? 'view' : 'update', resource: path, records: null };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it is. */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * The hops whose X-Forwarded-For and edge headers (x-ja4, x-client-*) are believed: addresses or
 * CIDRs. Everything else is the client itself, whatever headers it sends.
 */
export function trustList(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const family = isIP(addr ?? '');
    if (family === 0) throw new RangeError(`trusted proxy ${JSON.stringify(e)} is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return (ip) => {
    const p = plainIp(ip);
    const family = isIP(p);
    return family !== 0 && list.check(p, family === 4 ? 'ipv4' : 'ipv6');
  };
}

const header = (h: IncomingHttpHeaders, name: string): string | null => {
  const v = h[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? null : s.trim();
};
const cap = (s: string | null, max: number) => (s === null ? null : s.slice(0, max));

function num(s: string | null, min: number, max: number, integer: boolean): number | null {
  if (s === null) return null;
  const n = Number(s);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) return null;
  return n;
}

/**
 * The client part of a SessionAction. `ip` is the address fastify resolved (the socket, or the
 * X-Forwarded-For entry of the nearest untrusted hop); the edge headers (`x-ja4` from a
 * TLS-terminating edge, `x-client-asn/country/lat/lon` from a CDN) count only when the request came
 * straight from a trusted hop, since a client could set them too. Values are capped at the engine's
 * input limits; malformed numbers and countries become null.
 */
export function clientInfo(
  ip: string,
  headers: IncomingHttpHeaders,
  fromTrustedHop: boolean,
  limits = DEFAULT_INPUT_LIMITS,
): ClientInfo {
  const edge = (name: string) => (fromTrustedHop ? header(headers, name) : null);
  const country = edge('x-client-country')?.toUpperCase() ?? null;
  return {
    ip: plainIp(ip),
    asn: num(edge('x-client-asn'), 0, MAX_ASN, true),
    country: country !== null && /^[A-Z]{2}$/.test(country) ? country : null,
    lat: num(edge('x-client-lat'), -90, 90, false),
    lon: num(edge('x-client-lon'), -180, 180, false),
    user_agent: (header(headers, 'user-agent') ?? '').slice(0, limits.maxUserAgentChars),
    ja4: cap(edge('x-ja4'), limits.maxJa4Chars),
    device_id: cap(header(headers, 'x-device-id'), limits.maxDeviceIdChars),
    accept_language: cap(header(headers, 'accept-language'), limits.maxAcceptLanguageChars),
  };
}

/** The parts of a client whose change mid-session makes the proxy ask the engine inline. */
export function fingerprint(c: ClientInfo): string {
  return JSON.stringify([c.ip, c.user_agent, c.ja4, c.device_id]);
}

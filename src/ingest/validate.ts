import { isIP } from 'node:net';
import type { ClientInfo, DeadLetterCode, PrincipalType, SessionAction } from '../contract';
import { PRINCIPAL_TYPES } from '../contract';

/** Bounds on input values: a record outside them is dead-lettered, never scored or stored. */
export interface InputLimits {
  /** Oldest accepted event time, relative to now. Large, so recorded traffic can be replayed. @default 400 days */
  maxPastMs: number;
  /** Latest accepted event time, relative to now (clock skew between producers). @default 5 minutes */
  maxFutureMs: number;
  /** event_id, session_id, user_id. @default 128 */
  maxIdChars: number;
  /** app, action. @default 64 */
  maxNameChars: number;
  /** @default 512 */
  maxResourceChars: number;
  /** @default 2048 */
  maxUserAgentChars: number;
  /** @default 64 */
  maxJa4Chars: number;
  /** @default 128 */
  maxDeviceIdChars: number;
  /** @default 256 */
  maxAcceptLanguageChars: number;
}

export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxPastMs: 400 * 86_400_000,
  maxFutureMs: 5 * 60_000,
  maxIdChars: 128,
  maxNameChars: 64,
  maxResourceChars: 512,
  maxUserAgentChars: 2048,
  maxJa4Chars: 64,
  maxDeviceIdChars: 128,
  maxAcceptLanguageChars: 256,
});

/** The longest textual IPv6 address (IPv4-mapped, fully written out). */
export const MAX_IP_CHARS = 45;
/** The Avro schema carries asn as a 32-bit signed int, so JSON input is held to the same bound. */
export const MAX_ASN = 2_147_483_647;
export const MAX_RECORDS = 1_000_000_000;

export type ValidationResult =
  { ok: true; action: SessionAction } | { ok: false; code: DeadLetterCode; reason: string };

class Reject {
  constructor(
    readonly code: DeadLetterCode,
    readonly reason: string,
  ) {}
}

function reject(code: DeadLetterCode, reason: string): never {
  throw new Reject(code, reason);
}

/** A bounded rendering of an offending value: reasons must stay short even for a 1 MB string. */
function show(v: unknown): string {
  if (typeof v === 'string')
    return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}...` : JSON.stringify(v);
  return String(v);
}

function kind(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string (${show(v)})`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${show(v)}`;
  return `${typeof v === 'object' ? 'an' : 'a'} ${typeof v}`;
}

// Own properties only: decoded records have them, and nothing must come from a prototype.
const hasOwn = Object.prototype.hasOwnProperty;

function get(obj: object, name: string): unknown {
  return hasOwn.call(obj, name) ? (obj as Record<string, unknown>)[name] : undefined;
}

function present(obj: object, path: string, name: string): unknown {
  const v = get(obj, name);
  if (v === undefined || v === null) reject('MISSING_FIELD', `${path} is missing`);
  return v;
}

function checkString(v: unknown, path: string, max: number): string {
  if (typeof v !== 'string') reject('WRONG_TYPE', `${path} is ${kind(v)}, expected a string`);
  if (v.length > max) reject('OVERSIZED', `${path} is ${v.length} chars, limit ${max}`);
  return v;
}

function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Ids and names are keys downstream (Redis, features): empty or control characters are garbage. */
function name(obj: object, path: string, field: string, max: number): string {
  const v = checkString(present(obj, path, field), path, max);
  if (v.length === 0) reject('INVALID_VALUE', `${path} is empty`);
  if (hasControl(v)) reject('INVALID_VALUE', `${path} contains control characters`);
  return v;
}

function optString(obj: object, path: string, field: string, max: number): string | null {
  const v = get(obj, field);
  return v === undefined || v === null ? null : checkString(v, path, max);
}

function optInt(obj: object, path: string, field: string, min: number, max: number): number | null {
  const v = get(obj, field);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v))
    reject('WRONG_TYPE', `${path} is ${kind(v)}, expected an integer`);
  if (v < min || v > max) reject('INVALID_VALUE', `${path} is ${v}, expected ${min}..${max}`);
  return v;
}

function optDegrees(obj: object, path: string, field: string, bound: number): number | null {
  const v = get(obj, field);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number') reject('WRONG_TYPE', `${path} is ${kind(v)}, expected a number`);
  if (!Number.isFinite(v) || v < -bound || v > bound) {
    reject('INVALID_VALUE', `${path} is ${v}, expected a finite number in [-${bound}, ${bound}]`);
  }
  return v;
}

function optBoolean(obj: object, path: string, field: string): boolean | null {
  const v = get(obj, field);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') reject('WRONG_TYPE', `${path} is ${kind(v)}, expected a boolean`);
  return v;
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const COUNTRY = /^[A-Z]{2}$/;
const PRINCIPALS: ReadonlySet<string> = new Set(PRINCIPAL_TYPES);

function client(obj: object, limits: InputLimits): ClientInfo {
  const c = present(obj, 'client', 'client');
  if (!isObject(c)) reject('WRONG_TYPE', `client is ${kind(c)}, expected an object`);
  const ip = checkString(present(c, 'client.ip', 'ip'), 'client.ip', MAX_IP_CHARS);
  if (isIP(ip) === 0) reject('INVALID_VALUE', `client.ip ${show(ip)} is not an IPv4 or IPv6 address`);
  const asn = optInt(c, 'client.asn', 'asn', 0, MAX_ASN);
  const country = optString(c, 'client.country', 'country', Number.POSITIVE_INFINITY);
  if (country !== null && !COUNTRY.test(country)) {
    reject(
      'INVALID_VALUE',
      `client.country ${show(country)} is not an ISO 3166-1 alpha-2 code (2 uppercase letters)`,
    );
  }
  return {
    ip,
    asn,
    country,
    lat: optDegrees(c, 'client.lat', 'lat', 90),
    lon: optDegrees(c, 'client.lon', 'lon', 180),
    user_agent: checkString(
      present(c, 'client.user_agent', 'user_agent'),
      'client.user_agent',
      limits.maxUserAgentChars,
    ),
    ja4: optString(c, 'client.ja4', 'ja4', limits.maxJa4Chars),
    device_id: optString(c, 'client.device_id', 'device_id', limits.maxDeviceIdChars),
    accept_language: optString(c, 'client.accept_language', 'accept_language', limits.maxAcceptLanguageChars),
  };
}

function fmtTime(ts: number): string {
  return Math.abs(ts) <= 8.64e15 ? new Date(ts).toISOString() : 'out of the Date range';
}

/**
 * Checks a SessionAction parsed from JSON or decoded from Avro and returns a fresh, normalised
 * copy: every nullable field present, unknown fields dropped. Avro guarantees the types but not
 * the values (sizes, ranges, enum-like strings), so both paths go through the same checks.
 * The first problem found is reported, naming the field.
 */
export function validateAction(obj: unknown, limits: InputLimits, now: number): ValidationResult {
  try {
    if (!isObject(obj)) reject('WRONG_TYPE', `record is ${kind(obj)}, expected an object`);
    const event_id = name(obj, 'event_id', 'event_id', limits.maxIdChars);
    const ts = present(obj, 'ts', 'ts');
    if (typeof ts !== 'number' || !Number.isInteger(ts)) {
      reject('WRONG_TYPE', `ts is ${kind(ts)}, expected an integer (epoch millis)`);
    }
    const session_id = name(obj, 'session_id', 'session_id', limits.maxIdChars);
    const user_id = name(obj, 'user_id', 'user_id', limits.maxIdChars);
    const principal = present(obj, 'principal_type', 'principal_type');
    if (typeof principal !== 'string')
      reject('WRONG_TYPE', `principal_type is ${kind(principal)}, expected a string`);
    if (!PRINCIPALS.has(principal)) {
      reject(
        'INVALID_VALUE',
        `principal_type ${show(principal)} is not one of ${PRINCIPAL_TYPES.join(', ')}`,
      );
    }
    const action: SessionAction = {
      event_id,
      ts,
      session_id,
      user_id,
      principal_type: principal as PrincipalType,
      app: name(obj, 'app', 'app', limits.maxNameChars),
      action: name(obj, 'action', 'action', limits.maxNameChars),
      resource: optString(obj, 'resource', 'resource', limits.maxResourceChars),
      records: optInt(obj, 'records', 'records', 0, MAX_RECORDS),
      mfa: optBoolean(obj, 'mfa', 'mfa'),
      client: client(obj, limits),
    };
    // Last: a record that is broken in structure should say so rather than report its time.
    if (ts > now + limits.maxFutureMs) {
      reject(
        'TS_OUT_OF_RANGE',
        `ts ${ts} (${fmtTime(ts)}) is more than ${limits.maxFutureMs} ms in the future`,
      );
    }
    if (ts < now - limits.maxPastMs) {
      reject('TS_OUT_OF_RANGE', `ts ${ts} (${fmtTime(ts)}) is more than ${limits.maxPastMs} ms in the past`);
    }
    return { ok: true, action };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, code: err.code, reason: err.reason };
    throw err;
  }
}

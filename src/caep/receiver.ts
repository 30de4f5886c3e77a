import Fastify from 'fastify';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import { CAEP_EVENT_PREFIX, SET_TYP } from './set';
import { SET_CONTENT_TYPE } from './push';

/**
 * A small RFC 8935 push receiver, to try the push path and to test the transmitter against: it
 * verifies each SET as a real receiver would (signature through the transmitter's JWKS, `typ`,
 * `iss`, `aud`, a fresh `jti`, one CAEP event with its required claims, a valid `sub_id`) and
 * answers 202, or 400 with `{err, description}` (RFC 8935 §2.3). Not meant to enforce anything.
 */

/** A SET the receiver accepted. */
export interface VerifiedSet {
  jti: string;
  iss: string;
  aud: string | string[];
  iat: number;
  txn: string | undefined;
  /** The event type URI. */
  event: string;
  /** That event's claims. */
  eventClaims: Record<string, unknown>;
  subId: Record<string, unknown>;
  header: ProtectedHeaderParameters;
  claims: JWTPayload;
  /** The compact JWS as received. */
  jws: string;
}

/** RFC 8935 §2.3 error codes. */
export type PushErrorCode =
  | 'invalid_request'
  | 'invalid_key'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'authentication_failed'
  | 'access_denied';

/** A push the receiver refused (4xx with an error object, or a 503 from failFirst). */
export interface RefusedPush {
  status: number;
  err: PushErrorCode | 'temporarily_unavailable';
  description: string;
}

/** What startCaepReceiver accepts, and from whom. */
export interface CaepReceiverOptions {
  /** The transmitter's JWKS, e.g. http://127.0.0.1:9464/.well-known/jwks.json */
  jwksUrl: string;
  /** The `iss` to accept. */
  issuer: string;
  /** The `aud` to accept. */
  audience: string;
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Answer 503 to the first N pushes (to exercise retries). @default 0 */
  failFirst?: number;
  /** When set, a push must carry exactly this Authorization header (else 401 authentication_failed). */
  authorization?: string;
}

/** A listening receiver and what it has seen. */
export interface RunningReceiver {
  /** Where to push: http://host:port/events */
  url: string;
  /** Accepted SETs, in arrival order. */
  received: VerifiedSet[];
  /** Refused pushes, in arrival order. */
  refused: RefusedPush[];
  /** Every POST so far, accepted or not. */
  readonly requests: number;
  close(): Promise<void>;
  /** Resolves with `received` once it holds at least n SETs; rejects after timeoutMs. */
  waitFor(n: number, timeoutMs: number): Promise<VerifiedSet[]>;
}

/** Required claims per CAEP 1.0 event type (the last part of its URI). */
const REQUIRED_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  'session-revoked': [],
  'assurance-level-change': ['namespace', 'current_level'],
  'risk-level-change': ['principal', 'current_level'],
  'credential-change': ['credential_type', 'change_type'],
  'token-claims-change': ['claims'],
  'device-compliance-change': ['previous_status', 'current_status'],
  'session-established': [],
  'session-presented': [],
};

const INITIATING_ENTITIES = ['admin', 'user', 'policy', 'system'];

/** The members of each simple subject format (RFC 9493 §3, and `opaque` of SSF 1.0). */
const SUBJECT_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  opaque: ['id'],
  email: ['email'],
  phone_number: ['phone_number'],
  iss_sub: ['iss', 'sub'],
  account: ['uri'],
  uri: ['uri'],
  did: ['url'],
};

/** Members a complex subject may have (SSF 1.0 §3.2). */
const COMPLEX_MEMBERS = ['user', 'device', 'session', 'application', 'tenant', 'org_unit', 'group'];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkSimpleSubject(v: unknown, where: string): string | null {
  if (!isObject(v) || typeof v.format !== 'string') return `${where} needs a format`;
  const members = SUBJECT_MEMBERS[v.format];
  if (members === undefined) return `${where} has an unsupported format ${v.format}`;
  for (const m of members) {
    if (typeof v[m] !== 'string' || v[m] === '') return `${where} (${v.format}) needs a non-empty ${m}`;
  }
  return null;
}

/** Why a sub_id is not a valid subject identifier, or null when it is. */
export function checkSubject(subId: unknown): string | null {
  if (!isObject(subId)) return 'sub_id is missing';
  if (subId.format !== 'complex') return checkSimpleSubject(subId, 'sub_id');
  const members = Object.keys(subId).filter((k) => k !== 'format');
  if (members.length === 0) return 'sub_id (complex) has no members';
  for (const m of members) {
    if (!COMPLEX_MEMBERS.includes(m)) return `sub_id (complex) has an unknown member ${m}`;
    const problem = checkSimpleSubject(subId[m], `sub_id.${m}`);
    if (problem !== null) return problem;
  }
  return null;
}

const isTextMap = (v: unknown) => isObject(v) && Object.values(v).every((t) => typeof t === 'string');

/** The one CAEP event of a SET, or why there is not exactly one valid one. */
export function checkEvents(events: unknown): { uri: string; claims: Record<string, unknown> } | string {
  if (!isObject(events)) return 'events is missing';
  const uris = Object.keys(events);
  if (uris.length !== 1) return `expected exactly one event, got ${uris.length}`;
  const uri = uris[0]!;
  const claims = events[uri];
  if (!isObject(claims)) return `event ${uri} is not an object`;
  const name = uri.startsWith(CAEP_EVENT_PREFIX) ? uri.slice(CAEP_EVENT_PREFIX.length) : '';
  const required = REQUIRED_CLAIMS[name];
  if (required === undefined) return `unsupported event type ${uri}`;
  for (const c of required) if (claims[c] === undefined) return `event ${name} needs ${c}`;
  if (claims.event_timestamp !== undefined && !Number.isInteger(claims.event_timestamp)) {
    return 'event_timestamp must be an integer (seconds)';
  }
  if (
    claims.initiating_entity !== undefined &&
    !INITIATING_ENTITIES.includes(String(claims.initiating_entity))
  ) {
    return `unknown initiating_entity ${String(claims.initiating_entity)}`;
  }
  for (const c of ['reason_admin', 'reason_user']) {
    if (claims[c] !== undefined && !isTextMap(claims[c])) return `${c} must map language tags to text`;
  }
  if (
    name === 'assurance-level-change' &&
    claims.change_direction !== undefined &&
    claims.change_direction !== 'increase' &&
    claims.change_direction !== 'decrease'
  ) {
    return `change_direction must be increase or decrease`;
  }
  return { uri, claims };
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly err: RefusedPush['err'],
    description: string,
  ) {
    super(description);
  }
}

/** What a jose verification failure means to the transmitter (RFC 8935 §2.3). */
function refusalOf(err: unknown): Refusal {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return new Refusal(400, 'invalid_issuer', message);
    if (err.claim === 'aud') return new Refusal(400, 'invalid_audience', message);
    return new Refusal(400, 'invalid_request', message);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new Refusal(400, 'authentication_failed', message);
  }
  if (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSEAlgNotAllowed ||
    err instanceof errors.JOSENotSupported ||
    err instanceof errors.JWKInvalid
  ) {
    return new Refusal(400, 'invalid_key', message);
  }
  if (
    err instanceof errors.JWSInvalid ||
    err instanceof errors.JWTInvalid ||
    err instanceof errors.JWTExpired
  ) {
    return new Refusal(400, 'invalid_request', message);
  }
  // The JWKS could not be fetched, or something else went wrong here: the SET may be fine, so the
  // transmitter should retry.
  return new Refusal(503, 'temporarily_unavailable', `cannot verify now: ${message}`);
}

/** Starts a receiver on a local port; resolves once it listens. */
export async function startCaepReceiver(opts: CaepReceiverOptions): Promise<RunningReceiver> {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl));
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const received: VerifiedSet[] = [];
  const refused: RefusedPush[] = [];
  const seen = new Set<string>();
  let requests = 0;
  let waiters: (() => void)[] = [];

  // Every body as text: a wrong content type is refused by the handler with an RFC 8935 error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const verify = async (contentType: string | undefined, body: unknown): Promise<VerifiedSet> => {
    if ((contentType ?? '').split(';')[0]!.trim().toLowerCase() !== SET_CONTENT_TYPE) {
      throw new Refusal(400, 'invalid_request', `content type must be ${SET_CONTENT_TYPE}`);
    }
    const jws = typeof body === 'string' ? body.trim() : '';
    let result;
    try {
      result = await jwtVerify(jws, jwks, {
        issuer: opts.issuer,
        audience: opts.audience,
        typ: SET_TYP,
        requiredClaims: ['iss', 'aud', 'iat', 'jti'],
      });
    } catch (err) {
      throw refusalOf(err);
    }
    const { payload, protectedHeader } = result;
    if (payload.sub !== undefined)
      throw new Refusal(400, 'invalid_request', 'sub must not be used: the subject is sub_id');
    const subjectProblem = checkSubject(payload.sub_id);
    if (subjectProblem !== null) throw new Refusal(400, 'invalid_request', subjectProblem);
    const event = checkEvents(payload.events);
    if (typeof event === 'string') throw new Refusal(400, 'invalid_request', event);
    const jti = payload.jti as string;
    if (seen.has(jti)) throw new Refusal(400, 'invalid_request', 'duplicate jti');
    seen.add(jti);
    return {
      jti,
      iss: payload.iss as string,
      aud: payload.aud as string | string[],
      iat: payload.iat as number,
      txn: typeof payload.txn === 'string' ? payload.txn : undefined,
      event: event.uri,
      eventClaims: event.claims,
      subId: payload.sub_id as Record<string, unknown>,
      header: protectedHeader,
      claims: payload,
      jws,
    };
  };

  app.post('/events', async (req, reply) => {
    requests += 1;
    try {
      if (requests <= (opts.failFirst ?? 0)) {
        throw new Refusal(503, 'temporarily_unavailable', `failing the first ${opts.failFirst} pushes`);
      }
      if (opts.authorization !== undefined && req.headers.authorization !== opts.authorization) {
        throw new Refusal(401, 'authentication_failed', 'missing or wrong Authorization header');
      }
      received.push(await verify(req.headers['content-type'], req.body));
      for (const wake of waiters) wake();
      return await reply.code(202).send();
    } catch (err) {
      const r = err instanceof Refusal ? err : new Refusal(503, 'temporarily_unavailable', String(err));
      refused.push({ status: r.status, err: r.err, description: r.message });
      return reply.code(r.status).send({ err: r.err, description: r.message });
    }
  });

  const address = await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });

  return {
    url: `${address}/events`,
    received,
    refused,
    get requests() {
      return requests;
    },
    close: async () => {
      await app.close();
    },
    waitFor: (n, timeoutMs) =>
      new Promise<VerifiedSet[]>((resolve, reject) => {
        const check = () => {
          if (received.length < n) return false;
          clearTimeout(timer);
          waiters = waiters.filter((w) => w !== wake);
          resolve(received);
          return true;
        };
        const wake = () => void check();
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== wake);
          reject(
            new Error(
              `receiver got ${received.length} of ${n} SETs within ${timeoutMs} ms (refused: ${JSON.stringify(refused)})`,
            ),
          );
        }, timeoutMs);
        if (!check()) waiters.push(wake);
      }),
  };
}

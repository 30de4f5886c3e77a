import { Type } from 'avsc';
import type { DeadLetterCode, PrincipalType, SessionAction } from '../../src/contract';
import { PRINCIPAL_TYPES } from '../../src/contract';
import { encodeAction, encodeDeadLetter, encodeDecision } from '../../src/emit/encode';
import { defaultRegistry } from '../../src/ingest/schemas';
import { prng } from './fixtures';

/**
 * Hostile input for the fault tests: a seeded stream of records as a transport hands them over
 * (value and key), valid actions interleaved with random, truncated, oversized, absurd and
 * type-confused ones, each with what the engine must make of it. The same seed gives the same
 * records, so a failure reproduces.
 */

/**
 * `valid`: decided; a code: dead-lettered with that code; `dead`: dead-lettered, whichever code
 * (random bytes); `either`: a mutation that may or may not still be a valid action.
 */
export type Expect = 'valid' | DeadLetterCode | 'dead' | 'either';

export interface HostileRecord {
  kind: string;
  value: Buffer | null;
  key: Buffer | null;
  expect: Expect;
  /** For `valid`: the event id the decision must carry. */
  eventId?: string;
}

export interface HostileOptions {
  seed: number;
  /** Whether the pipeline fed accepts JSON values (`kafka.allowJson`); decides what JSON becomes. */
  allowJson: boolean;
  /** The clock the records are made against: valid event times lie around it. */
  now: number;
  /** input.maxRecordBytes of the pipeline fed. */
  maxRecordBytes: number;
  /** Event ids start with this (unique per stream). */
  prefix: string;
  /** Sessions the valid actions belong to, awkward ids among them. @default 120 */
  sessions?: number;
  /** Leave out kinds whose outcome cannot be told in advance (bit flips). @default false */
  exact?: boolean;
}

/** Session ids that are valid but awkward: bidi overrides, zero-width, lone surrogates, Redis key syntax. */
export const AWKWARD_IDS: readonly string[] = [
  '\u202Esession-rtl-override',
  'zero\u200Bwidth\u200C\u200D\uFEFFsession',
  'lone-\uD800-high-surrogate',
  'lone-\uDC00-low-surrogate',
  '{braced}',
  'a:b:{c}:d',
  '}{',
  '{}',
  '{',
  'rs:{x}:v2:win',
  '*',
  's'.repeat(128),
  '\u{1F600}'.repeat(64),
  ' ',
  '%n%s%x',
  "'; DROP TABLE sessions;--",
  '../../etc/passwd',
  '\u0085next-line',
  'caf\u00e9',
  'cafe\u0301',
];

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'curl/8.5.0',
  'python-requests/2.31.0',
  '\u00dcn\u00efc\u00f8d\u00e9 \u{1F600} agent',
  '\u202Eexe.gnp',
  'zw\u200B\u200C\u200Dagent',
  'lone \uD800 surrogate agent',
  '',
];
const ACTIONS = [
  'view',
  'view',
  'view',
  'view',
  'search',
  'search',
  'login',
  'export',
  'approve',
  'permission_change',
  'config_change',
  'api_token_create',
  'logout',
  'step_up_passed',
  'step_up_failed',
  'a'.repeat(64),
  '\u202Etropxe',
];
const JA4S = [
  't13d1516h2_8daaf6152771_02713d6af862',
  't13d191000_9dc949149365_e7c285222651',
  'j'.repeat(64),
  '',
  null,
];
const IPS = [
  '73.22.10.5',
  '185.220.101.4',
  '::1',
  '2001:db8::1',
  '0000:0000:0000:0000:0000:ffff:255.255.255.255',
];

const STRING = Type.forSchema('string');
const LONG = Type.forSchema('long');

/** An Avro long (zigzag varint) of any size, beyond what a JS number holds. */
export function avroLong(v: bigint): Buffer {
  let z = v >= 0n ? v << 1n : (-v << 1n) - 1n;
  const out: number[] = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) b |= 0x80;
    out.push(b);
  } while (z > 0n);
  return Buffer.from(out);
}

export interface HostileStream {
  /** The next record of the mix. */
  next(): HostileRecord;
  /** A valid action's Avro record with a `bytes`-long User-Agent: over maxRecordBytes, OVERSIZED. */
  huge(bytes: number): HostileRecord;
  /** A record under a key of `bytes` bytes: a valid action, or random bytes (dead-lettered). */
  hugeKey(bytes: number, valid: boolean): HostileRecord;
  /** A valid action (Avro) or one of the wrong-schema-id kinds, on demand. */
  make(kind: 'valid' | 'unknown-schema-id'): HostileRecord;
}

export function hostileStream(opts: HostileOptions): HostileStream {
  const rnd = prng(opts.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const bytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const registry = defaultRegistry();

  const sessionCount = opts.sessions ?? 120;
  const sessions = Array.from({ length: sessionCount }, (_, i) => ({
    id: i < AWKWARD_IDS.length ? AWKWARD_IDS[i]! : `${opts.prefix}s${i}`,
    user: `u${i % 40}`,
    principal: pick(PRINCIPAL_TYPES) as PrincipalType,
    ua: pick(UAS),
    ja4: pick(JA4S),
    dev: pick(['dev-1', `dev-${i}`, 'd'.repeat(128), null]),
    ip: pick(IPS),
    asn: pick([7922, 16509, 0, 2_147_483_647, null]),
    // Event time: each session runs from some days back, forward in seconds to minutes.
    clock: opts.now - 10 * 86_400_000 + int(86_400_000),
  }));
  let counter = 0;

  function eventId(avro: boolean): string {
    const base = `${opts.prefix}${++counter}`;
    if (!chance(0.1)) return base;
    // Lone surrogates only where they survive the encoding (JSON); avsc writes them as bytes that
    // read back as U+FFFD, which the test could not match to the decision.
    const tricks = [
      `\u202E${base}`,
      `${base}\u200B\u200D`,
      `{${base}}:x:{y}`,
      base.padEnd(128, '\u200B'),
      ...(avro ? [] : [`${base}\uD800`]),
    ];
    return pick(tricks);
  }

  /** A valid action; `avro` says how it will be encoded (see eventId). */
  function validAction(avro: boolean): SessionAction {
    const s = pick(sessions);
    s.clock += chance(0.05) ? int(3 * 3_600_000) : int(90_000);
    // Edges that are still valid: late events, the oldest and the most future event time accepted.
    let ts = s.clock;
    if (chance(0.05)) ts -= int(900_000);
    if (chance(0.005)) ts = opts.now - 399 * 86_400_000;
    if (chance(0.005)) ts = opts.now + 4 * 60_000;
    // Drift now and then: a fingerprint part changes, to a known value or a brand-new one.
    if (chance(0.03)) s.ua = chance(0.5) ? pick(UAS) : `Mozilla/5.0 fuzz/${int(1e9)}`;
    if (chance(0.02)) s.ja4 = pick(JA4S);
    if (chance(0.02)) s.dev = chance(0.5) ? null : `dev-${int(1e9)}`;
    if (chance(0.03)) s.ip = `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
    const action = pick(ACTIONS);
    return {
      event_id: eventId(avro),
      ts,
      session_id: s.id,
      user_id: s.user,
      principal_type: s.principal,
      app: pick(['salesforce', 'aws-console', 'okta-admin', 'x'.repeat(64), '\u202Eppa']),
      action,
      resource: chance(0.5) ? null : pick(['report/1', '', 'r'.repeat(512), '{res}:1']),
      records: action === 'export' ? pick([0, 1, 500, 20_000, 1_000_000_000, null]) : null,
      mfa: action === 'login' ? pick([true, false, null]) : null,
      client: {
        ip: s.ip,
        asn: s.asn,
        country: pick(['US', 'DE', 'RO', null]),
        lat: pick([40.7128, -33.86, 90, -90, 0, -0, null]),
        lon: pick([-74.006, 151.2, 180, -180, 0, null]),
        user_agent: s.ua,
        ja4: s.ja4,
        device_id: s.dev,
        accept_language: pick(['en-US', 'de-DE,de;q=0.9', 'l'.repeat(256), null]),
      },
    };
  }

  const record = (
    kind: string,
    value: Buffer | null,
    expect: Expect,
    key?: Buffer | null,
  ): HostileRecord => ({
    kind,
    value,
    key: key === undefined ? (chance(0.2) ? null : Buffer.from(`k${counter}`)) : key,
    expect,
  });
  const avroOf = (a: SessionAction) => encodeAction(a, 'avro');
  const valid = (kind: string, value: Buffer, a: SessionAction): HostileRecord => ({
    ...record(kind, value, 'valid', Buffer.from(a.session_id)),
    eventId: a.event_id,
  });

  /** A valid action with one thing changed, Avro-encoded. */
  const broken = (kind: string, expect: Expect, change: (a: SessionAction) => SessionAction) =>
    record(kind, avroOf(change(validAction(true))), expect);
  const withClient = (a: SessionAction, c: Partial<SessionAction['client']>): SessionAction => ({
    ...a,
    client: { ...a.client, ...c },
  });

  /** Avro bytes of `a` with the bytes of one field (found by the lengths before it) replaced. */
  function patched(
    a: SessionAction,
    field: 'ts' | 'principal_type' | 'resource',
    replacement: Buffer,
  ): Buffer {
    const body = avroOf(a);
    let at = STRING.toBuffer(a.event_id).length;
    let len = LONG.toBuffer(a.ts).length;
    if (field !== 'ts') {
      at += len + STRING.toBuffer(a.session_id).length + STRING.toBuffer(a.user_id).length;
      len = 1; // enum index 0..3
      if (field === 'resource') {
        at += len + STRING.toBuffer(a.app).length + STRING.toBuffer(a.action).length;
        len = 1; // union index
      }
    }
    return Buffer.concat([body.subarray(0, at), replacement, body.subarray(at + len)]);
  }

  const jsonOf = (a: SessionAction): Record<string, unknown> =>
    JSON.parse(encodeAction(a, 'json').toString('utf8')) as Record<string, unknown>;
  const json = (o: unknown) => Buffer.from(JSON.stringify(o), 'utf8');
  /** JSON as the pipeline will take it: the code when JSON is accepted, UNDECODABLE otherwise. */
  const ifJson = (code: Expect): Expect => (opts.allowJson ? code : 'UNDECODABLE');

  type Kind = [weight: number, name: string, make: () => HostileRecord];
  const kinds: Kind[] = [
    [
      34,
      'valid-avro',
      () => {
        const a = validAction(true);
        return valid('valid-avro', avroOf(a), a);
      },
    ],
    [
      4,
      'valid-confluent',
      () => {
        const a = validAction(true);
        return valid('valid-confluent', encodeAction(a, 'confluent', 1), a);
      },
    ],
    [
      opts.allowJson ? 30 : 0,
      'valid-json',
      () => {
        const a = validAction(false);
        // Prototype keys are plain data: they must neither count as fields nor pollute anything.
        const extra: Record<string, unknown> = chance(0.1)
          ? { ['__proto__']: { polluted: true }, constructor: { x: 1 } }
          : {};
        const text = JSON.stringify({ ...jsonOf(a), ...extra }).replace(
          '{',
          chance(0.1) ? '{"__proto__":{"polluted":true},' : '{',
        );
        return valid('valid-json', Buffer.from(text, 'utf8'), a);
      },
    ],
    [6, 'random-bytes', () => record('random-bytes', bytes(1 + int(300)), 'dead')],
    [
      0.3,
      'random-over-limit',
      () => record('random-over-limit', bytes(opts.maxRecordBytes + 1 + int(100_000)), 'OVERSIZED'),
    ],
    [
      8,
      'truncated-avro',
      () => {
        const v = chance(0.8) ? avroOf(validAction(true)) : encodeAction(validAction(true), 'confluent', 1);
        return record('truncated-avro', v.subarray(0, 1 + int(v.length - 1)), 'UNDECODABLE');
      },
    ],
    [
      2,
      'trailing-bytes',
      () =>
        record(
          'trailing-bytes',
          Buffer.concat([avroOf(validAction(true)), bytes(1 + int(16))]),
          'UNDECODABLE',
        ),
    ],
    [
      opts.exact ? 0 : 4,
      'bit-flipped',
      () => {
        const v = Buffer.from(avroOf(validAction(true)));
        for (let i = 1 + int(3); i > 0; i--) v[int(v.length)] = int(256);
        return record('bit-flipped', v, 'either');
      },
    ],
    [
      1,
      'records-negative',
      () => broken('records-negative', 'INVALID_VALUE', (a) => ({ ...a, records: -1 - int(1e9) })),
    ],
    [
      2,
      'lat-lon-absurd',
      () =>
        broken('lat-lon-absurd', 'INVALID_VALUE', (a) =>
          withClient(
            a,
            pick([
              { lat: NaN },
              { lon: NaN },
              { lat: Infinity },
              { lon: -Infinity },
              { lat: 90.000001 },
              { lon: -180.5 },
              { lat: -1e308 },
              { lat: Number.MAX_VALUE },
            ]),
          ),
        ),
    ],
    [
      2,
      'ts-out-of-range',
      () =>
        broken('ts-out-of-range', 'TS_OUT_OF_RANGE', (a) => ({
          ...a,
          ts: pick([
            Date.UTC(3000, 0, 1),
            -1,
            // avsc writes longs up to 2^52; larger ones are ts-beyond-2^53 below.
            -(2 ** 52),
            2 ** 52,
            0,
            opts.now + 86_400_000,
            opts.now - 401 * 86_400_000,
          ]),
        })),
    ],
    [
      0.5,
      'ts-beyond-2^53',
      () =>
        record(
          'ts-beyond-2^53',
          patched(validAction(true), 'ts', avroLong(pick([2n ** 62n, -(2n ** 63n), 2n ** 53n + 1n]))),
          'UNDECODABLE',
        ),
    ],
    [
      0.5,
      'enum-index-out-of-range',
      () =>
        record(
          'enum-index-out-of-range',
          patched(validAction(true), 'principal_type', avroLong(BigInt(pick([4, 5, 63, -1, 1_000_000])))),
          'UNDECODABLE',
        ),
    ],
    [
      0.5,
      'union-index-out-of-range',
      () =>
        record(
          'union-index-out-of-range',
          patched(validAction(true), 'resource', avroLong(BigInt(pick([2, 3, 9, -1])))),
          'UNDECODABLE',
        ),
    ],
    [
      2,
      'bad-id',
      () => {
        const field = pick(['event_id', 'session_id', 'user_id', 'app', 'action'] as const);
        const [value, code] = pick<[string, DeadLetterCode]>([
          ['with\u0000nul', 'INVALID_VALUE'],
          ['\u0000', 'INVALID_VALUE'],
          ['', 'INVALID_VALUE'],
          ['line\nfeed', 'INVALID_VALUE'],
          ['del\u007f', 'INVALID_VALUE'],
          ['esc\u001b[31m', 'INVALID_VALUE'],
          ['x'.repeat(129), 'OVERSIZED'],
          ['{'.repeat(5_000), 'OVERSIZED'],
          ['\u202E'.repeat(20_000), 'OVERSIZED'],
        ]);
        // An empty event_id makes bare Avro start with 0x00, which reads as a Confluent header.
        const expect = field === 'event_id' && value === '' ? 'dead' : code;
        return broken('bad-id', expect, (a) => ({ ...a, [field]: value }));
      },
    ],
    [
      1,
      'bad-client',
      () => {
        const [c, code] = pick<[Partial<SessionAction['client']>, DeadLetterCode]>([
          [{ ip: '999.1.1.1' }, 'INVALID_VALUE'],
          [{ ip: '' }, 'INVALID_VALUE'],
          [{ ip: '1.2.3.4\u0000' }, 'INVALID_VALUE'],
          [{ ip: '1'.repeat(46) }, 'OVERSIZED'],
          [{ asn: -1 }, 'INVALID_VALUE'],
          [{ country: 'usa' }, 'INVALID_VALUE'],
          [{ country: 'U\u0000' }, 'INVALID_VALUE'],
          [{ user_agent: 'U'.repeat(2049 + int(40_000)) }, 'OVERSIZED'],
          [{ ja4: 'j'.repeat(65) }, 'OVERSIZED'],
          [{ device_id: 'd'.repeat(129) }, 'OVERSIZED'],
          [{ accept_language: 'l'.repeat(257) }, 'OVERSIZED'],
        ]);
        return broken('bad-client', code, (a) => withClient(a, c));
      },
    ],
    [
      0.5,
      'resource-too-long',
      () => broken('resource-too-long', 'OVERSIZED', (a) => ({ ...a, resource: 'r'.repeat(513) })),
    ],
    [
      1.5,
      'unknown-schema-id',
      () => {
        // Never 1..4: those are registered (schemas/registry.json).
        const id = pick([0, 5, 6, 99, 117, 0x7fffffff, 0x80000000, 0xffffffff, 5 + int(0xfffffffa)]);
        const body = avroOf(validAction(true));
        const v = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
        v.writeUInt32BE(id, 1);
        return record('unknown-schema-id', v, 'UNKNOWN_SCHEMA_ID');
      },
    ],
    [
      0.5,
      'schema-id-of-another-record',
      () =>
        record(
          'schema-id-of-another-record',
          encodeAction(validAction(true), 'confluent', pick([2, 3, 4])),
          'SCHEMA_MISMATCH',
        ),
    ],
    [
      0.3,
      'confluent-header-only',
      () => record('confluent-header-only', Buffer.from([0, 0, 0, 0, 1]), 'UNDECODABLE'),
    ],
    [
      1,
      'type-confused-avro',
      () => {
        const a = validAction(true);
        const v = pick([
          () =>
            encodeDecision(
              {
                decision_id: 'd',
                event_id: a.event_id,
                session_id: a.session_id,
                user_id: a.user_id,
                app: a.app,
                event_ts: a.ts,
                decided_at: a.ts,
                decision: 'ALLOW',
                score: 0.1,
                model_version: '2.0.0',
                reasons: [],
              },
              'avro',
            ),
          () =>
            encodeDeadLetter(
              {
                reason_code: 'EMPTY',
                reason: 'x',
                source: 't',
                partition: 0,
                offset: '1',
                line: null,
                key: null,
                payload: avroOf(a),
                received_at: a.ts,
              },
              'avro',
            ),
          () => LONG.toBuffer(a.ts),
          () => STRING.toBuffer(a.event_id),
          () => registry.sessionActionType.toBuffer({ ...a, client: { ...a.client } }).subarray(1),
        ])();
        return record('type-confused-avro', v, 'dead');
      },
    ],
    [
      opts.allowJson ? 0 : 3,
      'json-not-allowed',
      () => record('json-not-allowed', encodeAction(validAction(false), 'json'), 'UNDECODABLE'),
    ],
    [
      opts.allowJson ? 5 : 0.5,
      'json-wrong-type',
      () => {
        const o = jsonOf(validAction(false));
        const client = o.client as Record<string, unknown>;
        const [target, field, value] = pick<[Record<string, unknown>, string, unknown]>([
          [o, 'event_id', 123],
          [o, 'event_id', ['x']],
          [o, 'ts', String(o.ts)],
          [o, 'ts', (o.ts as number) + 0.5],
          [o, 'ts', true],
          [o, 'ts', { $date: o.ts }],
          [o, 'session_id', {}],
          [o, 'user_id', false],
          [o, 'principal_type', 1],
          [o, 'records', '10'],
          [o, 'records', 1.5],
          [o, 'mfa', 'yes'],
          [o, 'mfa', 1],
          [o, 'client', 'client'],
          [o, 'client', []],
          [client, 'ip', 3232235777],
          [client, 'asn', '7922'],
          [client, 'asn', 7922.5],
          [client, 'lat', '40.7'],
          [client, 'user_agent', ['Mozilla']],
          [client, 'ja4', 42],
        ]);
        target[field] = value;
        return record('json-wrong-type', json(o), ifJson('WRONG_TYPE'));
      },
    ],
    [
      opts.allowJson ? 2 : 0.2,
      'json-missing-field',
      () => {
        const o = jsonOf(validAction(false));
        const field = pick([
          'event_id',
          'ts',
          'session_id',
          'user_id',
          'principal_type',
          'app',
          'action',
          'client',
        ]);
        if (chance(0.5)) delete o[field];
        else o[field] = null;
        return record('json-missing-field', json(o), ifJson('MISSING_FIELD'));
      },
    ],
    [
      opts.allowJson ? 2 : 0.2,
      'json-bad-value',
      () => {
        // Numbers JSON can write but no field accepts: 1e400 parses as Infinity.
        const a = jsonOf(validAction(false));
        const [field, literal, code] = pick<[string, string, DeadLetterCode]>([
          ['"lat":', '1e400', 'INVALID_VALUE'],
          ['"lon":', '-1e400', 'INVALID_VALUE'],
          ['"records":', '-7', 'INVALID_VALUE'],
          ['"records":', '1e10', 'INVALID_VALUE'],
          ['"asn":', '4294967296', 'INVALID_VALUE'],
          ['"principal_type":', '"employee"', 'INVALID_VALUE'],
          ['"ts":', '1e400', 'WRONG_TYPE'],
        ]);
        const client = a.client as Record<string, unknown>;
        if (field === '"lat":' || field === '"lon":' || field === '"asn":') client[field.slice(1, -2)] = 0;
        else a[field.slice(1, -2)] = 0;
        const text = JSON.stringify(a).replace(`${field}0`, `${field}${literal}`);
        return record('json-bad-value', Buffer.from(text, 'utf8'), ifJson(code));
      },
    ],
    [
      opts.allowJson ? 3 : 0.3,
      'json-invalid',
      () => {
        const text = encodeAction(validAction(false), 'json').toString('utf8');
        const v = pick([
          () => text.slice(0, 1 + int(text.length - 2)),
          () => `${text},`,
          () => text.replace(/"lat":[^,]+/, '"lat":NaN'),
          () => text.replace('"', "'"),
          () => `{${'"a":'.repeat(3)}}`,
          () => '{',
          () => '{"a":1}{"b":2}',
        ])();
        return record('json-invalid', Buffer.from(v, 'utf8'), ifJson('INVALID_JSON'));
      },
    ],
    [
      opts.allowJson ? 0.5 : 0.05,
      'json-deep-nesting',
      () => {
        const depth = 10_000 + int(20_000);
        const v = Buffer.from(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`, 'utf8');
        return record('json-deep-nesting', v, opts.allowJson ? 'dead' : 'UNDECODABLE');
      },
    ],
    [
      opts.allowJson ? 0.5 : 0.05,
      'json-prototype-only',
      () =>
        record(
          'json-prototype-only',
          Buffer.from(`{"__proto__":${JSON.stringify(jsonOf(validAction(false)))}}`, 'utf8'),
          ifJson('MISSING_FIELD'),
        ),
    ],
    [
      opts.allowJson ? 0.5 : 0.1,
      'json-with-bom',
      () =>
        record(
          'json-with-bom',
          Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), encodeAction(validAction(false), 'json')]),
          'UNDECODABLE',
        ),
    ],
    [
      0.3,
      'json-too-big',
      () => {
        const o = jsonOf(validAction(false));
        o.padding = 'p'.repeat(opts.maxRecordBytes);
        return record('json-too-big', json(o), 'OVERSIZED');
      },
    ],
    [1, 'empty-value', () => record('empty-value', Buffer.alloc(0), 'EMPTY')],
    [
      1,
      'null-value',
      () => record('null-value', null, 'EMPTY', chance(0.5) ? null : Buffer.from('tombstone')),
    ],
  ];
  const live = kinds.filter(([w]) => w > 0);
  const totalWeight = live.reduce((n, [w]) => n + w, 0);

  return {
    next() {
      let r = rnd() * totalWeight;
      for (const [w, , make] of live) {
        if ((r -= w) < 0) return make();
      }
      return live[live.length - 1]![2]();
    },
    huge(size) {
      const a = withClient(validAction(true), { user_agent: 'H'.repeat(size) });
      return record('huge-10MB', avroOf(a), 'OVERSIZED');
    },
    hugeKey(size, isValid) {
      const key = bytes(size);
      if (!isValid) return record('huge-key-garbage', bytes(1 + int(64)), 'dead', key);
      const a = validAction(true);
      return { ...valid('huge-key-valid', avroOf(a), a), key };
    },
    make(kind) {
      return live.find(([, name]) => name === kind)![2]();
    },
  };
}

import type { RawRecord, SessionAction, WindowView } from '../../src/contract';

let counter = 0;

/** A plausible action; override what the test is about. */
export function action(
  overrides: Partial<Omit<SessionAction, 'client'>> & { client?: Partial<SessionAction['client']> } = {},
): SessionAction {
  counter++;
  const { client, ...rest } = overrides;
  return {
    event_id: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    ts: 1_760_000_000_000,
    session_id: 's-test',
    user_id: 'u-1',
    principal_type: 'EMPLOYEE',
    app: 'salesforce',
    action: 'view',
    resource: null,
    records: null,
    mfa: null,
    ...rest,
    client: {
      ip: '73.22.10.5',
      asn: 7922,
      country: 'US',
      lat: 40.7128,
      lon: -74.006,
      user_agent:
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      ja4: 't13d1516h2_8daaf6152771_02713d6af862',
      device_id: 'dev-1',
      accept_language: 'en-US',
      ...client,
    },
  };
}

const counts = (all = 1) => ({ all, sensitive: 0, exports: 0, exported: 0 });

/** The view of a session's later event whose history matches `a` exactly (nothing unusual). */
export function steadyView(a: SessionAction, overrides: Partial<WindowView> = {}): WindowView {
  const fp = {
    ip: a.client.ip,
    asn: a.client.asn,
    country: a.client.country,
    lat: a.client.lat,
    lon: a.client.lon,
    ua: a.client.user_agent,
    ja4: a.client.ja4,
    dev: a.client.device_id,
    ts: a.ts - 60_000,
  };
  return {
    duplicate: false,
    n: 5,
    firstTs: a.ts - 600_000,
    lastTs: a.ts - 60_000,
    baseline: fp,
    prev: fp,
    seen: { fp: true, ua: true, ja4: true, dev: true, asn: true, country: true },
    distinct: { fp: 1, ua: 1, ja4: 1, dev: 1, asn: 1, country: 1 },
    fpSeq: ['a', 'a', 'a'],
    counts: { m1: counts(1), m10: counts(5), session: counts(6) },
    capped: false,
    arrival: 5,
    ...overrides,
  };
}

/** A record as a file or the inline API hands it to the pipeline: no key, partition or offset. */
export function lineRecord(value: Buffer | string | null, line: number | null, source = 'test'): RawRecord {
  return {
    value: typeof value === 'string' ? Buffer.from(value) : value,
    key: null,
    source,
    partition: null,
    offset: null,
    line,
    receivedAt: Date.now(),
  };
}

/** mulberry32: small, fast, and the same sequence on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

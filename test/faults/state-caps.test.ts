import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { buildModel, buildPipeline, buildRedisStore } from '../../src/cli/context';
import { loadSettings } from '../../src/config/load';
import type { Settings } from '../../src/config/schema';
import type { Decision, RawRecord, SessionAction } from '../../src/contract';
import { encodeAction } from '../../src/emit/encode';
import { REASON_CODES } from '../../src/features/reasons';
import { silentLogger } from '../../src/log';
import type { Scorer } from '../../src/model/scorer';
import type { ProcessBatch } from '../../src/pipeline/process';
import { builtinPolicy } from '../../src/policy/compile';
import { parseFriction } from '../../src/policy/friction';
import { decisionsIndexKey, sessionKeys, type SessionKeys } from '../../src/state/keys';
import { decodeState } from '../../src/state/window';
import { action, lineRecord } from '../helpers/fixtures';
import { REDIS_URL, deleteKeys, testRedis, uniqueName } from '../helpers/services';

/**
 * One session that never shows the same client twice: every event a new User-Agent, JA4, device,
 * network and address. A million of them must not blow up Redis: the window's sets and ring, the
 * dedupe ledger, the timeline and the policy state are all capped, so the session's keys stop
 * growing once the caps are reached, and every decision from the first capped event on says so
 * (STATE_CAPPED). 50,000 events here through the whole pipeline on a real Redis; the figures show
 * the size is flat from ~2,000 events on, so a million come to the same bytes (and the printed
 * rate gives the time they would take). Then the worst case: every field at its size limit.
 */

const EVENTS = 50_000;
const BATCH = 1_000;
const MiB = 1024 * 1024;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

interface Sample {
  events: number;
  /** MEMORY USAGE per key of the session. */
  bytes: Record<keyof SessionKeys, number>;
  total: number;
}

describe('per-session state under a million distinct fingerprints (real Redis)', function () {
  this.timeout(240_000);
  let redis: Redis;
  const prefix = `${uniqueName('rs-caps')}:`;
  // A session id with a brace: its keys take the hashed hash tag.
  const sessionId = 'caps-{flood}:session';
  const keys = sessionKeys(prefix, sessionId);
  let settings: Settings;
  let scorer: Scorer;
  let process: ProcessBatch;

  before(async () => {
    redis = testRedis();
    settings = loadSettings({
      env: {},
      overrides: { redis: { url: REDIS_URL, keyPrefix: prefix }, timeline: { maxDecisions: 1000 } },
    });
    scorer = await buildModel(settings, silentLogger());
    // A terminated session stays terminated without rescoring; here every event is scored, so the
    // model's reasons and the cap's note meet on capped windows.
    const builtin = builtinPolicy();
    const policy = { ...builtin, friction: { ...builtin.friction, terminatedStaysTerminated: false } };
    process = buildPipeline({
      settings,
      store: buildRedisStore(redis, settings),
      model: () => scorer,
      policy: () => policy,
      format: 'json',
      allowJson: true,
    });
  });
  after(async () => {
    scorer?.dispose();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  /** The i-th event: a client never seen before in the session, one event every 100 ms. */
  function event(i: number, t0: number): SessionAction {
    return action({
      event_id: `flood-${i}`,
      ts: t0 + i * 100,
      session_id: sessionId,
      action: i % 50 === 49 ? 'export' : 'view',
      records: i % 50 === 49 ? 100 : null,
      client: {
        ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        asn: 100_000 + i,
        country: ['US', 'DE', 'FR', 'RO'][i % 4]!,
        user_agent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.${i}.0 Safari/537.36`,
        ja4: `t13d1516h2_${i.toString(16).padStart(12, '0')}_02713d6af862`,
        device_id: `dev-${i}`,
      },
    });
  }

  async function measure(events: number): Promise<Sample> {
    const names = Object.keys(keys) as (keyof SessionKeys)[];
    const sizes = await Promise.all(
      names.map(async (k) => Number((await redis.call('MEMORY', 'USAGE', keys[k], 'SAMPLES', '0')) ?? 0)),
    );
    const bytes = Object.fromEntries(names.map((k, i) => [k, sizes[i]!])) as Sample['bytes'];
    return { events, bytes, total: sizes.reduce((a, b) => a + b, 0) };
  }

  it('keeps the session under a fixed size that stops growing once the caps are hit, and says STATE_CAPPED', async () => {
    const { dedupeCap, maxDistinct, maxRing } = settings.redis;
    const { maxEntries, maxDecisions } = settings.timeline;
    // Event time: 83 minutes of 10 events a second, ending 37 minutes ago.
    const t0 = Date.now() - 2 * 3_600_000;
    const samples: Sample[] = [];
    const decisions = { byType: new Map<string, number>(), capped: 0, firstCapped: -1 };
    const started = performance.now();
    for (let from = 0; from < EVENTS; from += BATCH) {
      const raws: RawRecord[] = [];
      for (let i = from; i < from + BATCH; i++) {
        raws.push(lineRecord(encodeAction(event(i, t0), 'json'), i + 1, 'caps'));
      }
      const result = await process(raws);
      await result.settle?.();
      assert.equal(result.decisions.length, BATCH);
      result.decisions.forEach((d: Decision, j) => {
        const i = from + j;
        decisions.byType.set(d.decision, (decisions.byType.get(d.decision) ?? 0) + 1);
        const capped = d.reasons.some((r) => r.code === 'STATE_CAPPED');
        // The distinct-fingerprint set holds maxDistinct ids: the next new one is past the cap.
        assert.equal(capped, i >= maxDistinct, `event ${i}: STATE_CAPPED ${capped}`);
        if (capped) {
          decisions.capped++;
          if (decisions.firstCapped < 0) decisions.firstCapped = i;
          assert.equal(d.reasons.at(-1)!.code, 'STATE_CAPPED', 'after the reasons that drove the decision');
          if (d.decision !== 'ALLOW') assert.ok(d.reasons.length >= 2, `event ${i}: the model's reasons too`);
          assert.match(d.reasons.at(-1)!.detail, new RegExp(`${maxDistinct} fingerprints`));
        }
      });
      const done = from + BATCH;
      if (done <= 5000 || done % 10_000 === 0) samples.push(await measure(done));
    }
    const seconds = (performance.now() - started) / 1000;

    // Each part of the session's state at or under its cap.
    const state = decodeState((await redis.getBuffer(keys.win))!);
    assert.equal(state.capped, true);
    for (const kind of ['fp', 'ua', 'ja4', 'dev', 'asn', 'country'] as const)
      assert.ok(state[kind].length <= maxDistinct, `${kind}: ${state[kind].length}`);
    assert.equal(state.ring.length, maxRing, 'the ring is full (6,000 events in 10 minutes) and capped');
    assert.ok((await redis.llen(keys.evq)) <= dedupeCap);
    // The ledger: one entry per remembered event id (plus whatever bookkeeping field the script keeps).
    assert.ok((await redis.hlen(keys.ev)) <= dedupeCap + 1);
    assert.equal(await redis.zcard(keys.tl), maxEntries);
    const pol = await redis.get(keys.pol);
    const friction = parseFriction(pol?.slice(pol.indexOf('|') + 1));
    assert.ok(friction, 'the session has a policy state');
    assert.ok(friction.recent.length <= 32);
    assert.ok(Object.keys(friction.cooldown).length <= REASON_CODES.length);
    assert.ok((friction.trust?.fps.length ?? 0) <= 8);
    // The recent-decisions index (all sessions) is trimmed near timeline.maxDecisions.
    const indexed = await redis.xlen(decisionsIndexKey(prefix));
    assert.ok(indexed <= maxDecisions + 200, `decisions index: ${indexed} entries`);

    const at5k = samples.find((s) => s.events === 5000)!;
    const last = samples[samples.length - 1]!;
    const max = Math.max(...samples.map((s) => s.total));
    console.log(
      [
        `      ${EVENTS} events of one session, each a new client, in ${seconds.toFixed(1)} s (${Math.round(EVENTS / seconds)}/s): ` +
          `a million would take ~${Math.round(1e6 / (EVENTS / seconds) / 60)} min and the same bytes`,
        `      decisions: ${[...decisions.byType].map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
          `STATE_CAPPED on ${decisions.capped} (from event ${decisions.firstCapped})`,
        `      session keys (MEMORY USAGE), events: win ev evq pol tl = total`,
        ...samples.map(
          (s) =>
            `        ${String(s.events).padStart(6)}: ${kb(s.bytes.win)} ${kb(s.bytes.ev)} ${kb(s.bytes.evq)} ` +
            `${kb(s.bytes.pol)} ${kb(s.bytes.tl)} = ${kb(s.total)}`,
        ),
        `      decisions index: ${indexed} entries (timeline.maxDecisions ${maxDecisions})`,
      ].join('\n'),
    );
    // The stated bound (default caps, these ~150-byte User-Agents): 2 MiB for the session. It stops
    // growing once the caps are hit (by ~2,000 events: ring 2,000, ledger 1,000, timeline 200).
    assert.ok(max < 2 * MiB, `the session took ${kb(max)}`);
    assert.ok(
      last.total <= at5k.total * 1.05 + 4096,
      `grew from ${kb(at5k.total)} at 5k to ${kb(last.total)}`,
    );
  });

  it('worst case: every field at its size limit in 3-byte characters, still a fixed size', async () => {
    // Same caps, the largest fingerprints input validation lets through: the ledger keeps the
    // baseline and previous fingerprint with each remembered event, so it dominates.
    const worstId = 'w'.repeat(128);
    const wkeys = sessionKeys(prefix, worstId);
    const t0 = Date.now() - 2 * 3_600_000;
    const sizes: number[] = [];
    for (let from = 0; from < 3000; from += BATCH) {
      const raws: RawRecord[] = [];
      for (let i = from; i < from + BATCH; i++) {
        const tag = String(i).padStart(6, '0');
        const a = action({
          event_id: `w${i}`.padEnd(128, '\u20ac'),
          ts: t0 + i * 100,
          session_id: worstId,
          user_id: 'u'.repeat(128),
          app: 'a'.repeat(64),
          action: 'v'.repeat(64),
          resource: '\u20ac'.repeat(512),
          client: {
            ip: '0000:0000:0000:0000:0000:ffff:255.255.255.255',
            asn: 1000 + i,
            user_agent: tag + '\u20ac'.repeat(2042),
            ja4: tag + 'j'.repeat(58),
            device_id: tag + '\u20ac'.repeat(122),
            accept_language: 'l'.repeat(256),
          },
        });
        raws.push(lineRecord(encodeAction(a, 'json'), i + 1, 'caps'));
      }
      const result = await process(raws);
      await result.settle?.();
      let total = 0;
      for (const key of Object.values(wkeys))
        total += Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
      sizes.push(total);
    }
    console.log(
      `      largest fields: session keys ${sizes.map((b) => `${(b / MiB).toFixed(1)} MB`).join(', ')} after 1k, 2k, 3k events`,
    );
    // The stated worst case per session with the default caps: under 20 MiB (dedupeCap x 2
    // fingerprints of ~6 KB, plus 200 timeline entries of ~10 KB).
    assert.ok(Math.max(...sizes) < 20 * MiB, `${(Math.max(...sizes) / MiB).toFixed(1)} MB`);
    assert.ok(sizes[2]! <= sizes[1]! * 1.05, 'flat once the caps are hit');
  });
});

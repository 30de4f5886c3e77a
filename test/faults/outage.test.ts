import assert from 'node:assert/strict';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { buildMemoryStore, buildModel, buildPipeline } from '../../src/cli/context';
import type { RunningEngine } from '../../src/cli/run';
import { loadSettings } from '../../src/config/load';
import type { Settings } from '../../src/config/schema';
import type { Decision, RawRecord, SessionAction } from '../../src/contract';
import { encodeAction } from '../../src/emit/encode';
import { MemorySink } from '../../src/emit/files';
import { silentLogger } from '../../src/log';
import { createBatchHandler } from '../../src/pipeline/handler';
import { decisionId } from '../../src/pipeline/ids';
import { builtinPolicy } from '../../src/policy/compile';
import { sensitivityOf } from '../../src/policy/decide';
import { simulate } from '../../src/sim/generate';
import { startTestEngine } from '../helpers/engine';
import { sleep, uniqueName, waitUntil } from '../helpers/services';
import { PrivateKafka, PrivateRedis } from './private';
import { DecisionTally, decisionContent } from './tally';

/**
 * Broker and Redis faults under a running engine (issue 6): a Kafka broker restarted mid-stream,
 * Redis down for a while (redis.outage=wait, then =decide), and Redis back empty. The broker and
 * Redis are this file's own (test/faults/private.ts): the shared ones are never touched.
 *
 * Every decision is read off the decisions topic by a consumer that dedupes by decision_id, as the
 * README asks of one, and compared with what the same events get from the same pipeline with no
 * fault at all (in this process, on the in-memory store).
 */

const SEC = 1000;
type Sampler = { stop(): void; samples: { t: number; ready: boolean; detail: string }[] };

/** A counter's or gauge's value over all its labels. */
async function total(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}

describe('faults: broker restart and Redis outages (private Kafka and Redis)', function () {
  this.timeout(300_000);
  let kafka: PrivateKafka;
  let redis: PrivateRedis;
  let client: Kafka;
  let admin: Admin;
  let producer: Producer;
  const engines: RunningEngine[] = [];
  const tallies: DecisionTally[] = [];
  const t0 = Date.now();
  const log = (msg: string) => console.log(`      [${((Date.now() - t0) / SEC).toFixed(1)}s] ${msg}`);

  before(async () => {
    [kafka, redis] = await Promise.all([PrivateKafka.start(), PrivateRedis.start(true)]);
    client = kafka.client();
    admin = client.admin();
    await admin.connect();
    producer = client.producer();
    await producer.connect();
    log(`private broker on ${kafka.brokers[0]}, private Redis on ${redis.url}`);
  });

  afterEach(async () => {
    await Promise.allSettled(engines.splice(0).map((e) => e.stop()));
    await Promise.allSettled(tallies.splice(0).map((t) => t.stop()));
  });

  after(async () => {
    await producer?.disconnect().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    await Promise.allSettled([kafka?.destroy(), redis?.destroy()]);
  });

  /** Topics, a group and a key prefix of one test; settings for an engine on them. */
  async function scenario(tag: string, extra: { kafka?: object; redis?: object } = {}) {
    const topics = {
      actionsTopic: uniqueName(`${tag}-actions`),
      decisionsTopic: uniqueName(`${tag}-decisions`),
      deadLetterTopic: uniqueName(`${tag}-dlq`),
      auditTopic: uniqueName(`${tag}-audit`),
    };
    await admin.createTopics({
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });
    const settings = loadSettings({
      env: {},
      overrides: {
        kafka: {
          brokers: kafka.brokers,
          groupId: uniqueName(`${tag}-engine`),
          ...topics,
          fromBeginning: true,
          emitAllow: true,
          ...extra.kafka,
        },
        redis: { url: redis.url, keyPrefix: `${uniqueName(tag)}:`, ...extra.redis },
        http: { enabled: false },
        log: { level: process.env.TEST_LOG_LEVEL || 'error' },
      },
    });
    const tally = new DecisionTally(client, topics.decisionsTopic);
    await tally.start();
    tallies.push(tally);
    const start = async (s: Settings = settings) => {
      const e = await startTestEngine(s);
      engines.push(e);
      return e;
    };
    return { topics, settings, tally, start };
  }

  /** Simulated traffic of the last day: sessions of up to an hour, in time order. */
  const traffic = (seed: number, sessions: number, attackRate = 0.1) =>
    simulate({ seed, sessions, attackRate, start: Date.now() - 86_400_000, spanMs: 3_600_000 }).events;

  /** What the events get with no fault: the same pipeline on the in-memory store, in order. */
  async function faultFree(
    settings: Settings,
    events: readonly SessionAction[],
  ): Promise<Map<string, Decision>> {
    const scorer = await buildModel(settings, silentLogger());
    const sink = new MemorySink();
    const handler = createBatchHandler({
      process: buildPipeline({
        settings,
        store: buildMemoryStore(settings),
        model: () => scorer,
        format: 'avro',
        allowJson: false,
      }),
      sink,
      emitAllow: true,
      source: 'baseline',
    });
    for (let i = 0; i < events.length; i += 500) {
      const records: RawRecord[] = events.slice(i, i + 500).map((e, k) => ({
        value: encodeAction(e, 'avro'),
        key: Buffer.from(e.session_id),
        source: 'baseline',
        partition: 0,
        offset: String(i + k),
        line: null,
        receivedAt: Date.now(),
      }));
      await handler.handle(records);
    }
    return new Map(sink.decisions.map((d) => [d.event_id, d]));
  }

  /**
   * Sends the events in time order, `perSecond` at most, as an edge producer would: a send that
   * fails (the broker is down) is tried again until it goes through.
   */
  function stream(topic: string, events: readonly SessionAction[], perSecond: number) {
    let sent = 0;
    const chunk = Math.max(1, Math.round(perSecond / 10));
    const done = (async () => {
      for (let i = 0; i < events.length; i += chunk) {
        const part = events.slice(i, i + chunk);
        const messages = part.map((a) => ({ key: a.session_id, value: encodeAction(a, 'avro') }));
        for (;;) {
          try {
            await producer.send({ topic, messages });
            break;
          } catch {
            await sleep(250);
          }
        }
        sent += part.length;
        await sleep(100);
      }
    })();
    return { done, sent: () => sent };
  }

  /** Samples readiness: /readyz (which also sets the gauge) or, with `gaugeOnly`, riskstream_ready alone. */
  function sampleReadiness(engine: RunningEngine, gaugeOnly = false): Sampler {
    const samples: Sampler['samples'] = [];
    let on = true;
    void (async () => {
      while (on) {
        if (gaugeOnly) {
          const ready = (await total(engine.metrics.ready)) === 1;
          samples.push({ t: Date.now(), ready, detail: '' });
        } else {
          const res = await engine.server.inject({ method: 'GET', url: '/readyz' }).catch(() => null);
          if (!res) break; // the engine stopped (a failed test)
          const gauge = await total(engine.metrics.ready);
          samples.push({ t: Date.now(), ready: res.statusCode === 200 && gauge === 1, detail: res.body });
        }
        await sleep(250);
      }
    })();
    return { samples, stop: () => (on = false) };
  }

  /** Every event decided once (after dedupe by decision_id) and no copy saying something else. */
  async function allDecided(tally: DecisionTally, events: readonly SessionAction[], timeoutMs = 90 * SEC) {
    const ok = await waitUntil(() => tally.distinct >= events.length, { timeoutMs, intervalMs: 200 });
    await tally.drain();
    assert.ok(ok, `${tally.distinct} of ${events.length} events decided`);
    assert.equal(tally.distinct, events.length);
    assert.deepEqual(
      new Set([...tally.decisions.values()].map((d) => d.event_id)),
      new Set(events.map((e) => e.event_id)),
    );
    assert.deepEqual(tally.conflicts, [], 'copies of a decision that say something else');
  }

  /** Events whose decision differs from the fault-free one (decided_at aside). */
  function changed(
    tally: DecisionTally,
    baseline: Map<string, Decision>,
    ids?: ReadonlySet<string>,
  ): Decision[] {
    return [...tally.decisions.values()].filter(
      (d) =>
        (!ids || ids.has(d.event_id)) && decisionContent(d) !== decisionContent(baseline.get(d.event_id)!),
    );
  }

  /** Every partition of the input committed up to its end. */
  async function committedToEnd(group: string, topic: string): Promise<boolean> {
    return waitUntil(
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        const ends = await admin.fetchTopicOffsets(topic);
        return ends.every(
          (p) => committed!.partitions.find((c) => c.partition === p.partition)?.offset === p.high,
        );
      },
      { timeoutMs: 15 * SEC, intervalMs: 250 },
    );
  }

  /** The longest stretch of samples that were not ready, in ms (0: always ready). */
  const notReadyMs = (s: Sampler) => {
    let longest = 0;
    let from: number | null = null;
    for (const x of s.samples) {
      if (!x.ready) from ??= x.t;
      else if (from !== null) {
        longest = Math.max(longest, x.t - from);
        from = null;
      }
    }
    return from === null ? longest : Math.max(longest, Date.now() - from);
  };

  it('a broker restarted mid-stream: not ready while it is down, then every event decided once, as with no restart', async () => {
    const sc = await scenario('broker');
    const events = traffic(61, 180);
    const baseline = await faultFree(sc.settings, events);
    const engine = await sc.start();
    const ready = sampleReadiness(engine);
    const s = stream(sc.topics.actionsTopic, events, 1000);
    await waitUntil(() => s.sent() >= events.length / 3, { timeoutMs: 30 * SEC, intervalMs: 50 });
    const down = Date.now();
    log(`broker restart: stopping (sent ${s.sent()}, decided ${sc.tally.distinct})`);
    await kafka.stop();
    await sleep(8 * SEC);
    await kafka.restart();
    const up = Date.now();
    log(`broker back after ${((up - down) / SEC).toFixed(1)}s`);
    await s.done;
    await allDecided(sc.tally, events);
    ready.stop();
    const resumed = ready.samples.find((x) => x.t > up && x.ready);
    log(
      `broker down ${((up - down) / SEC).toFixed(1)}s: ${events.length} events, ${sc.tally.distinct} decided once ` +
        `(${sc.tally.duplicates} identical copies; ${await total(engine.metrics.duplicates)} input records seen twice), longest not-ready ${(notReadyMs(ready) / SEC).toFixed(1)}s, ` +
        `ready again ${resumed ? ((resumed.t - up) / SEC).toFixed(1) : '?'}s after the broker, ` +
        `${changed(sc.tally, baseline).length} decisions differ from the fault-free run`,
    );
    assert.ok(
      ready.samples.some(
        (x) => x.t > down && x.t < up + 2 * SEC && !x.ready && x.detail.includes('"kafka":false'),
      ),
      'not ready (kafka: false) while the broker was down',
    );
    assert.ok(resumed, 'ready again after the restart');
    assert.deepEqual(changed(sc.tally, baseline), []);
    assert.ok(
      await committedToEnd(sc.settings.kafka.groupId, sc.topics.actionsTopic),
      'committed to the end',
    );
  });

  it('Redis down for 15 s (redis.outage=wait): fetching pauses, nothing piles up, not ready; then nothing lost and the same decisions', async () => {
    const maxBatchRecords = 500;
    const sc = await scenario('wait', { kafka: { maxBatchRecords } });
    const events = traffic(62, 350);
    const baseline = await faultFree(sc.settings, events);
    const engine = await sc.start();
    // The gauge alone: riskstream_ready must follow readiness without anyone asking /readyz.
    const ready = sampleReadiness(engine, true);
    const s = stream(sc.topics.actionsTopic, events, 1500);
    await waitUntil(() => sc.tally.distinct >= 1000, { timeoutMs: 30 * SEC, intervalMs: 50 });
    const heapBefore = process.memoryUsage().heapUsed;
    const decidedBefore = sc.tally.distinct;
    await redis.stop();
    const down = Date.now();
    log(`Redis down (decided ${decidedBefore}, sent ${s.sent()})`);
    let maxQueued = 0;
    let maxHeap = heapBefore;
    let paused = false;
    while (Date.now() - down < 15 * SEC) {
      maxQueued = Math.max(maxQueued, await total(engine.metrics.consumerQueuedRecords));
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
      paused ||= (await total(engine.metrics.consumerPaused)) === 1;
      await sleep(200);
    }
    const decidedDuring = sc.tally.distinct;
    const sentDuring = s.sent();
    const readyz = await engine.server.inject({ method: 'GET', url: '/readyz' });
    await redis.start(true);
    const up = Date.now();
    log(`Redis back after ${((up - down) / SEC).toFixed(1)}s (sent ${sentDuring}, decided ${decidedDuring})`);
    await s.done;
    await allDecided(sc.tally, events);
    const resumedAt = ready.samples.find((x) => x.t > up && x.ready)?.t;
    ready.stop();
    const mb = (b: number) => (b / 1048576).toFixed(1);
    log(
      `Redis down ${((up - down) / SEC).toFixed(1)}s: ${sentDuring - decidedBefore} events arrived meanwhile, ` +
        `at most ${maxQueued} queued in the engine (bound ${2 * maxBatchRecords}), heap ${mb(heapBefore)} -> max ${mb(maxHeap)} MB, ` +
        `decided ${events.length} once (${sc.tally.duplicates} identical copies), ` +
        `${changed(sc.tally, baseline).length} differ from the fault-free run, ready again ${resumedAt ? ((resumedAt - up) / SEC).toFixed(1) : '?'}s after Redis`,
    );
    assert.ok(paused, 'fetching paused while the batch failed');
    assert.ok(maxQueued <= 2 * maxBatchRecords, `queued ${maxQueued}`);
    assert.ok(sentDuring - decidedDuring > 4 * maxBatchRecords, 'events waited in Kafka, not in the engine');
    assert.ok(decidedDuring - decidedBefore <= 4 * maxBatchRecords, 'nothing decided without Redis');
    assert.equal(readyz.statusCode, 503);
    assert.match(readyz.body, /"redis":false/);
    assert.ok(
      ready.samples.some((x) => x.t > down + 2 * SEC && x.t < up && !x.ready),
      'riskstream_ready 0 while Redis was down',
    );
    assert.ok(resumedAt, 'riskstream_ready 1 again');
    assert.ok((await total(engine.metrics.redisErrors)) > 0);
    assert.equal(await total(engine.metrics.degradedDecisions), 0);
    assert.deepEqual(changed(sc.tally, baseline), []);
    assert.ok(
      await committedToEnd(sc.settings.kafka.groupId, sc.topics.actionsTopic),
      'committed to the end',
    );
  });

  it('Redis down with redis.outage=decide: answers by sensitivity after outageAfter, counted; the catch-up makes a redelivery answer the same', async () => {
    const sc = await scenario('decide', { redis: { outage: 'decide', outageAfter: '2s' } });
    // An hour of traffic in ~20 s: a session acts every ~20 ms of the test, not every minute, so the
    // outage is kept short (a session's answers are recorded for redelivery up to 32 of them).
    const events = traffic(63, 150);
    const baseline = await faultFree(sc.settings, events);
    const engine = await sc.start();
    const s = stream(sc.topics.actionsTopic, events, 300);
    await waitUntil(() => sc.tally.distinct >= events.length / 4, { timeoutMs: 30 * SEC, intervalMs: 50 });
    const before = new Set([...sc.tally.decisions.values()].map((d) => d.event_id));
    await redis.stop();
    const down = Date.now();
    await sleep(10 * SEC);
    await redis.start(true);
    const up = Date.now();
    log(`Redis down ${((up - down) / SEC).toFixed(1)}s with redis.outage=decide`);
    await s.done;
    await allDecided(sc.tally, events);

    const policy = builtinPolicy();
    const all = [...sc.tally.decisions.values()];
    const degraded = all.filter((d) => (d.policy_rule ?? '').startsWith('outage.withoutState.'));
    const byEvent = new Map(events.map((e) => [e.event_id, e]));
    for (const d of degraded) {
      const action = byEvent.get(d.event_id)!;
      const { sensitivity } = sensitivityOf(policy, action, null);
      const expected = policy.outage.withoutState[sensitivity];
      const replaced = policy.replace[action.principal_type]?.[expected] ?? expected;
      assert.equal(d.decision, replaced, `${d.policy_rule} for ${action.principal_type}`);
      assert.equal(d.reasons[0]!.code, 'STATE_UNAVAILABLE');
      assert.equal(d.score, 0);
    }
    const counted = await total(engine.metrics.degradedDecisions);
    const perDecision = Object.fromEntries(
      (await engine.metrics.degradedDecisions.get()).values.map((v) => [v.labels.decision, v.value]),
    );
    const ids = new Set(events.map((e) => e.event_id).filter((id) => !before.has(id)));
    const differ = changed(sc.tally, baseline, ids).filter((d) => !degraded.includes(d));
    log(
      `${degraded.length} of ${events.length} events decided without state (${JSON.stringify(perDecision)}), ` +
        `the other ${events.length - degraded.length} scored: ${changed(sc.tally, baseline, before).length} of the ${before.size} before the outage differ, ` +
        `${differ.length} scored after it differ from the fault-free run ` +
        `(${differ.filter((d) => d.decision !== baseline.get(d.event_id)!.decision).length} in the response: ` +
        `a session's history now lacks the answers given without state)`,
    );
    assert.ok(degraded.length > 200, `${degraded.length} decided without state`);
    // Sessions this engine had seen terminated stay terminated (friction.terminated), also without state.
    const terminatedLater = all.filter(
      (d) => d.policy_rule === 'friction.terminated' && !before.has(d.event_id),
    );
    assert.ok(
      counted >= degraded.length && counted <= degraded.length + terminatedLater.length,
      `counted ${counted}`,
    );
    assert.ok(
      all.some((d) => d.decision === 'BLOCK_ACTION' && degraded.includes(d)),
      'sensitive actions blocked',
    );
    assert.deepEqual(changed(sc.tally, baseline, before), [], 'decided before the outage as without it');
    assert.equal(
      await engine.server.inject({ method: 'GET', url: '/readyz' }).then((r) => r.statusCode),
      200,
    );

    // Every event delivered again (a new group from the start, same Redis): the copies say what the
    // first ones said, those decided without state included.
    const rawBefore = sc.tally.raw;
    await sc.start({ ...sc.settings, kafka: { ...sc.settings.kafka, groupId: uniqueName('redeliver') } });
    assert.ok(
      await waitUntil(() => sc.tally.raw >= rawBefore + events.length, {
        timeoutMs: 90 * SEC,
        intervalMs: 200,
      }),
      `${sc.tally.raw - rawBefore} of ${events.length} redelivered`,
    );
    await sc.tally.drain();
    log(`redelivered all ${events.length}: ${sc.tally.conflicts.length} copies differ from the first`);
    assert.deepEqual(
      sc.tally.conflicts.map((c) => `${c.first.policy_rule} -> ${c.copy.policy_rule}`),
      [],
      'a redelivered event answered otherwise',
    );
  });

  it('Redis back empty: sessions that go on are stepped up on their next sensitive action (SESSION_STATE_LOST); new ones are not', async () => {
    await redis.stop();
    await redis.start(false);
    const sc = await scenario('lost');
    const events = traffic(64, 200, 0);
    const half = Math.floor(events.length / 2);
    const baseline = await faultFree(sc.settings, events);
    const engine = await sc.start();
    const first = stream(sc.topics.actionsTopic, events.slice(0, half), 2000);
    await first.done;
    await waitUntil(() => sc.tally.distinct >= half, { timeoutMs: 60 * SEC, intervalMs: 100 });
    await redis.stop();
    await sleep(2 * SEC);
    await redis.start(false);
    log(`Redis restarted empty after ${half} events`);
    await stream(sc.topics.actionsTopic, events.slice(half), 2000).done;
    await allDecided(sc.tally, events);

    const policy = builtinPolicy();
    const startedBefore = new Set(events.slice(0, half).map((e) => e.session_id));
    // Per session that goes on: its first sensitive action after the loss, unless a step-up passed
    // before it (that ends the doubt: the user proved who they are).
    const firstSensitive = new Map<string, SessionAction>();
    const goesOn = new Set<string>();
    const passed = new Set<string>();
    for (const e of events.slice(half)) {
      if (!startedBefore.has(e.session_id)) continue;
      goesOn.add(e.session_id);
      if (e.action === 'step_up_passed') passed.add(e.session_id);
      else if (
        !firstSensitive.has(e.session_id) &&
        !passed.has(e.session_id) &&
        sensitivityOf(policy, e, null).sensitivity !== 'none'
      )
        firstSensitive.set(e.session_id, e);
    }
    const lostDecisions = [...sc.tally.decisions.values()].filter((d) =>
      d.reasons.some((r) => r.code === 'SESSION_STATE_LOST'),
    );
    const stepped = [...firstSensitive.values()].filter((e) => {
      const d = sc.tally.decisions.get(decisionId(e.event_id))!;
      return d.decision !== 'ALLOW';
    });
    const later = events.slice(half).filter((e) => !startedBefore.has(e.session_id));
    const lostCounted = await total(engine.metrics.lostSessions);
    log(
      `${goesOn.size} sessions went on after the loss (${lostCounted} found without state), ` +
        `${firstSensitive.size} of them with a sensitive action: ${stepped.length} stepped up or stricter; ` +
        `${lostDecisions.length} decisions carry SESSION_STATE_LOST; ${later.length} events of new sessions, ` +
        `${changed(sc.tally, baseline, new Set(later.map((e) => e.event_id))).length} differ from the fault-free run`,
    );
    assert.equal(await total(engine.metrics.stateLost), 1);
    assert.ok(goesOn.size > 20 && firstSensitive.size > 5, 'traffic spans the loss');
    assert.ok(lostCounted > 0 && lostCounted <= goesOn.size);
    const notStepped = [...firstSensitive.values()].filter((e) => !stepped.includes(e));
    assert.deepEqual(notStepped, [], 'a first sensitive action after the loss not stepped up');
    for (const d of lostDecisions) {
      assert.ok(startedBefore.has(d.session_id), 'only sessions from before the loss');
      // Stepped up, or not asked again within the cooldown (the enforcement point is asking).
      assert.ok(d.decision !== 'ALLOW' || d.policy_rule === 'friction.step_up_cooldown', d.policy_rule ?? '');
    }
    assert.deepEqual(
      changed(sc.tally, baseline, new Set(later.map((e) => e.event_id))),
      [],
      'sessions that began after the loss are decided as without it',
    );
  });
});

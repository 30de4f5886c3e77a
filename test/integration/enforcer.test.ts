import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import type { Decision } from '../../src/contract';
import { EnforcerClient } from '../../src/enforcer/client';
import { encodeDecision, type OutputFormat } from '../../src/emit/encode';
import { KAFKA_BROKERS, createTopics, deleteTopics, testKafka, uniqueName } from '../helpers/services';

const HOUR = 3_600_000;

function decision(session: string, overrides: Partial<Decision> = {}): Decision {
  const eventId = randomUUID();
  return {
    decision_id: `d-${eventId}`,
    event_id: eventId,
    session_id: session,
    user_id: 'u-1',
    app: 'toy-crm',
    event_ts: Date.now(),
    decided_at: Date.now(),
    decision: 'STEP_UP',
    score: 0.8,
    model_version: 'm/1',
    reasons: [{ code: 'UA_CHANGED', detail: 'ua', weight: 0.5 }],
    action: 'view',
    policy_version: 'default@1#ab',
    policy_rule: 'score',
    ...overrides,
  };
}

const verdict = (c: EnforcerClient, session: string, action: string) => {
  const r = c.check(session, action);
  return r.allow ? 'ALLOW' : r.decision;
};

describe('enforcer EnforcerClient on a real Kafka broker', function () {
  this.timeout(60_000);
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let topic: string;
  const clients: EnforcerClient[] = [];
  const s = (name: string) => `${topic}-${name}`;
  let garbageCount = 0;

  const client = (opts: { fromBeginning?: boolean } = {}) => {
    const c = new EnforcerClient({ brokers: KAFKA_BROKERS, topic, ...opts });
    clients.push(c);
    return c;
  };
  const produce = (messages: { key: string; value: Buffer | null; timestamp?: string }[]) =>
    producer.send({ topic, messages, acks: -1 });
  const send = (d: Decision, format: OutputFormat = 'avro') =>
    produce([{ key: d.session_id, value: encodeDecision(d, format) }]);

  before(async () => {
    kafka = testKafka();
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    topic = uniqueName('enforcer-decisions');
    await createTopics(admin, [topic]);
    // First on its partition, stamped 13 h ago: outside the 12 h replay window, so a starting client
    // must seek past it. Its decided_at is now, so the client would apply it if it read it.
    await produce([
      {
        key: s('old'),
        value: encodeDecision(decision(s('old'), { decision: 'TERMINATE' }), 'avro'),
        timestamp: String(Date.now() - 13 * HOUR),
      },
    ]);
  });

  after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    await deleteTopics(admin, [topic]);
    await producer.disconnect();
    await admin.disconnect();
  });

  let live: EnforcerClient;

  it('starts from the replay window (skipping older records) and applies decisions as they come', async () => {
    live = client();
    await live.start();
    assert.equal(await live.replayed(10_000), true);
    assert.equal(verdict(live, s('old'), 'view'), 'ALLOW', 'the record before the window was read');

    const stepUp = decision(s('a'), { decision: 'STEP_UP' });
    const block = decision(s('b'), { decision: 'BLOCK_ACTION', action: 'export' });
    const term = decision(s('c'), { decision: 'TERMINATE' });
    await send(stepUp, 'avro');
    await send(block, 'confluent');
    await send(term, 'json');
    for (const d of [stepUp, block, term]) await live.waitFor((x) => x.decision_id === d.decision_id);
    assert.equal(verdict(live, s('a'), 'view'), 'STEP_UP');
    assert.equal(verdict(live, s('b'), 'export'), 'BLOCK_ACTION');
    assert.equal(verdict(live, s('b'), 'view'), 'ALLOW');
    assert.equal(verdict(live, s('c'), 'view'), 'TERMINATE');

    const passed = decision(s('a'), {
      decision: 'ALLOW',
      action: 'step_up_passed',
      reasons: [],
      decided_at: Date.now() + 1,
    });
    await send(passed);
    await live.waitFor((x) => x.decision_id === passed.decision_id);
    assert.equal(verdict(live, s('a'), 'view'), 'ALLOW');
  });

  it('skips records that are not decisions and goes on', async () => {
    const before = live.stats().undecodable;
    const good = decision(s('g'), { decision: 'STEP_UP' });
    const garbage = [
      randomBytes(40),
      Buffer.from('{"decision_id": "x"}'),
      Buffer.from('{not json'),
      encodeDecision(good, 'avro').subarray(0, 10),
      null,
    ];
    garbageCount = garbage.length;
    // Same key: the valid record comes after the garbage on the same partition.
    await produce([
      ...garbage.map((value) => ({ key: s('g'), value })),
      { key: s('g'), value: encodeDecision(good, 'avro') },
    ]);
    await live.waitFor((x) => x.decision_id === good.decision_id);
    assert.equal(live.stats().undecodable - before, garbageCount);
    assert.equal(verdict(live, s('g'), 'view'), 'STEP_UP');
  });

  it('a restarted client rebuilds the state from the topic', async () => {
    const expected = {
      a: verdict(live, s('a'), 'view'),
      b: verdict(live, s('b'), 'export'),
      c: verdict(live, s('c'), 'view'),
      g: verdict(live, s('g'), 'view'),
    };
    assert.deepEqual(expected, { a: 'ALLOW', b: 'BLOCK_ACTION', c: 'TERMINATE', g: 'STEP_UP' });
    await live.stop();

    const restarted = client();
    await restarted.start();
    assert.equal(await restarted.replayed(20_000), true);
    assert.deepEqual(
      {
        a: verdict(restarted, s('a'), 'view'),
        b: verdict(restarted, s('b'), 'export'),
        c: verdict(restarted, s('c'), 'view'),
        g: verdict(restarted, s('g'), 'view'),
      },
      expected,
    );
    assert.equal(verdict(restarted, s('old'), 'view'), 'ALLOW');
    assert.equal(restarted.stats().undecodable, garbageCount);
    await restarted.stop();
  });

  it('fromBeginning: false only sees decisions made after start', async () => {
    const fresh = client({ fromBeginning: false });
    await fresh.start();
    assert.equal(await fresh.replayed(1000), true);
    assert.equal(verdict(fresh, s('c'), 'view'), 'ALLOW');
    const term = decision(s('n'), { decision: 'TERMINATE' });
    await send(term);
    await fresh.waitFor((x) => x.decision_id === term.decision_id);
    assert.equal(verdict(fresh, s('n'), 'view'), 'TERMINATE');
    await fresh.stop();
  });

  it('waitFor rejects after its timeout', async () => {
    const c = client({ fromBeginning: false });
    await c.start();
    await assert.rejects(
      c.waitFor(() => false, 200),
      /no matching decision within 200 ms/,
    );
    await c.stop();
  });
});

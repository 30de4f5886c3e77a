import assert from 'node:assert/strict';
import Fastify from 'fastify';
import type { Decision, DecisionType, RawRecord } from '../../../src/contract';
import { registerEvaluateRoute } from '../../../src/http/evaluate';
import { silentLogger } from '../../../src/log';
import type { BatchHandler } from '../../../src/pipeline/handler';
import type { BatchResult } from '../../../src/pipeline/process';

/** A gate a test opens when it chooses. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const decisionOf = (raw: RawRecord): Decision => {
  const { event_id, decision } = JSON.parse(String(raw.value)) as {
    event_id: string;
    decision: DecisionType;
  };
  return {
    decision_id: `d-${event_id}`,
    event_id,
    session_id: 's',
    user_id: 'u',
    app: 'app',
    event_ts: 0,
    decided_at: 0,
    decision,
    score: decision === 'ALLOW' ? 0.01 : 0.99,
    model_version: 'test',
    reasons: [],
  };
};

/**
 * A pipeline whose Kafka acknowledgement and settling wait for the test: which answers come before
 * the acknowledgement, and whether closing waits for settling.
 */
function heldHandler() {
  const acked = gate();
  const settleGate = gate();
  const log: string[] = [];
  const handler: BatchHandler = {
    async process(records) {
      const decisions = records.map(decisionOf);
      return {
        outcomes: decisions.map((decision) => ({ kind: 'decision', decision, duplicate: false, rule: 'r' })),
        decisions,
        deadLetters: [],
        duplicates: 0,
        settle: async () => {
          await settleGate.opened;
          log.push('settled');
        },
      } satisfies BatchResult;
    },
    toEmit: (result) => result.decisions.filter((d) => d.decision !== 'ALLOW'),
    async emit(_records, result, onWritten) {
      await acked.opened;
      log.push('acked');
      onWritten?.();
      await result.settle?.();
    },
    handle: () => Promise.reject(new Error('not used')),
  };
  return { handler, acked, settleGate, log };
}

/** The evaluate route on a held pipeline, publishing or not. */
async function served(publish: boolean) {
  const held = heldHandler();
  const app = Fastify();
  registerEvaluateRoute(app, {
    handler: held.handler,
    publish,
    publishAllow: false,
    tokens: [],
    clientCerts: false,
    maxBytes: 4096,
    maxBatch: 16,
    ready: () => true,
    log: silentLogger(),
  });
  await app.ready();
  return { held, app };
}

describe('http/evaluate: when an inline answer is sent', () => {
  it('an unpublished ALLOW is answered at once, a published decision once Kafka acknowledged it, and closing waits for settling', async () => {
    const { held, app } = await served(true);
    const post = (event_id: string, decision: DecisionType) =>
      app.inject({ method: 'POST', url: '/v1/evaluate', payload: { event_id, decision } });

    // Both arrive together, so they are decided in one batch.
    const answered: string[] = [];
    const allow = post('a', 'ALLOW').then((r) => (answered.push('ALLOW'), r));
    const terminate = post('t', 'TERMINATE').then((r) => (answered.push('TERMINATE'), r));
    const a = await allow;
    assert.equal(a.statusCode, 200);
    assert.equal(a.json<Decision>().decision, 'ALLOW');
    assert.deepEqual(answered, ['ALLOW'], 'the ALLOW did not wait for the acknowledgement');
    assert.deepEqual(held.log, []);

    held.acked.open();
    const t = await terminate;
    assert.equal(t.json<Decision>().decision, 'TERMINATE');
    assert.deepEqual(held.log, ['acked'], 'answered after the acknowledgement, before settling');

    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(closed, false, 'close waits for the batch to settle');
    held.settleGate.open();
    await closing;
    assert.deepEqual(held.log, ['acked', 'settled']);
  });

  it('without publishing, every answer comes before settling', async () => {
    const { held, app } = await served(false);
    const r = await app.inject({
      method: 'POST',
      url: '/v1/evaluate',
      payload: { event_id: 'x', decision: 'BLOCK_ACTION' },
    });
    assert.equal(r.json<Decision>().decision, 'BLOCK_ACTION');
    assert.deepEqual(held.log, []);
    held.settleGate.open();
    await app.close();
    assert.deepEqual(held.log, ['settled']);
  });
});

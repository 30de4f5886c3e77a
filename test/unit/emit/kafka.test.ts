import assert from 'node:assert/strict';
import { KafkaSink, MAX_DEAD_LETTER_KEY_BYTES, capPayload, splitRequests } from '../../../src/emit/kafka';
import type { OutgoingTopic } from '../../../src/emit/thread';
import type { DeadLetter } from '../../../src/contract';

const dl = (bytes: number): DeadLetter => ({
  reason_code: 'OVERSIZED',
  reason: 'record is too large',
  source: 't',
  partition: 0,
  offset: '1',
  line: null,
  key: null,
  payload: Buffer.alloc(bytes, 7),
  received_at: 1,
});

describe('emit/kafka capPayload', () => {
  it('leaves payloads within the limit alone', () => {
    const d = dl(100);
    assert.equal(capPayload(d, 100), d);
  });
  it('cuts a larger payload and records the original size in the reason', () => {
    const out = capPayload(dl(5000), 1000);
    assert.equal(out.payload.length, 1000);
    assert.match(out.reason, /record is too large \[payload truncated to the first 1000 of 5000 bytes\]/);
  });
});

describe('emit/kafka dead-letter keys', () => {
  it('cuts a key over the limit, alone or with the payload, and says so', () => {
    const big = { ...dl(10), key: Buffer.alloc(5000, 1) };
    const out = capPayload(big, 1000);
    assert.equal(out.key!.length, MAX_DEAD_LETTER_KEY_BYTES);
    assert.equal(out.payload.length, 10);
    assert.match(out.reason, /\[key truncated to the first 1024 of 5000 bytes\]$/);
    const both = capPayload({ ...dl(5000), key: Buffer.alloc(2000) }, 1000);
    assert.match(
      both.reason,
      /\[payload truncated to the first 1000 of 5000 bytes; key truncated to the first 1024 of 2000 bytes\]$/,
    );
    const small = { ...dl(10), key: Buffer.alloc(MAX_DEAD_LETTER_KEY_BYTES) };
    assert.equal(capPayload(small, 1000), small);
  });
});

describe('emit/kafka splitRequests', () => {
  const msgs = (n: number, bytes: number, tag: string) =>
    Array.from({ length: n }, (_, i) => ({ key: `${tag}${i}`, value: Buffer.alloc(bytes) }));
  const names = (requests: OutgoingTopic[][]) =>
    requests.map((r) => r.map((t) => `${t.topic}:${t.messages.map((m) => m.key).join(',')}`));

  it('leaves a write that fits as one request', () => {
    const topics: OutgoingTopic[] = [
      { topic: 'd', messages: msgs(3, 100, 'd') },
      { topic: 'x', messages: msgs(1, 100, 'x') },
    ];
    assert.deepEqual(splitRequests(topics, 10_000), [topics]);
  });

  it("splits a topic over the limit into requests in order, each carrying every topic's next slice", () => {
    const topics: OutgoingTopic[] = [
      { topic: 'dlq', messages: msgs(5, 400, 'q') },
      { topic: 'd', messages: msgs(1, 10, 'd') },
    ];
    // 400 bytes + overhead each: two per 1000-byte request.
    assert.deepEqual(names(splitRequests(topics, 1000)), [['dlq:q0,q1', 'd:d0'], ['dlq:q2,q3'], ['dlq:q4']]);
  });

  it('sends a record larger than the limit alone', () => {
    const topics: OutgoingTopic[] = [
      { topic: 'dlq', messages: [...msgs(1, 10, 'a'), ...msgs(1, 5000, 'b'), ...msgs(1, 10, 'c')] },
    ];
    assert.deepEqual(names(splitRequests(topics, 1000)), [['dlq:a0'], ['dlq:b0'], ['dlq:c0']]);
  });

  it('KafkaSink keeps each request under the limit: large dead letters go out one request after another', async () => {
    const sent: OutgoingTopic[][] = [];
    const sink = new KafkaSink(
      { send: async (t) => void sent.push([...t]), close: async () => undefined },
      {
        decisionsTopic: 'd',
        deadLetterTopic: 'dlq',
        format: 'json',
        maxDeadLetterPayloadBytes: 900,
        maxRequestTopicBytes: 2000,
      },
    );
    const big = { ...dl(5000), key: Buffer.alloc(4000, 2) };
    await sink.write([], [big, big, big]);
    assert.equal(sent.length, 3);
    for (const request of sent) {
      const [t] = request;
      assert.equal(t!.messages.length, 1);
      assert.equal((t!.messages[0]!.key as Buffer).length, MAX_DEAD_LETTER_KEY_BYTES);
    }
  });
});

import assert from 'node:assert/strict';
import { capPayload } from '../../../src/emit/kafka';
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

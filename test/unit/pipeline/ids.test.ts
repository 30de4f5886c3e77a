import assert from 'node:assert/strict';
import { decisionId } from '../../../src/pipeline/process';

describe('pipeline/decisionId', () => {
  it('is deterministic, UUID-shaped (v5 layout) and distinct per event', () => {
    const a = decisionId('8f14e45f-ceea-4e7a-9f1b-1234567890ab');
    assert.equal(a, decisionId('8f14e45f-ceea-4e7a-9f1b-1234567890ab'));
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a, decisionId('8f14e45f-ceea-4e7a-9f1b-1234567890ac'));
  });
});

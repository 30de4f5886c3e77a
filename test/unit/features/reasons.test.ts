import assert from 'node:assert/strict';
import { FEATURE_INDEX } from '../../../src/features/extract';
import {
  REASON_CODES,
  REASON_GROUPS,
  describe as describeReason,
  reasonsFromContributions,
  type ReasonCode,
} from '../../../src/features/reasons';
import { action, steadyView } from '../../helpers/fixtures';

const row = (weights: Partial<Record<ReasonCode, number>>) =>
  Float32Array.from(REASON_GROUPS, (g) => weights[g.code] ?? 0);

describe('features/reasons', () => {
  it('groups every feature but first_event under one code', () => {
    const all = REASON_GROUPS.flatMap((g) => g.features).sort((a, b) => a - b);
    assert.equal(new Set(all).size, all.length);
    assert.ok(!all.includes(FEATURE_INDEX.first_event));
    const ua = REASON_GROUPS.find((g) => g.code === 'UA_CHANGED')!;
    assert.deepEqual(
      ua.features.sort(),
      [
        FEATURE_INDEX.ua_changed_base,
        FEATURE_INDEX.new_ua,
        FEATURE_INDEX.ua_update,
        FEATURE_INDEX.ua_family_changed,
      ].sort(),
    );
  });

  it('keeps positive contributions, strongest first, weighted by their share', () => {
    const a = action({ client: { user_agent: 'curl/8.5.0' } });
    const contrib = row({ UA_CHANGED: 3, SCRIPTED_CLIENT: 1, HIGH_ACTION_RATE: -2, SESSION_AGE: 0.001 });
    const reasons = reasonsFromContributions(contrib, 0, steadyView(a), a, {
      maxReasons: 5,
      minWeight: 0.05,
    });
    assert.deepEqual(
      reasons.map((r) => r.code),
      ['UA_CHANGED', 'SCRIPTED_CLIENT'],
    );
    assert.equal(reasons[0]!.weight, 0.7498);
    assert.equal(reasons[1]!.weight, 0.2499);
    assert.match(reasons[1]!.detail, /curl/);
  });

  it('reads the right row of a batch and caps the number of reasons', () => {
    const a = action();
    const contrib = new Float32Array(REASON_GROUPS.length * 2);
    contrib.set(
      row({ NEW_DEVICE: 1, ASN_CHANGED: 1, COUNTRY_CHANGED: 1, IP_CHANGED: 1 }),
      REASON_GROUPS.length,
    );
    const reasons = reasonsFromContributions(contrib, 1, steadyView(a), a, {
      maxReasons: 2,
      minWeight: 0.05,
    });
    assert.equal(reasons.length, 2);
    assert.equal(reasons[0]!.weight, 0.25);
  });

  it('keeps the strongest driver even when it is weak', () => {
    const a = action();
    const reasons = reasonsFromContributions(row({ IDLE_RESUMED: 0.01 }), 0, steadyView(a), a, {
      maxReasons: 5,
      minWeight: 0.05,
    });
    assert.deepEqual(
      reasons.map((r) => r.code),
      ['IDLE_RESUMED'],
    );
    assert.equal(reasons[0]!.weight, 1);
  });

  it('every code has a detail', () => {
    const a = action();
    for (const code of REASON_CODES) assert.ok(describeReason(code, steadyView(a), a).length > 5, code);
  });
});

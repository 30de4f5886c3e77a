import assert from 'node:assert/strict';
import { decide, type PolicySettings } from '../../../src/policy/decide';
import { action, steadyView } from '../../helpers/fixtures';

const P: PolicySettings = {
  stepUpScore: 0.6,
  terminateScore: 0.9,
  sensitiveStepUpScore: 0.3,
  sensitiveBlockScore: 0.5,
  massExportRecords: 10_000,
  maxReasons: 5,
  minReasonWeight: 0.05,
};

describe('policy/decide', () => {
  const cases: [string, number, Parameters<typeof action>[0], string][] = [
    ['low score view', 0.1, { action: 'view' }, 'ALLOW'],
    ['high score view', 0.7, { action: 'view' }, 'STEP_UP'],
    ['very high score', 0.95, { action: 'view' }, 'TERMINATE'],
    ['terminate beats sensitive block', 0.95, { action: 'export', records: 10 }, 'TERMINATE'],
    ['elevated sensitive', 0.35, { action: 'permission_change' }, 'STEP_UP'],
    ['high sensitive', 0.55, { action: 'api_token_create' }, 'BLOCK_ACTION'],
    ['low sensitive', 0.1, { action: 'approve' }, 'ALLOW'],
    ['elevated non-sensitive', 0.35, { action: 'search' }, 'ALLOW'],
    ['mass export, low score', 0.05, { action: 'export', records: 50_000 }, 'STEP_UP'],
    ['mass export, elevated', 0.4, { action: 'export', records: 50_000 }, 'BLOCK_ACTION'],
    ['service account cannot step up', 0.7, { action: 'view', principal_type: 'SERVICE' }, 'BLOCK_ACTION'],
    ['service account terminated', 0.95, { action: 'view', principal_type: 'SERVICE' }, 'TERMINATE'],
    ['unknown action is ordinary', 0.35, { action: 'frobnicate' }, 'ALLOW'],
  ];
  for (const [name, score, overrides, expected] of cases) {
    it(`${name}: ${score} -> ${expected}`, () => {
      const a = action(overrides);
      assert.equal(decide(score, a, steadyView(a), P).decision, expected);
    });
  }

  it('thresholds are inclusive', () => {
    const a = action();
    assert.equal(decide(0.6, a, steadyView(a), P).decision, 'STEP_UP');
    assert.equal(decide(0.9, a, steadyView(a), P).decision, 'TERMINATE');
  });

  it('adds policy reasons for rules', () => {
    const a = action({ action: 'export', records: 20_000 });
    const out = decide(0.1, a, steadyView(a), P);
    assert.equal(out.rule, 'mass_export');
    assert.equal(out.policyReasons[0]!.code, 'MASS_EXPORT');
    assert.match(out.policyReasons[0]!.detail, /20000/);
  });
});

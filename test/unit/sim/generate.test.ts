import assert from 'node:assert/strict';
import { RiskStreamError } from '../../../src/errors';
import { simulate } from '../../../src/sim/generate';
import { DEFAULT_MIX, isAttackScenario } from '../../../src/sim/scenarios';
import { SCENARIO_NAMES } from '../../../src/sim/types';
import { assertValidAction, sessionsOf } from './helpers';

describe('sim/generate', () => {
  const sim = simulate({ seed: 42, sessions: 400, attackRate: 0.2 });

  it('is deterministic for a seed and differs across seeds', () => {
    const again = simulate({ seed: 42, sessions: 400, attackRate: 0.2 });
    assert.deepEqual(again, sim);
    const other = simulate({ seed: 43, sessions: 400, attackRate: 0.2 });
    assert.notDeepEqual(other.events.slice(0, 50), sim.events.slice(0, 50));
  });

  it('sorts events by ts and aligns labels 1:1', () => {
    assert.equal(sim.labels.length, sim.events.length);
    for (let i = 0; i < sim.events.length; i++) {
      const e = sim.events[i]!;
      const l = sim.labels[i]!;
      if (i > 0) assert.ok(sim.events[i - 1]!.ts <= e.ts, `out of order at ${i}`);
      assert.equal(l.event_id, e.event_id);
      assert.equal(l.session_id, e.session_id);
      assert.ok(!('label' in e) && !('scenario' in e) && !('actor' in e), 'labels never leak into events');
    }
    assert.equal(new Set(sim.events.map((e) => e.event_id)).size, sim.events.length);
  });

  it('produces events that satisfy the contract', () => {
    for (const e of sim.events) assertValidAction(e);
  });

  it('starts every session with login, mostly with MFA, and ends ~70% with logout', () => {
    const sessions = sessionsOf(sim);
    assert.equal(sessions.length, 400);
    let mfa = 0;
    let logout = 0;
    for (const s of sessions) {
      assert.equal(s.events[0]!.action, 'login', s.id);
      assert.equal(s.events.filter((e) => e.action === 'login').length, 1, s.id);
      if (s.events[0]!.mfa) mfa++;
      if (s.events.at(-1)!.action === 'logout') logout++;
      assert.equal(new Set(s.events.map((e) => e.user_id)).size, 1, 'one principal per session');
    }
    assert.ok(mfa / 400 > 0.75, `mfa ${mfa}`);
    assert.ok(logout / 400 > 0.5 && logout / 400 < 0.8, `logout ${logout}`);
  });

  it('uses the attack rate and every scenario of the default mix', () => {
    const sessions = sessionsOf(simulate({ seed: 5, sessions: 3000 }));
    const kinds = new Set(sessions.map((s) => s.labels[0]!.scenario));
    assert.deepEqual([...kinds].sort(), [...SCENARIO_NAMES].sort());
    const attacks = sessions.filter((s) => isAttackScenario(s.labels[0]!.scenario as never)).length;
    assert.ok(attacks / 3000 > 0.08 && attacks / 3000 < 0.12, `attack share ${attacks / 3000}`);
    assert.ok(Object.values(DEFAULT_MIX).every((w) => w > 0));
  });

  it('spreads session starts over spanMs from start', () => {
    const start = Date.UTC(2025, 5, 2, 9);
    const s = simulate({ seed: 1, sessions: 200, start, spanMs: 10 * 60_000 });
    const logins = s.events.filter((e) => e.action === 'login').map((e) => e.ts);
    assert.ok(Math.min(...logins) >= start && Math.max(...logins) < start + 10 * 60_000);
    assert.ok(Math.max(...logins) - Math.min(...logins) > 5 * 60_000);
  });

  it('gives sessions and users realistic ids', () => {
    for (const e of sim.events.slice(0, 500)) {
      assert.match(
        e.user_id,
        /^(u-\d{5}|[a-z]+\.[a-z]+\d*@example\.com|svc-[a-z-]+(-\d+)?@example\.com)$/,
        e.user_id,
      );
    }
  });

  it('rejects bad options with CONFIG_INVALID naming the option', () => {
    const bad: [object, RegExp][] = [
      [{ sessions: -1 }, /sessions/],
      [{ sessions: 1.5 }, /sessions/],
      [{ sessions: 1, attackRate: 2 }, /attackRate/],
      [{ sessions: 1, spanMs: -5 }, /spanMs/],
      [{ sessions: 1, mix: { nope: 1 } }, /unknown scenario "nope"/],
      [{ sessions: 1, mix: { office_worker: -1 } }, /mix\.office_worker/],
      [{ sessions: 1, mix: { office_worker: 0 } }, /no scenario/],
    ];
    for (const [opts, msg] of bad) {
      assert.throws(
        () => simulate(opts as never),
        (err: unknown) =>
          err instanceof RiskStreamError && err.code === 'CONFIG_INVALID' && msg.test(err.message),
      );
    }
    assert.deepEqual(simulate({ sessions: 0 }), { events: [], labels: [] });
  });
});

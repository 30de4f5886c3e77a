import assert from 'node:assert/strict';
import { liveTraffic, type LiveEvent } from '../../../src/sim/live';
import { assertValidAction } from './helpers';

/** Active timers, counted after a turn of the event loop (mocha arms its own test timer late). */
async function timers(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('sim/live', () => {
  it('yields about rate events/s, stamped near now, then stops cleanly on return()', async () => {
    const before = await timers();
    const rate = 200;
    const it = liveTraffic({ seed: 1, rate, attackRate: 0.3 });
    const got: LiveEvent[] = [];
    const t0 = Date.now();
    for (;;) {
      const r = await it.next();
      assert.equal(r.done, false);
      got.push(r.value as LiveEvent);
      if (Date.now() - t0 >= 2_000) break;
    }
    const elapsed = (Date.now() - t0) / 1000;
    const done = await it.return!();
    assert.equal(done.done, true);
    assert.equal((await it.next()).done, true, 'stays finished');
    const perSecond = got.length / elapsed;
    assert.ok(perSecond > rate * 0.7 && perSecond < rate * 1.3, `${perSecond.toFixed(0)} events/s`);
    for (const { event, label } of got) {
      assertValidAction(event);
      assert.equal(label.event_id, event.event_id);
      assert.equal(label.session_id, event.session_id);
      assert.ok(Math.abs(event.ts - Date.now()) < 5_000);
    }
    const first = new Map<string, string>();
    for (const { event } of got) if (!first.has(event.session_id)) first.set(event.session_id, event.action);
    assert.ok(
      [...first.values()].every((a) => a === 'login'),
      'sessions start with login',
    );
    assert.ok(first.size > 20, 'a pool of concurrent sessions');
    assert.equal(await timers(), before, 'no timers left behind');
  });

  it('keeps each session in order with its original gaps or longer', async () => {
    const it = liveTraffic({ seed: 2, rate: 500, maxSessions: 50 });
    const last = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const { event } = (await it.next()).value as LiveEvent;
      assert.ok(event.ts >= (last.get(event.session_id) ?? 0));
      last.set(event.session_id, event.ts);
    }
    assert.ok(last.size <= 50 + 1);
    await it.return!();
  });

  it('ends a pending next() when return() is called mid-wait, and on abort', async () => {
    const before = await timers();
    const it = liveTraffic({ seed: 3, rate: 0.5 });
    await it.next(); // the first slot is now; the next is 2 s away
    const pending = it.next();
    await it.return!();
    assert.equal((await pending).done, true);
    const ac = new AbortController();
    const it2 = liveTraffic({ seed: 3, rate: 0.5, signal: ac.signal });
    await it2.next();
    const pending2 = it2.next();
    ac.abort();
    assert.equal((await pending2).done, true);
    assert.equal(await timers(), before);
  });

  it('does not drift: slots are scheduled by absolute time, lag is not repaid in a burst', async () => {
    let fake = 1_000_000;
    const it = liveTraffic({ seed: 4, rate: 1000, now: () => fake });
    for (let i = 0; i < 10; i++) {
      await it.next();
      fake += 1; // exactly on schedule: never sleeps
    }
    fake += 60_000; // consumer away for a minute
    const a = (await it.next()).value as LiveEvent;
    assert.equal(a.event.ts, fake);
    await it.return!();
  });

  it('rejects a bad rate', () => {
    assert.throws(() => liveTraffic({ rate: 0 }), /rate/);
  });
});

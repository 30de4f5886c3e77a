import assert from 'node:assert/strict';
import type { SessionAction } from '../../../src/contract';
import { distanceKm } from '../../../src/sim/geo';
import { NETWORKS, type NetClass } from '../../../src/sim/networks';
import { ATTACK_SCENARIOS, BENIGN_SCENARIOS } from '../../../src/sim/types';
import { fingerprint, sessionsFor, type SimSession } from './helpers';

const CLASS = new Map<number, NetClass>(NETWORKS.map((n) => [n.asn, n.cls]));
const classOf = (e: SessionAction) => CLASS.get(e.client.asn ?? -1);
const where = (e: SessionAction) => ({ lat: e.client.lat!, lon: e.client.lon! });

/** km/h between two events, a minute at least (as the features compute it). */
function speed(a: SessionAction, b: SessionAction): number {
  return distanceKm(where(a), where(b)) / (Math.max(60_000, b.ts - a.ts) / 3_600_000);
}

/** The victim's last event before takeover and the attacker's events. */
function split(s: SimSession) {
  const first = s.labels.findIndex((l) => l.actor === 'attacker');
  const victim = s.events.slice(0, first);
  const attacker = s.events.filter((_, i) => s.labels[i]!.actor === 'attacker');
  return { first, victim, attacker, lastVictim: victim.at(-1)! };
}

describe('sim/scenarios', () => {
  describe('labels', () => {
    for (const name of BENIGN_SCENARIOS) {
      it(`${name}: every event benign, performed by the user`, () => {
        for (const s of sessionsFor(name, 30)) {
          for (const l of s.labels) {
            assert.deepEqual([l.label, l.actor, l.attack_started, l.scenario], [0, 'user', false, name]);
          }
        }
      });
    }

    for (const name of ATTACK_SCENARIOS.filter((n) => n !== 'insider_export')) {
      it(`${name}: attacker events labelled 1, after at least one benign event`, () => {
        for (const s of sessionsFor(name)) {
          const { first } = split(s);
          assert.ok(first >= 2, `${s.id}: takeover at ${first}`);
          s.labels.forEach((l, i) => {
            assert.equal(l.label, l.actor === 'attacker' ? 1 : 0);
            assert.equal(l.attack_started, i >= first);
            assert.equal(l.scenario, name);
          });
          assert.equal(s.events[0]!.action, 'login');
          assert.ok(
            s.events.slice(first).some((e) => e.action !== 'view' && e.action !== 'search'),
            'does something',
          );
        }
      });
    }
  });

  it('replay_foreign: another country, hosting/proxy/foreign ISP, not the victim client or device', () => {
    for (const s of sessionsFor('replay_foreign')) {
      const { attacker, lastVictim: v } = split(s);
      for (const e of attacker) {
        assert.notEqual(e.client.country, v.client.country);
        assert.ok(['hosting', 'proxy', 'residential', 'mobile'].includes(classOf(e)!));
        assert.ok(e.client.user_agent !== v.client.user_agent, 'own client');
        assert.notEqual(e.client.device_id, v.client.device_id);
      }
    }
  });

  it("replay_ua_copied: the victim's exact UA with a different JA4, ASN and device", () => {
    for (const s of sessionsFor('replay_ua_copied')) {
      const { attacker, lastVictim: v } = split(s);
      for (const e of attacker) {
        assert.equal(e.client.user_agent, v.client.user_agent);
        assert.notEqual(e.client.ja4, v.client.ja4);
        assert.notEqual(e.client.asn, v.client.asn);
        assert.notEqual(e.client.device_id, v.client.device_id);
      }
    }
  });

  it('replay_same_isp: same ASN, country and city; UA copied; JA4 and device differ', () => {
    for (const s of sessionsFor('replay_same_isp')) {
      const { attacker, lastVictim: v } = split(s);
      for (const e of attacker) {
        assert.equal(e.client.asn, v.client.asn);
        assert.equal(e.client.country, v.client.country);
        assert.ok(distanceKm(where(e), where(v)) < 25);
        assert.notEqual(e.client.ip, v.client.ip);
        assert.equal(e.client.user_agent, v.client.user_agent);
        assert.notEqual(e.client.ja4, v.client.ja4);
        assert.notEqual(e.client.device_id, v.client.device_id);
      }
    }
  });

  it('replay_cloned_profile: UA, JA4 and device copied; far away after an idle gap', () => {
    for (const s of sessionsFor('replay_cloned_profile')) {
      const { attacker, lastVictim: v } = split(s);
      const a = attacker[0]!;
      assert.ok(a.ts - v.ts >= 20 * 60_000, 'idle gap');
      assert.ok(speed(v, a) > 1000, `implied ${speed(v, a)} km/h`);
      for (const e of attacker) {
        assert.equal(e.client.user_agent, v.client.user_agent);
        assert.equal(e.client.ja4, v.client.ja4);
        assert.equal(e.client.device_id, v.client.device_id);
        assert.equal(e.client.accept_language, v.client.accept_language);
        assert.notEqual(e.client.asn, v.client.asn);
      }
    }
  });

  it('replay_concurrent: victim and attacker interleave with two fingerprints', () => {
    for (const s of sessionsFor('replay_concurrent')) {
      const { first, lastVictim: v } = split(s);
      const after = s.labels.slice(first - 1, first + 5).map((l) => l.actor);
      assert.deepEqual(after, ['user', 'attacker', 'user', 'attacker', 'user', 'attacker']);
      const fps = new Set(s.events.slice(first - 1, first + 5).map(fingerprint));
      assert.equal(fps.size, 2);
      assert.ok(
        s.labels.slice(first).some((l) => l.actor === 'user'),
        'victim keeps working',
      );
      assert.notEqual(s.events[first]!.client.ip, v.client.ip);
    }
  });

  it('insider_export: a contractor with a valid fingerprint exporting tens of thousands of records', () => {
    for (const s of sessionsFor('insider_export')) {
      assert.equal(new Set(s.events.map(fingerprint)).size, 1);
      assert.ok(s.events.every((e) => e.principal_type === 'CONTRACTOR'));
      const bad = s.events.filter((_, i) => s.labels[i]!.label === 1);
      assert.ok(bad.length >= 4 && bad.every((e) => e.action === 'export'));
      assert.ok(bad.reduce((n, e) => n + e.records!, 0) >= 8_000);
      assert.ok(s.labels.every((l) => l.actor === 'user'));
      assert.equal(s.labels[0]!.label, 0);
    }
  });

  it('replay_residential_proxy: victim country, another residential ISP, UA copied, human pace', () => {
    let tlsCopied = 0;
    for (const s of sessionsFor('replay_residential_proxy')) {
      const { attacker, lastVictim: v } = split(s);
      for (const e of attacker) {
        assert.equal(classOf(e), 'residential');
        assert.equal(e.client.country, s.events[0]!.client.country);
        assert.notEqual(e.client.asn, v.client.asn);
        assert.equal(e.client.user_agent, v.client.user_agent);
        assert.equal(e.client.accept_language, v.client.accept_language);
      }
      if (attacker[0]!.client.ja4 === v.client.ja4) tlsCopied++;
      const gaps = attacker.slice(1).map((e, i) => e.ts - attacker[i]!.ts);
      assert.ok(Math.max(...gaps, 1000) >= 1000, 'not a script');
    }
    assert.ok(tlsCopied > 40 && tlsCopied < 95, `JA4 copied in ${tlsCopied} of 100`);
  });

  it('sase_roaming: the SASE egress moves, maybe across a border; ASN, client and device stay', () => {
    let crossed = 0;
    for (const s of sessionsFor('sase_roaming')) {
      const first = s.events[0]!;
      assert.ok(new Set(s.events.map((e) => e.client.ip)).size > 1, 'egress moved');
      for (const e of s.events) {
        assert.equal(classOf(e), 'corporate_vpn');
        assert.equal(e.client.asn, first.client.asn);
        assert.equal(e.client.user_agent, first.client.user_agent);
        assert.equal(e.client.device_id, first.client.device_id);
      }
      if (new Set(s.events.map((e) => e.client.country)).size > 1) crossed++;
    }
    assert.ok(crossed > 10, `sessions whose egress changed country: ${crossed}`);
  });

  it('long_session: hours long with idle gaps of an hour or more, same laptop, network changes', () => {
    for (const s of sessionsFor('long_session')) {
      const first = s.events[0]!;
      const hours = (s.events.at(-1)!.ts - first.ts) / 3_600_000;
      assert.ok(hours >= 2, `lasted ${hours} h`);
      const gaps = s.events.slice(1).map((e, i) => e.ts - s.events[i]!.ts);
      assert.ok(Math.max(...gaps) >= 60 * 60_000);
      assert.ok(new Set(s.events.map((e) => e.client.asn)).size === 2, 'office then home');
      assert.equal(new Set(s.events.map((e) => e.client.device_id)).size, 1);
      assert.equal(new Set(s.events.map((e) => e.client.user_agent)).size, 1);
    }
  });

  it('analyst: one fingerprint, exports of a few thousand records at most', () => {
    for (const s of sessionsFor('analyst')) {
      assert.equal(new Set(s.events.map(fingerprint)).size, 1);
      const exported = s.events.filter((e) => e.action === 'export');
      assert.ok(exported.length >= 1);
      assert.ok(exported.every((e) => e.records! >= 100 && e.records! <= 9_000));
    }
  });

  it('office_worker: one fingerprint per session', () => {
    for (const s of sessionsFor('office_worker')) assert.equal(new Set(s.events.map(fingerprint)).size, 1);
  });

  it('mobile_user: the address moves but stays on mobile carriers, in the city, on one phone', () => {
    let moved = 0;
    for (const s of sessionsFor('mobile_user')) {
      const first = s.events[0]!;
      for (const e of s.events) {
        assert.equal(classOf(e), 'mobile');
        assert.equal(e.client.country, first.client.country);
        assert.equal(e.client.user_agent, first.client.user_agent);
        assert.equal(e.client.device_id, first.client.device_id);
        assert.ok(distanceKm(where(e), where(first)) < 15);
      }
      if (new Set(s.events.map((e) => e.client.ip)).size > 1) moved++;
    }
    assert.ok(moved > 20, `sessions with a new address: ${moved}`);
  });

  it('vpn_toggler: home ISP and corporate VPN alternate on the same device and client', () => {
    for (const s of sessionsFor('vpn_toggler')) {
      const first = s.events[0]!;
      const classes = new Set(s.events.map(classOf));
      assert.deepEqual([...classes].sort(), ['corporate_vpn', 'residential']);
      for (const e of s.events) {
        assert.equal(e.client.user_agent, first.client.user_agent);
        assert.equal(e.client.ja4, first.client.ja4);
        assert.equal(e.client.device_id, first.client.device_id);
      }
      for (let i = 1; i < s.events.length; i++) assert.ok(speed(s.events[i - 1]!, s.events[i]!) < 300);
    }
  });

  it('browser_update: one version bump, same device, JA4 sometimes changes with it', () => {
    let ja4Changed = 0;
    for (const s of sessionsFor('browser_update')) {
      const uas = [...new Set(s.events.map((e) => e.client.user_agent))];
      assert.equal(uas.length, 2);
      assert.equal(new Set(s.events.map((e) => e.client.device_id)).size, 1);
      if (new Set(s.events.map((e) => e.client.ja4)).size === 2) ja4Changed++;
    }
    assert.ok(ja4Changed > 5 && ja4Changed < 55, `JA4 changed in ${ja4Changed}`);
  });

  it('traveler: moves between cities at plausible speeds', () => {
    let travelled = 0;
    for (const s of sessionsFor('traveler')) {
      for (let i = 1; i < s.events.length; i++) assert.ok(speed(s.events[i - 1]!, s.events[i]!) < 300);
      if (distanceKm(where(s.events[0]!), where(s.events.at(-1)!)) > 50) travelled++;
    }
    assert.ok(travelled > 30, `travelled: ${travelled}`);
  });

  it('service_account: a SERVICE principal, scripted client on a cloud host, stable, no MFA', () => {
    for (const s of sessionsFor('service_account')) {
      assert.equal(new Set(s.events.map(fingerprint)).size, 1);
      const e = s.events[0]!;
      assert.equal(e.principal_type, 'SERVICE');
      assert.equal(e.mfa, false);
      assert.equal(e.client.device_id, null);
      assert.equal(classOf(e), 'hosting');
      assert.doesNotMatch(e.client.user_agent, /^Mozilla/);
      assert.ok(s.events.length > 15);
    }
  });

  it('admin, approver, contractor, power_user: their kind of work', () => {
    const admin = sessionsFor('admin').flatMap((s) => s.events);
    assert.ok(admin.every((e) => e.principal_type === 'ADMIN' && (e.action !== 'login' || e.mfa === true)));
    assert.ok(
      admin.some((e) => e.action === 'permission_change') && admin.some((e) => e.action === 'config_change'),
    );
    for (const s of sessionsFor('approver')) {
      assert.ok(s.events.every((e) => e.app === 'workday'));
      assert.ok(s.events.filter((e) => e.action === 'approve').length >= 4);
    }
    for (const s of sessionsFor('contractor')) {
      const exported = s.events.filter((e) => e.action === 'export');
      assert.ok(exported.length >= 1 && exported.every((e) => e.records! <= 2000));
      assert.ok(s.events.every((e) => e.principal_type === 'CONTRACTOR'));
    }
    for (const s of sessionsFor('power_user')) {
      const quick = s.events.filter((e, i) => i > 0 && e.ts - s.events[i - 1]!.ts < 2_000).length;
      assert.ok(quick / s.events.length > 0.3, `quick ${quick}/${s.events.length}`);
    }
  });

  it('think times run from seconds to minutes, with occasional idle gaps', () => {
    const gaps = sessionsFor('office_worker', 300).flatMap((s) =>
      s.events.slice(1).map((e, i) => e.ts - s.events[i]!.ts),
    );
    const sorted = gaps.sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.floor(p * (sorted.length - 1))]!;
    assert.ok(q(0.1) >= 1_000 && q(0.1) < 10_000, `p10 ${q(0.1)}`);
    assert.ok(q(0.9) > 30_000 && q(0.9) < 5 * 60_000, `p90 ${q(0.9)}`);
    const idle = gaps.filter((g) => g >= 20 * 60_000 && g <= 60 * 60_000).length;
    assert.ok(idle / gaps.length > 0.01 && idle / gaps.length < 0.06, `idle share ${idle / gaps.length}`);
  });
});

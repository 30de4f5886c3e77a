import assert from 'node:assert/strict';
import {
  FEATURE_COUNT,
  FEATURE_INDEX,
  FEATURE_NAMES,
  extractBatch,
  interleaveCount,
  travelSpeedKmh,
  uaShape,
  type FeatureName,
} from '../../../src/features/extract';
import type { FingerprintSnapshot, SessionAction, WindowView } from '../../../src/contract';
import { distanceKm } from '../../../src/features/geo';
import { action, steadyView } from '../../helpers/fixtures';

const feature = (x: Float32Array, name: FeatureName, row = 0) => x[row * FEATURE_COUNT + FEATURE_INDEX[name]];

describe('features/extract', () => {
  it('has unique names and one index each', () => {
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_COUNT);
  });

  it('a steady session has nothing unusual: drift features are all 0', () => {
    const a = action();
    const x = extractBatch([{ view: steadyView(a), action: a }]);
    for (const name of [
      'ua_changed_base',
      'ja4_changed_base',
      'device_changed_base',
      'new_ua',
      'new_ja4',
      'new_device',
      'asn_changed_prev',
      'country_changed_prev',
      'ip_changed_prev',
      'travel_speed',
      'distance_prev',
      'distinct_fingerprints',
      'fingerprint_interleave',
      'new_fingerprint',
      'first_event',
      'scripted_client',
    ] as FeatureName[]) {
      assert.equal(feature(x, name), 0, name);
    }
    for (const v of x) assert.ok(v >= 0 && v <= 1);
  });

  it('a replayed token from another country with a scripted client lights up the drift features', () => {
    const victim = action();
    const attacker = action({
      client: {
        ip: '185.220.101.4',
        asn: 9009,
        country: 'RO',
        lat: 44.43,
        lon: 26.1,
        user_agent: 'python-requests/2.31.0',
        ja4: 't13d191000_9dc949149365_e7c285222651',
        device_id: null,
      },
      ts: victim.ts,
    });
    const view = steadyView(victim, {
      seen: { fp: false, ua: false, ja4: false, dev: false, asn: false, country: false },
      distinct: { fp: 2, ua: 2, ja4: 2, dev: 2, asn: 2, country: 2 },
    });
    const x = extractBatch([{ view, action: attacker }]);
    for (const name of [
      'ua_changed_base',
      'ja4_changed_base',
      'device_changed_base',
      'new_device',
      'asn_changed_prev',
      'country_changed_prev',
      'new_fingerprint',
      'scripted_client',
    ] as FeatureName[]) {
      assert.equal(feature(x, name), 1, name);
    }
    assert.ok(feature(x, 'travel_speed')! > 0.8, 'New York to Bucharest in a minute');
  });

  it('the first event of a session is only marked as first', () => {
    const a = action();
    const view = steadyView(a, {
      n: 0,
      prev: null,
      firstTs: null,
      lastTs: null,
      seen: { fp: false, ua: false, ja4: false, dev: false, asn: false, country: false },
    });
    const x = extractBatch([{ view, action: a }]);
    assert.equal(feature(x, 'first_event'), 1);
    assert.equal(feature(x, 'new_device'), 0);
    assert.equal(feature(x, 'idle_gap'), 0);
  });

  it('counts returns to an earlier fingerprint', () => {
    assert.equal(interleaveCount(['a', 'a', 'a']), 0);
    assert.equal(interleaveCount(['a', 'b', 'b']), 0);
    assert.equal(interleaveCount(['a', 'b', 'a', 'b']), 2);
    assert.equal(interleaveCount(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']), 6);
  });

  it('travel speed: New York to London in an hour is impossible, in 8 hours plausible', () => {
    const a = action({ client: { lat: 51.5074, lon: -0.1278 } });
    const km = distanceKm(40.7128, -74.006, 51.5074, -0.1278);
    assert.ok(km > 5500 && km < 5600, `distance ${km}`);
    const prev = steadyView(a).prev!;
    const fast = travelSpeedKmh(
      steadyView(a, { prev: { ...prev, lat: 40.7128, lon: -74.006, ts: a.ts - 3_600_000 } }),
      a,
    );
    const slow = travelSpeedKmh(
      steadyView(a, { prev: { ...prev, lat: 40.7128, lon: -74.006, ts: a.ts - 8 * 3_600_000 } }),
      a,
    );
    assert.ok(fast! > 5000);
    assert.ok(slow! < 800);
    assert.equal(travelSpeedKmh(steadyView(a, { prev: { ...prev, lat: null } }), a), null);
  });

  it('export volume and sensitive bursts scale into (0, 1]', () => {
    const a = action({ action: 'export', records: 50_000 });
    const view = steadyView(a, {
      counts: {
        m1: { all: 30, sensitive: 10, exports: 10, exported: 200_000 },
        m10: { all: 60, sensitive: 20, exports: 20, exported: 400_000 },
        session: { all: 70, sensitive: 20, exports: 20, exported: 400_000 },
      },
    });
    const x = extractBatch([{ view, action: a }]);
    assert.equal(feature(x, 'action_sensitive'), 1);
    assert.ok(feature(x, 'action_export_records')! > 0.7);
    assert.ok(feature(x, 'exported_session')! > 0.9);
    assert.ok(feature(x, 'sensitive_1m')! > 0.7);
  });

  describe('v2: which parts changed together, and what kind of network', () => {
    const CHROME_130 =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';
    const one = (a: SessionAction, view: WindowView) => extractBatch([{ view, action: a }]);
    /** `a` with the previous (and first) event's fingerprint patched. */
    const after = (a: SessionAction, patch: Partial<FingerprintSnapshot>) => {
      const base = steadyView(a);
      const prev = { ...base.prev!, ...patch };
      return steadyView(a, { prev, baseline: prev });
    };

    it('a browser update (UA version and JA4 together, same device and network) is ua_update', () => {
      const a = action();
      const x = one(a, after(a, { ua: CHROME_130, ja4: 't13d1516h2_8daaf6152771_02713d6af862' }));
      assert.equal(feature(x, 'ua_update'), 1);
      assert.equal(feature(x, 'ua_family_changed'), 0);
      assert.equal(feature(x, 'ja4_alone_changed'), 0);
      assert.equal(uaShape(CHROME_130), uaShape(a.client.user_agent));
    });

    it('the same UA on another TLS stack is ja4_alone_changed; another browser is ua_family_changed', () => {
      const a = action();
      const tls = one(a, after(a, { ja4: 't13d191000_9dc949149365_e7c285222651' }));
      assert.equal(feature(tls, 'ja4_alone_changed'), 1);
      assert.equal(feature(tls, 'ua_update'), 0);
      const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
      const other = one(a, after(a, { ua: firefox }));
      assert.equal(feature(other, 'ua_family_changed'), 1);
      assert.equal(feature(other, 'ua_update'), 0);
    });

    it('network classes: a cloud host, a class change, one ISP to another', () => {
      const a = action({ client: { asn: 16509 } }); // Amazon
      const x = one(a, after(a, { asn: 7922 })); // from Comcast
      assert.equal(feature(x, 'net_hosting'), 1);
      assert.equal(feature(x, 'net_class_changed'), 1);
      assert.equal(feature(x, 'isp_switch'), 0);
      const b = action({ client: { asn: 7018 } }); // AT&T broadband
      const y = one(b, after(b, { asn: 7922 }));
      assert.deepEqual(
        [feature(y, 'net_hosting'), feature(y, 'net_class_changed'), feature(y, 'isp_switch')],
        [0, 0, 1],
      );
    });

    it('a jump on one network (a SASE egress move) is not travel across networks', () => {
      const a = action({ client: { asn: 22616, lat: 51.5074, lon: -0.1278 } }); // Zscaler, London
      const x = one(a, after(a, { asn: 22616, lat: 50.11, lon: 8.68, ip: '165.225.72.9' })); // Frankfurt
      assert.equal(feature(x, 'same_network_jump'), 1);
      assert.equal(feature(x, 'travel_speed_new_network'), 0);
      assert.ok(feature(x, 'travel_speed')! > 0.5);
      const y = one(a, after(a, { asn: 7922, lat: 40.7128, lon: -74.006, ip: '73.1.2.3' }));
      assert.equal(feature(y, 'same_network_jump'), 0);
      assert.ok(feature(y, 'travel_speed_new_network')! > 0.8);
    });

    it('a new address after an idle gap is change_after_idle', () => {
      const a = action();
      const base = steadyView(a);
      const idle = steadyView(a, { lastTs: a.ts - 40 * 60_000, prev: { ...base.prev!, ip: '10.9.9.9' } });
      assert.equal(feature(one(a, idle), 'change_after_idle'), 1);
      const busy = steadyView(a, { prev: { ...base.prev!, ip: '10.9.9.9' } });
      assert.equal(feature(one(a, busy), 'change_after_idle'), 0);
    });

    it("an export against the session's earlier exports; critical actions", () => {
      const a = action({ action: 'export', records: 8_000 });
      const counts = (exportCount: number, exported: number) => ({
        all: 10,
        sensitive: exportCount,
        exports: exportCount,
        exported,
      });
      const view = steadyView(a, {
        counts: { m1: counts(1, 8_000), m10: counts(3, 8_200), session: counts(3, 8_200) },
      });
      const x = one(a, view);
      assert.ok(feature(x, 'export_vs_session')! > 0.9, '8000 against an average of 100');
      assert.ok(feature(x, 'exports_10m')! > 0.2);
      const first = steadyView(a, {
        counts: { m1: counts(1, 8_000), m10: counts(1, 8_000), session: counts(1, 8_000) },
      });
      assert.equal(feature(one(a, first), 'export_vs_session'), 0, 'no usual to compare with');
      const token = action({ action: 'api_token_create' });
      assert.equal(feature(one(token, steadyView(token)), 'critical_action'), 1);
      assert.equal(feature(x, 'critical_action'), 0);
    });
  });
});

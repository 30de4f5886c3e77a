import assert from 'node:assert/strict';
import {
  FEATURE_COUNT,
  FEATURE_INDEX,
  FEATURE_NAMES,
  extractBatch,
  interleaveCount,
  travelSpeedKmh,
  type FeatureName,
} from '../../../src/features/extract';
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
});

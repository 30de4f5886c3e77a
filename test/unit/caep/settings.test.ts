import assert from 'node:assert/strict';
import { caepSettings } from '../../../src/caep/settings';

describe('caep/settings', () => {
  it('has defaults, durations in ms', () => {
    const s = caepSettings.parse({});
    assert.equal(s.enabled, false);
    assert.equal(s.alg, 'ES256');
    assert.deepEqual(s.receivers, []);
    assert.equal(s.retryInitial, 1000);
    assert.equal(s.retryMax, 300_000);
    assert.equal(s.pushTimeout, 5000);
    assert.equal(s.pollInterval, 250);
    assert.equal(s.deliveredTtl, 7 * 86_400_000);
    assert.equal(s.issuer, undefined);
  });

  it('reads receivers from a JSON string (an environment variable)', () => {
    const s = caepSettings.parse({
      receivers: JSON.stringify([{ url: 'https://idp/caep', audience: 'idp', events: ['session-revoked'] }]),
    });
    assert.deepEqual(s.receivers, [
      { url: 'https://idp/caep', audience: 'idp', events: ['session-revoked'] },
    ]);
  });

  it('refuses duplicate audiences, non-http URLs, unknown events and unknown receiver fields', () => {
    const bad = [
      {
        receivers: [
          { url: 'http://a', audience: 'x' },
          { url: 'http://b', audience: 'x' },
        ],
      },
      { receivers: [{ url: 'ftp://a', audience: 'x' }] },
      { receivers: [{ url: 'http://a', audience: 'x', events: ['risk-level-change'] }] },
      { receivers: [{ url: 'http://a', audience: 'x', token: 'y' }] },
      { receivers: [{ url: 'http://a', audience: '' }] },
      { issuer: 'not a url' },
      { alg: 'HS256' },
    ];
    for (const input of bad)
      assert.equal(caepSettings.safeParse(input).success, false, JSON.stringify(input));
  });
});

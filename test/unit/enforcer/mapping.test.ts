import assert from 'node:assert/strict';
import {
  clientInfo,
  fingerprint,
  plainIp,
  routeAction,
  trustList,
} from '../../../src/enforcer/example/mapping';
import { bearerToken, signToken, verifyToken, type TokenClaims } from '../../../src/enforcer/example/token';

const q = (s = '') => new URLSearchParams(s);

describe('enforcer/example mapping', () => {
  it('routeAction: the toy app route table', () => {
    const table: [
      string,
      string,
      string,
      { action: string; resource: string | null; records: number | null },
    ][] = [
      ['GET', '/records', '', { action: 'view', resource: 'records', records: null }],
      ['GET', '/export', 'rows=250', { action: 'export', resource: 'records', records: 250 }],
      ['GET', '/export', '', { action: 'export', resource: 'records', records: 100 }],
      ['GET', '/export', 'rows=lots', { action: 'export', resource: 'records', records: null }],
      ['POST', '/approve/inv%2042', '', { action: 'approve', resource: 'inv 42', records: null }],
      ['POST', '/admin/config', '', { action: 'config_change', resource: 'config', records: null }],
      ['POST', '/step-up', '', { action: 'step_up', resource: null, records: null }],
      ['POST', '/logout', '', { action: 'logout', resource: null, records: null }],
      ['POST', '/login', '', { action: 'login', resource: null, records: null }],
      ['GET', '/elsewhere', '', { action: 'view', resource: '/elsewhere', records: null }],
      ['DELETE', '/records', '', { action: 'update', resource: '/records', records: null }],
      ['GET', '/approve/1', '', { action: 'view', resource: '/approve/1', records: null }],
    ];
    for (const [method, path, query, expected] of table) {
      assert.deepEqual(routeAction(method, path, q(query)), expected, `${method} ${path}?${query}`);
    }
  });

  it('trustList: addresses and CIDRs, IPv4-mapped IPv6 included', () => {
    const trusted = trustList(['10.0.0.0/8', '192.0.2.7', '::1']);
    assert.equal(trusted('10.1.2.3'), true);
    assert.equal(trusted('::ffff:10.1.2.3'), true);
    assert.equal(trusted('192.0.2.7'), true);
    assert.equal(trusted('192.0.2.8'), false);
    assert.equal(trusted('::1'), true);
    assert.equal(trusted('not an ip'), false);
    assert.throws(() => trustList(['example.com']), /not an IP address/);
    assert.equal(plainIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(plainIp('2001:db8::1'), '2001:db8::1');
  });

  const headers = {
    'user-agent': 'Mozilla/5.0 Test',
    'x-ja4': 't13d1516h2_8daaf6152771_02713d6af862',
    'x-device-id': 'dev-9',
    'x-client-asn': '7922',
    'x-client-country': 'us',
    'x-client-lat': '40.7',
    'x-client-lon': '-74.0',
    'accept-language': 'en-US,en;q=0.9',
  };

  it('clientInfo: edge headers from a trusted hop', () => {
    assert.deepEqual(clientInfo('::ffff:203.0.113.9', headers, true), {
      ip: '203.0.113.9',
      asn: 7922,
      country: 'US',
      lat: 40.7,
      lon: -74,
      user_agent: 'Mozilla/5.0 Test',
      ja4: 't13d1516h2_8daaf6152771_02713d6af862',
      device_id: 'dev-9',
      accept_language: 'en-US,en;q=0.9',
    });
  });

  it('clientInfo: a client cannot set edge headers itself', () => {
    const c = clientInfo('203.0.113.9', headers, false);
    assert.deepEqual([c.asn, c.country, c.lat, c.lon, c.ja4], [null, null, null, null, null]);
    assert.equal(c.device_id, 'dev-9', 'the app-level device id is the client’s to send');
  });

  it('clientInfo: malformed values become null, long ones are cut to the engine limits', () => {
    const c = clientInfo(
      '203.0.113.9',
      {
        'x-client-asn': '-1',
        'x-client-country': 'USA',
        'x-client-lat': '91',
        'x-client-lon': 'east',
        'user-agent': 'A'.repeat(5000),
        'x-ja4': 'j'.repeat(100),
      },
      true,
    );
    assert.deepEqual([c.asn, c.country, c.lat, c.lon], [null, null, null, null]);
    assert.equal(c.user_agent.length, 2048);
    assert.equal(c.ja4?.length, 64);
    assert.equal(clientInfo('203.0.113.9', {}, true).user_agent, '');
  });

  it('fingerprint: ip, user agent, ja4 and device; not the geo headers', () => {
    const a = clientInfo('203.0.113.9', headers, true);
    assert.equal(fingerprint(a), fingerprint({ ...a, asn: 1, country: 'DE', accept_language: 'de' }));
    for (const change of [{ ip: '203.0.113.10' }, { user_agent: 'x' }, { ja4: 'y' }, { device_id: null }]) {
      assert.notEqual(fingerprint(a), fingerprint({ ...a, ...change }), JSON.stringify(change));
    }
  });
});

describe('enforcer/example token', () => {
  const claims: TokenClaims = { sid: 's-1', sub: 'alice', typ: 'EMPLOYEE', mfa: true, iat: 1 };

  it('round-trips and refuses anything not signed with the secret', () => {
    const t = signToken(claims, 'k1');
    assert.deepEqual(verifyToken(t, 'k1'), claims);
    assert.equal(verifyToken(t, 'k2'), null);
    const [v, body, sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, sid: 's-2' })).toString('base64url');
    assert.equal(verifyToken(`${v}.${forged}.${sig}`, 'k1'), null);
    assert.equal(verifyToken(`${v}.${body}`, 'k1'), null);
    assert.equal(verifyToken('garbage', 'k1'), null);
  });

  it('bearerToken', () => {
    assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
    assert.equal(bearerToken('bearer   abc '), 'abc');
    assert.equal(bearerToken('Basic abc'), null);
    assert.equal(bearerToken(undefined), null);
  });
});

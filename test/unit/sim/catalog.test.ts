import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { SENSITIVE_ACTIONS } from '../../../src/contract';
import { FAMILIES, makeAgent, upgraded, VERSIONS } from '../../../src/sim/agents';
import { APP_NAMES, APPS, ROLE_SPECS } from '../../../src/sim/apps';
import { CITIES, COUNTRIES, distanceKm } from '../../../src/sim/geo';
import { NETWORKS, randomIp } from '../../../src/sim/networks';
import { Rng } from '../../../src/sim/rng';

const JA4_SHAPE = /^[tq]\d{2}[di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/;

function inBlock(ip: string, cidr: string): boolean {
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const [base, len] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(len));
  const start = toInt(base);
  return start % size === 0 && toInt(ip) >= start && toInt(ip) < start + size;
}

describe('sim/catalog', () => {
  it('has countries with real-looking cities', () => {
    assert.ok(COUNTRIES.length >= 15);
    for (const c of CITIES) {
      assert.match(c.country, /^[A-Z]{2}$/);
      assert.ok(Math.abs(c.lat) <= 90 && Math.abs(c.lon) <= 180, c.name);
    }
    const km = (a: string, b: string) =>
      distanceKm(
        CITIES.find((c) => c.name === a)!,
        CITIES.find((c) => c.name === b)!,
      );
    assert.ok(Math.abs(km('New York', 'Philadelphia') - 130) < 10);
    assert.ok(Math.abs(km('London', 'Frankfurt') - 637) < 15);
  });

  it('draws addresses inside each network block, IPv6 where the network has it', () => {
    const r = new Rng(1);
    for (const n of NETWORKS) {
      assert.ok(n.v4.length > 0, `AS${n.asn}`);
      for (let i = 0; i < 20; i++) {
        const ip = randomIp(r, n);
        assert.equal(isIP(ip), 4, `AS${n.asn} ${ip}`);
        assert.ok(
          n.v4.some((b) => inBlock(ip, b)),
          `AS${n.asn} ${ip} outside ${n.v4.join(' ')}`,
        );
      }
      if (n.v6 !== null) assert.equal(isIP(randomIp(r, n, true)), 6, `AS${n.asn}`);
      if (n.cls === 'hosting' || n.cls === 'proxy' || n.cls === 'corporate_vpn') assert.ok(n.pops?.length);
    }
    const classes = new Set(NETWORKS.map((n) => n.cls));
    assert.deepEqual([...classes].sort(), ['corporate_vpn', 'hosting', 'mobile', 'proxy', 'residential']);
  });

  it('keeps an ASN in one class, so the class is a property of the ASN', () => {
    const cls = new Map<number, string>();
    for (const n of NETWORKS) {
      assert.equal(cls.get(n.asn) ?? n.cls, n.cls, `AS${n.asn}`);
      cls.set(n.asn, n.cls);
    }
  });

  it('gives every client a JA4 of the real shape, one family per TLS stack', () => {
    for (const f of FAMILIES) {
      for (const v of VERSIONS[f]) {
        const a = makeAgent(f, f === 'chrome_ios' || f === 'safari' ? 'ios' : 'windows', v);
        assert.match(a.ja4, JA4_SHAPE, `${f} ${v}`);
        assert.ok(a.ua.includes(v.split('.')[0] as string), `${f} ${v}: ${a.ua}`);
      }
    }
    const cipherHash = (ja4: string) => ja4.split('_')[1];
    for (const f of ['chrome', 'edge', 'firefox', 'safari'] as const) {
      const hashes = new Set(VERSIONS[f].map((v) => cipherHash(makeAgent(f, 'macos', v).ja4)));
      assert.equal(hashes.size, 1, `${f}: one cipher suite family across versions`);
    }
    assert.equal(makeAgent('edge', 'windows', '126').ja4, makeAgent('chrome', 'windows', '126').ja4);
    assert.equal(makeAgent('headless_chrome', 'linux', '125').ja4, makeAgent('chrome', 'linux', '125').ja4);
    assert.notEqual(makeAgent('chrome', 'windows', '125').ja4, makeAgent('chrome', 'windows', '126').ja4);
    assert.equal(makeAgent('chrome', 'windows', '126').ja4, makeAgent('chrome', 'windows', '127').ja4);
    assert.equal(makeAgent('chrome_ios', 'ios', '126').ja4, makeAgent('safari', 'ios', '17.5').ja4);
  });

  it('writes User-Agents the way the browsers do', () => {
    assert.equal(
      makeAgent('chrome', 'windows', '126').ua,
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    );
    assert.equal(
      makeAgent('firefox', 'macos', '127').ua,
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0',
    );
    assert.match(
      makeAgent('safari', 'ios', '17.5').ua,
      /iPhone OS 17_5_1 .* Version\/17\.5 Mobile\/15E148 Safari\/604\.1$/,
    );
    assert.equal(makeAgent('python_requests', 'server', '2.32.3').ua, 'python-requests/2.32.3');
    assert.equal(upgraded(makeAgent('chrome', 'macos', '125'))?.version, '126');
    assert.equal(upgraded(makeAgent('chrome', 'macos', '127')), null);
  });

  it('lists apps whose sensitive actions are the contract sensitive actions', () => {
    for (const name of APP_NAMES) {
      const app = APPS[name];
      assert.ok(app.sensitive.length > 0);
      for (const s of app.sensitive) assert.ok(SENSITIVE_ACTIONS.has(s), `${name}: ${s}`);
      for (const [a] of app.everyday) assert.ok(!SENSITIVE_ACTIONS.has(a), `${name}: ${a}`);
    }
    for (const spec of Object.values(ROLE_SPECS))
      for (const [a] of spec.apps) assert.ok(APP_NAMES.includes(a));
  });
});

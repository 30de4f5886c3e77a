import assert from 'node:assert/strict';
import type { DeadLetterCode } from '../../../src/contract';
import { DEFAULT_INPUT_LIMITS, validateAction } from '../../../src/ingest/validate';
import { action } from '../../helpers/fixtures';

const NOW = 1_760_000_060_000;
const limits = DEFAULT_INPUT_LIMITS;

/** The action as a JSON object, with `edit` applied (set a value, or undefined to delete). */
function json(
  edit: Record<string, unknown> = {},
  clientEdit: Record<string, unknown> = {},
): Record<string, unknown> {
  const obj = JSON.parse(JSON.stringify(action())) as Record<string, unknown>;
  const client = obj.client as Record<string, unknown>;
  const apply = (target: Record<string, unknown>, changes: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) delete target[k];
      else target[k] = v;
    }
  };
  apply(obj, edit);
  apply(client, clientEdit);
  return obj;
}

describe('validateAction', () => {
  it('accepts a valid action and returns a fresh normalised copy', () => {
    const input = json({ extra: 'ignored' }, { tls: '1.3' });
    const r = validateAction(input, limits, NOW);
    assert.ok(r.ok);
    assert.notEqual(r.action, input);
    assert.notEqual(r.action.client, input.client);
    assert.equal('extra' in r.action, false);
    assert.equal('tls' in r.action.client, false);
    const { event_id, ...rest } = r.action;
    const { event_id: _, ...expected } = action();
    assert.deepEqual(rest, expected);
    assert.match(event_id, /^0{8}-/);
  });

  it('fills absent nullable fields with null', () => {
    const r = validateAction(
      json(
        { resource: undefined, records: undefined, mfa: undefined },
        {
          asn: undefined,
          country: undefined,
          lat: undefined,
          lon: undefined,
          ja4: undefined,
          device_id: undefined,
          accept_language: undefined,
        },
      ),
      limits,
      NOW,
    );
    assert.ok(r.ok);
    assert.deepEqual(
      [
        r.action.resource,
        r.action.records,
        r.action.mfa,
        r.action.client.asn,
        r.action.client.accept_language,
      ],
      [null, null, null, null, null],
    );
    assert.deepEqual(Object.keys(r.action.client).length, 9);
  });

  it('accepts the edges of every range', () => {
    for (const [edit, clientEdit] of [
      [{ records: 0 }, {}],
      [{ records: 1e9 }, {}],
      [{}, { asn: 0, lat: -90, lon: 180 }],
      [{}, { asn: 2_147_483_647, lat: 90, lon: -180 }],
      [{}, { ip: '2001:db8::1' }],
      [{}, { ip: '::ffff:255.255.255.255' }],
      [{ ts: NOW + limits.maxFutureMs }, {}],
      [{ ts: NOW - limits.maxPastMs }, {}],
      [{ action: 'some_future_action' }, {}],
      [{}, { user_agent: '' }],
    ] as const) {
      const r = validateAction(json(edit, clientEdit), limits, NOW);
      assert.ok(r.ok, `${JSON.stringify([edit, clientEdit])}: ${r.ok ? '' : r.reason}`);
    }
  });

  const bad: [string, Record<string, unknown>, Record<string, unknown>, DeadLetterCode, RegExp][] = [
    ['not an object', {}, {}, 'WRONG_TYPE', /record is an array/],
    ['missing session_id', { session_id: undefined }, {}, 'MISSING_FIELD', /^session_id is missing/],
    ['null user_id', { user_id: null }, {}, 'MISSING_FIELD', /^user_id is missing/],
    ['missing client', { client: undefined }, {}, 'MISSING_FIELD', /^client is missing/],
    ['client a string', { client: '1.2.3.4' }, {}, 'WRONG_TYPE', /^client is a string/],
    ['missing client.ip', {}, { ip: undefined }, 'MISSING_FIELD', /^client\.ip is missing/],
    [
      'numeric string ts',
      { ts: '1760000000000' },
      {},
      'WRONG_TYPE',
      /^ts is a string \("1760000000000"\), expected an integer/,
    ],
    ['fractional ts', { ts: 1_760_000_000_000.5 }, {}, 'WRONG_TYPE', /^ts is number/],
    [
      'ts in year 3000',
      { ts: Date.UTC(3000, 0, 1) },
      {},
      'TS_OUT_OF_RANGE',
      /^ts 32503680000000 \(3000-01-01T00:00:00\.000Z\).*future/,
    ],
    ['ts too old', { ts: NOW - limits.maxPastMs - 1 }, {}, 'TS_OUT_OF_RANGE', /in the past/],
    ['ts beyond Date', { ts: 9e15 }, {}, 'TS_OUT_OF_RANGE', /out of the Date range/],
    [
      'unknown principal_type',
      { principal_type: 'ROBOT' },
      {},
      'INVALID_VALUE',
      /^principal_type "ROBOT" is not one of EMPLOYEE/,
    ],
    ['lower-case principal_type', { principal_type: 'admin' }, {}, 'INVALID_VALUE', /^principal_type/],
    ['numeric principal_type', { principal_type: 2 }, {}, 'WRONG_TYPE', /^principal_type is number 2/],
    ['empty event_id', { event_id: '' }, {}, 'INVALID_VALUE', /^event_id is empty/],
    [
      'control char in session_id',
      { session_id: 'abc\ndef' },
      {},
      'INVALID_VALUE',
      /^session_id contains control/,
    ],
    ['oversized user_id', { user_id: 'u'.repeat(129) }, {}, 'OVERSIZED', /^user_id is 129 chars, limit 128/],
    ['oversized app', { app: 'a'.repeat(65) }, {}, 'OVERSIZED', /^app is 65 chars, limit 64/],
    ['empty action', { action: '' }, {}, 'INVALID_VALUE', /^action is empty/],
    [
      'oversized resource',
      { resource: 'r'.repeat(513) },
      {},
      'OVERSIZED',
      /^resource is 513 chars, limit 512/,
    ],
    ['negative records', { records: -1 }, {}, 'INVALID_VALUE', /^records is -1, expected 0\.\.1000000000/],
    ['too many records', { records: 1e9 + 1 }, {}, 'INVALID_VALUE', /^records is/],
    [
      'fractional records',
      { records: 2.5 },
      {},
      'WRONG_TYPE',
      /^records is number 2\.5, expected an integer/,
    ],
    ['string mfa', { mfa: 'yes' }, {}, 'WRONG_TYPE', /^mfa is a string/],
    [
      '1 MB user agent',
      {},
      { user_agent: 'x'.repeat(1_048_576) },
      'OVERSIZED',
      /^client\.user_agent is 1048576 chars, limit 2048/,
    ],
    ['numeric user agent', {}, { user_agent: 5 }, 'WRONG_TYPE', /^client\.user_agent is number 5/],
    ['bad ip', {}, { ip: '999.1.1.1' }, 'INVALID_VALUE', /^client\.ip "999\.1\.1\.1" is not an IPv4 or IPv6/],
    ['hostname as ip', {}, { ip: 'example.com' }, 'INVALID_VALUE', /^client\.ip/],
    ['oversized ip', {}, { ip: '1'.repeat(46) }, 'OVERSIZED', /^client\.ip is 46 chars, limit 45/],
    [
      'latitude 91',
      {},
      { lat: 91 },
      'INVALID_VALUE',
      /^client\.lat is 91, expected a finite number in \[-90, 90\]/,
    ],
    ['longitude -181', {}, { lon: -181 }, 'INVALID_VALUE', /^client\.lon is -181/],
    ['NaN latitude', {}, { lat: Number.NaN }, 'INVALID_VALUE', /^client\.lat is NaN/],
    [
      'infinite longitude',
      {},
      { lon: Number.POSITIVE_INFINITY },
      'INVALID_VALUE',
      /^client\.lon is Infinity/,
    ],
    ['string latitude', {}, { lat: '40.7' }, 'WRONG_TYPE', /^client\.lat is a string/],
    [
      'asn above int32',
      {},
      { asn: 2_147_483_648 },
      'INVALID_VALUE',
      /^client\.asn is 2147483648, expected 0\.\.2147483647/,
    ],
    ['negative asn', {}, { asn: -5 }, 'INVALID_VALUE', /^client\.asn is -5/],
    [
      'lower-case country',
      {},
      { country: 'us' },
      'INVALID_VALUE',
      /^client\.country "us" is not an ISO 3166-1 alpha-2/,
    ],
    ['three-letter country', {}, { country: 'USA' }, 'INVALID_VALUE', /^client\.country "USA"/],
    ['oversized ja4', {}, { ja4: 'j'.repeat(65) }, 'OVERSIZED', /^client\.ja4 is 65 chars, limit 64/],
    [
      'oversized device_id',
      {},
      { device_id: 'd'.repeat(129) },
      'OVERSIZED',
      /^client\.device_id is 129 chars/,
    ],
    [
      'oversized accept_language',
      {},
      { accept_language: 'e'.repeat(257) },
      'OVERSIZED',
      /^client\.accept_language is 257/,
    ],
  ];

  for (const [what, edit, clientEdit, code, reason] of bad) {
    it(`rejects ${what} as ${code}`, () => {
      const input = what === 'not an object' ? [json()] : json(edit, clientEdit);
      const r = validateAction(input, limits, NOW);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, code, r.reason);
      assert.match(r.reason, reason);
      assert.ok(r.reason.length < 200, 'reasons stay short whatever the input');
    });
  }

  it('honours custom limits', () => {
    const ua = validateAction(
      json({}, { user_agent: 'x'.repeat(11) }),
      { ...limits, maxUserAgentChars: 10 },
      NOW,
    );
    assert.deepEqual(ua, { ok: false, code: 'OVERSIZED', reason: 'client.user_agent is 11 chars, limit 10' });
    const ts = validateAction(json({ ts: NOW + 1 }), { ...limits, maxFutureMs: 0 }, NOW);
    assert.equal(!ts.ok && ts.code, 'TS_OUT_OF_RANGE');
  });

  it('ignores inherited properties', () => {
    const proto = json();
    const obj = Object.create(proto) as Record<string, unknown>;
    const r = validateAction(obj, limits, NOW);
    assert.equal(!r.ok && r.code, 'MISSING_FIELD');
  });
});

import assert from 'node:assert/strict';
import type { SessionAction } from '../../../src/contract';
import { ABSENT_ID, roundCoord, shortHash, toActionInput, wellFormed } from '../../../src/state/input';

function action(
  over: Partial<SessionAction> = {},
  client: Partial<SessionAction['client']> = {},
): SessionAction {
  return {
    event_id: '7f0c2a8e-0000-4000-8000-000000000001',
    ts: 1_700_000_000_123,
    session_id: 'sess-1',
    user_id: 'u1',
    principal_type: 'EMPLOYEE',
    app: 'salesforce',
    action: 'view',
    resource: null,
    records: 12,
    mfa: null,
    ...over,
    client: {
      ip: '203.0.113.9',
      asn: 64500,
      country: 'DE',
      lat: 52.520008,
      lon: 13.404954,
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
      ja4: 't13d1516h2_8daaf6152771_02713d6af862',
      device_id: 'dev-1',
      accept_language: 'de-DE',
      ...client,
    },
  };
}

describe('state/input toActionInput', () => {
  it('copies the event and builds the fingerprint snapshot', () => {
    const input = toActionInput(action());
    assert.equal(input.sessionId, 'sess-1');
    assert.equal(input.eventId, '7f0c2a8e-0000-4000-8000-000000000001');
    assert.deepEqual(input.fp, {
      ip: '203.0.113.9',
      asn: 64500,
      country: 'DE',
      lat: 52.52001,
      lon: 13.40495,
      ua: 'Mozilla/5.0 (X11; Linux x86_64)',
      ja4: 't13d1516h2_8daaf6152771_02713d6af862',
      dev: 'dev-1',
      ts: 1_700_000_000_123,
    });
    assert.deepEqual(
      [input.sensitive, input.isExport, input.exported, input.logout],
      [false, false, 0, false],
    );
  });

  const flags: [string, number | null, [boolean, boolean, number, boolean]][] = [
    ['export', 500, [true, true, 500, false]],
    ['export', null, [true, true, 0, false]],
    ['approve', 3, [true, false, 0, false]],
    ['api_token_create', null, [true, false, 0, false]],
    ['logout', null, [false, false, 0, true]],
    ['some_new_action', 9, [false, false, 0, false]],
  ];
  for (const [name, records, expected] of flags) {
    it(`flags for ${name} with records ${records}`, () => {
      const input = toActionInput(action({ action: name, records }));
      assert.deepEqual([input.sensitive, input.isExport, input.exported, input.logout], expected);
    });
  }

  it('ids are short stable hashes; absent parts get the constant id', () => {
    const a = toActionInput(action());
    assert.match(a.ids.fp, /^[0-9a-f]{12}$/);
    assert.equal(a.ids.ua, shortHash('Mozilla/5.0 (X11; Linux x86_64)'));
    assert.equal(a.ids.asn, '64500');
    assert.equal(a.ids.country, 'DE');
    assert.deepEqual(toActionInput(action()).ids, a.ids);
    const bare = toActionInput(action({}, { ja4: null, device_id: null, asn: null, country: null }));
    assert.deepEqual(
      [bare.ids.ja4, bare.ids.dev, bare.ids.asn, bare.ids.country],
      [ABSENT_ID, ABSENT_ID, ABSENT_ID, ABSENT_ID],
    );
  });

  it('fp id changes with any of ua, ja4, device, asn but not with ip or location', () => {
    const base = toActionInput(action()).ids.fp;
    for (const client of [
      { user_agent: 'x' },
      { ja4: 'y' },
      { device_id: 'z' },
      { asn: 1 },
      { device_id: null },
    ]) {
      assert.notEqual(toActionInput(action({}, client)).ids.fp, base, JSON.stringify(client));
    }
    for (const client of [{ ip: '198.51.100.1' }, { lat: 1, lon: 2 }, { country: 'FR' }]) {
      assert.equal(toActionInput(action({}, client)).ids.fp, base, JSON.stringify(client));
    }
  });

  it('rounds coordinates to 5 decimals; non-finite becomes null and -0 becomes 0', () => {
    assert.equal(roundCoord(-33.8688197), -33.86882);
    assert.equal(roundCoord(null), null);
    assert.equal(roundCoord(Number.NaN), null);
    assert.ok(Object.is(roundCoord(-0.000001), 0));
  });

  it('replaces lone surrogates (cjson rejects them) and keeps valid pairs', () => {
    assert.equal(wellFormed('a\uD800b'), 'a\uFFFDb');
    assert.equal(wellFormed('\uDC00'), '\uFFFD');
    assert.equal(wellFormed('ok 😀'), 'ok 😀');
    assert.equal(toActionInput(action({}, { user_agent: 'bad\uD83D' })).fp.ua, 'bad\uFFFD');
  });
});

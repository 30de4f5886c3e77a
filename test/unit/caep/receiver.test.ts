import assert from 'node:assert/strict';
import { checkEvents, checkSubject } from '../../../src/caep/receiver';
import { CAEP_EVENT_PREFIX } from '../../../src/caep/set';

const uri = (name: string) => `${CAEP_EVENT_PREFIX}${name}`;

describe('caep/receiver checks', () => {
  it('accepts complex and simple subjects', () => {
    assert.equal(
      checkSubject({
        format: 'complex',
        session: { format: 'opaque', id: 's' },
        user: { format: 'iss_sub', iss: 'https://idp', sub: 'u' },
      }),
      null,
    );
    assert.equal(checkSubject({ format: 'email', email: 'a@b.c' }), null);
    assert.equal(checkSubject({ format: 'opaque', id: 'x' }), null);
  });

  it('refuses malformed subjects', () => {
    const bad: [unknown, RegExp][] = [
      [undefined, /missing/],
      ['s', /missing/],
      [{ id: 'x' }, /format/],
      [{ format: 'opaque' }, /needs a non-empty id/],
      [{ format: 'opaque', id: '' }, /needs a non-empty id/],
      [{ format: 'made-up', id: 'x' }, /unsupported format/],
      [{ format: 'complex' }, /no members/],
      [{ format: 'complex', session: { format: 'opaque' } }, /sub_id\.session/],
      [{ format: 'complex', planet: { format: 'opaque', id: 'x' } }, /unknown member planet/],
      [{ format: 'complex', user: 'u' }, /sub_id\.user needs a format/],
    ];
    for (const [subject, why] of bad)
      assert.match(checkSubject(subject) ?? 'accepted', why, JSON.stringify(subject));
  });

  it('accepts exactly one known event with its required claims', () => {
    const ok = checkEvents({ [uri('session-revoked')]: { event_timestamp: 1, initiating_entity: 'policy' } });
    assert.deepEqual(ok, {
      uri: uri('session-revoked'),
      claims: { event_timestamp: 1, initiating_entity: 'policy' },
    });
    const ok2 = checkEvents({
      [uri('assurance-level-change')]: {
        namespace: 'NIST-AAL',
        current_level: 'nist-aal1',
        change_direction: 'decrease',
      },
    });
    assert.equal(typeof ok2, 'object');
  });

  it('refuses missing, several, unknown or incomplete events', () => {
    const bad: [unknown, RegExp][] = [
      [undefined, /missing/],
      [{}, /exactly one event, got 0/],
      [{ [uri('session-revoked')]: {}, [uri('credential-change')]: {} }, /exactly one event, got 2/],
      [{ 'https://example.com/other': {} }, /unsupported event type/],
      [{ [uri('assurance-level-change')]: { namespace: 'NIST-AAL' } }, /needs current_level/],
      [{ [uri('assurance-level-change')]: { current_level: 'nist-aal1' } }, /needs namespace/],
      [
        { [uri('assurance-level-change')]: { namespace: 'N', current_level: 'l', change_direction: 'down' } },
        /change_direction/,
      ],
      [{ [uri('session-revoked')]: { event_timestamp: 1.5 } }, /event_timestamp/],
      [{ [uri('session-revoked')]: { initiating_entity: 'robot' } }, /initiating_entity/],
      [{ [uri('session-revoked')]: { reason_user: 'text' } }, /reason_user/],
      [{ [uri('session-revoked')]: 'yes' }, /not an object/],
    ];
    for (const [events, why] of bad) {
      const r = checkEvents(events);
      assert.equal(typeof r, 'string', JSON.stringify(events));
      assert.match(r as string, why);
    }
  });
});

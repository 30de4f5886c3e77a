import { createHash } from 'node:crypto';
import type { Decision, DecisionType } from '../contract';
import type { CaepEventName, CaepReceiver } from './settings';

/**
 * Builds OpenID CAEP 1.0 Security Event Tokens (RFC 8417 as Shared Signals 1.0 profiles it) from
 * decisions. Pure: no clock, no key, no I/O; the transmitter signs the claims it returns.
 *
 * TERMINATE -> `session-revoked`: the session must end.
 * STEP_UP   -> `assurance-level-change` in the `NIST-AAL` namespace, from `nist-aal2` down to
 *   `nist-aal1` (`change_direction: decrease`). risk-stream does not know the level the user
 *   authenticated at; what it asserts is that the session's assurance no longer suffices, which a
 *   receiver acts on by asking for fresh authentication. AAL2 -> AAL1 is that statement in the
 *   vocabulary receivers already map to "re-authenticate with a second factor". (`risk-level-change`
 *   would describe the score rather than ask for anything.)
 * ALLOW and BLOCK_ACTION emit nothing: neither changes the session.
 */

export const CAEP_EVENT_PREFIX = 'https://schemas.openid.net/secevent/caep/event-type/';

/** The event type URI of a CAEP event. */
export const caepEventUri = (event: CaepEventName): string => `${CAEP_EVENT_PREFIX}${event}`;

/** The JOSE `typ` of every SET. */
export const SET_TYP = 'secevent+jwt';

/** Which CAEP event a decision emits, if any. */
export function caepEventFor(decision: DecisionType): CaepEventName | null {
  switch (decision) {
    case 'TERMINATE':
      return 'session-revoked';
    case 'STEP_UP':
      return 'assurance-level-change';
    case 'ALLOW':
    case 'BLOCK_ACTION':
      return null;
    default:
      return decision satisfies never;
  }
}

/** Whether a receiver asked for an event (all of them when it lists none). */
export const receiverWants = (receiver: Pick<CaepReceiver, 'events'>, event: CaepEventName): boolean =>
  receiver.events === undefined || receiver.events.includes(event);

/** A subject identifier of RFC 9493 (the formats risk-stream emits). */
export interface OpaqueSubject {
  format: 'opaque';
  id: string;
}

/** The SET's subject: the session, and the user it belongs to. */
export interface ComplexSubject {
  format: 'complex';
  session: OpaqueSubject;
  user: OpaqueSubject;
}

/** Claims every CAEP event may carry. */
export interface CaepCommonClaims {
  /** When the event happened, seconds since the epoch. */
  event_timestamp: number;
  initiating_entity: 'admin' | 'user' | 'policy' | 'system';
  /** Language tag -> text, for administrators. */
  reason_admin: Record<string, string>;
  /** Language tag -> text, fit to show the user. */
  reason_user: Record<string, string>;
}

export interface AssuranceLevelChangeClaims extends CaepCommonClaims {
  namespace: 'NIST-AAL';
  current_level: 'nist-aal1';
  previous_level: 'nist-aal2';
  change_direction: 'decrease';
}

/** The unsigned payload of a SET. */
export interface SetClaims {
  iss: string;
  jti: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  aud: string;
  /** The decision_id: ties the SET to the decision (and its audit trail). */
  txn: string;
  sub_id: ComplexSubject;
  /** Exactly one event. */
  events: Record<string, CaepCommonClaims | AssuranceLevelChangeClaims>;
}

/** Name-based UUIDs of SETs (a v5 UUID namespace of their own, fixed forever). */
const JTI_NAMESPACE = Buffer.from('0b6b0a3c6f2e4f5c9d2a7e1c5b8f4a11', 'hex');

/**
 * The SET's jti: a name-based (v5) UUID of (decision_id, event type, audience). A decision
 * processed again, by this instance or another, yields the same jti, which the outbox stores once
 * and the receiver can deduplicate on.
 */
export function setJti(decisionId: string, event: CaepEventName, audience: string): string {
  const h = createHash('sha1')
    .update(JTI_NAMESPACE)
    .update(`${decisionId}\n${caepEventUri(event)}\n${audience}`, 'utf8')
    .digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Longest reason_admin text: a SET should stay small (reasons are already capped by the policy). */
const MAX_REASON_ADMIN = 1000;

/** For administrators: what was decided, by which model and rule, and every reason code with its detail. */
export function reasonAdmin(d: Decision): string {
  const by = [`score ${d.score.toFixed(3)}`, `model ${d.model_version}`];
  if (d.policy_rule) by.push(`rule ${d.policy_rule}`);
  if (d.action) by.push(`action ${d.action} on ${d.app}`);
  const reasons = d.reasons.map((r) => `${r.code}: ${r.detail}`).join('; ');
  const text = `risk-stream ${d.decision} (${by.join(', ')})${reasons ? `: ${reasons}` : ''}`;
  return text.length > MAX_REASON_ADMIN ? `${text.slice(0, MAX_REASON_ADMIN - 1)}…` : text;
}

/** For the user: one short plain sentence. */
export function reasonUser(event: CaepEventName): string {
  switch (event) {
    case 'session-revoked':
      return 'Your session was ended because of unusual activity. Please sign in again.';
    case 'assurance-level-change':
      return 'Unusual activity was seen in your session. Please confirm it is you to continue.';
    default:
      return event satisfies never;
  }
}

/** The event's claims (common ones plus what its type requires). */
export function eventClaims(
  event: CaepEventName,
  d: Decision,
): CaepCommonClaims | AssuranceLevelChangeClaims {
  const common: CaepCommonClaims = {
    event_timestamp: Math.floor(d.decided_at / 1000),
    initiating_entity: 'policy',
    reason_admin: { en: reasonAdmin(d) },
    reason_user: { en: reasonUser(event) },
  };
  switch (event) {
    case 'session-revoked':
      return common;
    case 'assurance-level-change':
      return {
        ...common,
        namespace: 'NIST-AAL',
        current_level: 'nist-aal1',
        previous_level: 'nist-aal2',
        change_direction: 'decrease',
      };
    default:
      return event satisfies never;
  }
}

/** The session and user a decision is about, as a complex subject. */
export const subjectOf = (d: Pick<Decision, 'session_id' | 'user_id'>): ComplexSubject => ({
  format: 'complex',
  session: { format: 'opaque', id: d.session_id },
  user: { format: 'opaque', id: d.user_id },
});

/**
 * The SET for one decision and one receiver, or null when the decision emits no CAEP event or the
 * receiver did not ask for it. `iat` is in seconds. No `sub` and no `exp` (Shared Signals 1.0).
 */
export function buildSet(
  d: Decision,
  receiver: Pick<CaepReceiver, 'audience' | 'events'>,
  issuer: string,
  iat: number,
): { event: CaepEventName; claims: SetClaims } | null {
  const event = caepEventFor(d.decision);
  if (event === null || !receiverWants(receiver, event)) return null;
  return {
    event,
    claims: {
      iss: issuer,
      jti: setJti(d.decision_id, event, receiver.audience),
      iat,
      aud: receiver.audience,
      txn: d.decision_id,
      sub_id: subjectOf(d),
      events: { [caepEventUri(event)]: eventClaims(event, d) },
    },
  };
}

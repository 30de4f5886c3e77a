import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { PRINCIPAL_TYPES, type SessionAction } from '../../../src/contract';
import { simulate, type Simulation } from '../../../src/sim/generate';
import type { Label, ScenarioName } from '../../../src/sim/types';

/** The contract's shape, checked field by field (what replay's validation would accept). */
export function assertValidAction(e: SessionAction): void {
  const where = `event ${e.event_id}`;
  assert.match(e.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, where);
  assert.ok(Number.isSafeInteger(e.ts) && e.ts > 0, where);
  assert.match(e.session_id, /^s-[0-9a-f]{24}$/, where);
  assert.ok(e.user_id.length > 0, where);
  assert.ok((PRINCIPAL_TYPES as readonly string[]).includes(e.principal_type), where);
  assert.ok(e.app.length > 0 && e.action.length > 0, where);
  assert.ok(e.resource === null || (typeof e.resource === 'string' && e.resource.length > 0), where);
  assert.ok(e.records === null || (Number.isInteger(e.records) && e.records >= 0), where);
  assert.ok(e.action === 'login' ? typeof e.mfa === 'boolean' : e.mfa === null, where);
  const c = e.client;
  assert.ok(isIP(c.ip) === 4 || isIP(c.ip) === 6, `${where}: ip ${c.ip}`);
  assert.ok(c.asn === null || (Number.isInteger(c.asn) && c.asn > 0), where);
  assert.ok(c.country === null || /^[A-Z]{2}$/.test(c.country), where);
  assert.ok(c.lat === null || (c.lat >= -90 && c.lat <= 90), where);
  assert.ok(c.lon === null || (c.lon >= -180 && c.lon <= 180), where);
  assert.ok(c.user_agent.length > 0, where);
  assert.ok(
    c.ja4 === null || /^[tq]\d{2}[di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/.test(c.ja4),
    `${where}: ja4 ${c.ja4}`,
  );
  assert.ok(c.device_id === null || c.device_id.length > 0, where);
  assert.ok(c.accept_language === null || c.accept_language.length > 0, where);
}

export interface SimSession {
  id: string;
  events: SessionAction[];
  labels: Label[];
}

/** Groups a simulation's events by session, keeping time order. */
export function sessionsOf(sim: Simulation): SimSession[] {
  const by = new Map<string, SimSession>();
  sim.events.forEach((e, i) => {
    let s = by.get(e.session_id);
    if (s === undefined) by.set(e.session_id, (s = { id: e.session_id, events: [], labels: [] }));
    s.events.push(e);
    s.labels.push(sim.labels[i] as Label);
  });
  return [...by.values()];
}

const cache = new Map<string, SimSession[]>();

/** Sessions of one scenario only (memoised: several tests look at the same ones). */
export function sessionsFor(name: ScenarioName, sessions = 60, seed = 7): SimSession[] {
  const key = `${name}:${sessions}:${seed}`;
  let s = cache.get(key);
  if (s === undefined) cache.set(key, (s = sessionsOf(simulate({ seed, sessions, mix: { [name]: 1 } }))));
  return s;
}

export const fingerprint = (e: SessionAction) =>
  `${e.client.ip}|${e.client.user_agent}|${e.client.ja4}|${e.client.device_id}`;

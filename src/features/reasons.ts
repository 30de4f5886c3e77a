import type { Reason, SessionAction, WindowView } from '../contract';
import { FEATURE_NAMES, type FeatureName, IMPOSSIBLE_SPEED_KMH, travelSpeedKmh } from './extract';
import { networkClass } from './networks';

/** Stable reason codes. Enforcement points and auditors key on these; never rename one. */
export const REASON_CODES = [
  'UA_CHANGED',
  'JA4_CHANGED',
  'NEW_DEVICE',
  'ASN_CHANGED',
  'COUNTRY_CHANGED',
  'IP_CHANGED',
  'IMPOSSIBLE_TRAVEL',
  'MULTIPLE_FINGERPRINTS',
  'CONCURRENT_FINGERPRINTS',
  'HIGH_ACTION_RATE',
  'SENSITIVE_ACTION_BURST',
  'EXPORT_VOLUME',
  'SENSITIVE_ACTION',
  'PRIVILEGED_PRINCIPAL',
  'IDLE_RESUMED',
  'SESSION_AGE',
  'SCRIPTED_CLIENT',
  'FIRST_EVENT',
  // Policy reasons: added by rules, not by the model.
  'MASS_EXPORT',
  'SERVICE_ACCOUNT_NO_STEP_UP',
  // Model reasons added with feature version 2.
  'TLS_STACK_MISMATCH',
  'HOSTING_NETWORK',
  'NETWORK_CLASS_CHANGED',
  // Policy and friction-control reasons (issue 4).
  'PRINCIPAL_RESTRICTED',
  'STEP_UP_PASSED',
  'STEP_UP_FAILED',
  'STEP_UP_COOLDOWN',
  'TRUSTED_AFTER_STEP_UP',
  'SESSION_TERMINATED',
  // Redis outages (issue 6): decided without the session's state; the state was lost.
  'STATE_UNAVAILABLE',
  'SESSION_STATE_LOST',
  // Session state (issue 6): the window hit a per-session cap, so its counts are lower bounds.
  'STATE_CAPPED',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

const REASON_CODE_SET: ReadonlySet<string> = new Set(REASON_CODES);
export const isReasonCode = (code: string): code is ReasonCode => REASON_CODE_SET.has(code);

const FEATURE_REASON: Record<FeatureName, ReasonCode> = {
  ua_changed_base: 'UA_CHANGED',
  new_ua: 'UA_CHANGED',
  ja4_changed_base: 'JA4_CHANGED',
  new_ja4: 'JA4_CHANGED',
  device_changed_base: 'NEW_DEVICE',
  new_device: 'NEW_DEVICE',
  asn_changed_prev: 'ASN_CHANGED',
  distinct_asns: 'ASN_CHANGED',
  country_changed_prev: 'COUNTRY_CHANGED',
  country_changed_base: 'COUNTRY_CHANGED',
  ip_changed_prev: 'IP_CHANGED',
  travel_speed: 'IMPOSSIBLE_TRAVEL',
  distance_prev: 'IMPOSSIBLE_TRAVEL',
  distinct_fingerprints: 'MULTIPLE_FINGERPRINTS',
  new_fingerprint: 'MULTIPLE_FINGERPRINTS',
  fingerprint_interleave: 'CONCURRENT_FINGERPRINTS',
  rate_1m: 'HIGH_ACTION_RATE',
  rate_10m: 'HIGH_ACTION_RATE',
  sensitive_1m: 'SENSITIVE_ACTION_BURST',
  sensitive_10m: 'SENSITIVE_ACTION_BURST',
  exported_10m: 'EXPORT_VOLUME',
  exported_session: 'EXPORT_VOLUME',
  action_export_records: 'EXPORT_VOLUME',
  action_sensitive: 'SENSITIVE_ACTION',
  principal_contractor: 'PRIVILEGED_PRINCIPAL',
  principal_admin: 'PRIVILEGED_PRINCIPAL',
  principal_service: 'PRIVILEGED_PRINCIPAL',
  idle_gap: 'IDLE_RESUMED',
  session_age: 'SESSION_AGE',
  first_event: 'FIRST_EVENT',
  scripted_client: 'SCRIPTED_CLIENT',
  ua_update: 'UA_CHANGED',
  ja4_alone_changed: 'TLS_STACK_MISMATCH',
  ua_family_changed: 'UA_CHANGED',
  net_hosting: 'HOSTING_NETWORK',
  net_class_changed: 'NETWORK_CLASS_CHANGED',
  isp_switch: 'ASN_CHANGED',
  same_network_jump: 'IP_CHANGED',
  travel_speed_new_network: 'IMPOSSIBLE_TRAVEL',
  change_after_idle: 'IDLE_RESUMED',
  critical_action: 'SENSITIVE_ACTION',
  exports_10m: 'EXPORT_VOLUME',
  export_vs_session: 'EXPORT_VOLUME',
};

const short = (s: string | null, max = 60) =>
  s === null ? 'none' : s.length > max ? `${s.slice(0, max - 1)}…` : s;

/** Human-readable detail for a reason, from the evidence the window and the event carry. */
export function describe(code: ReasonCode, view: WindowView, action: SessionAction): string {
  const c = action.client;
  const base = view.baseline;
  const prev = view.prev;
  switch (code) {
    case 'UA_CHANGED':
      return `User-Agent "${short(c.user_agent)}" differs from the session's first "${short(base.ua)}"`;
    case 'JA4_CHANGED':
      return `TLS fingerprint ${short(c.ja4)} differs from the session's first ${short(base.ja4)}`;
    case 'NEW_DEVICE':
      return `device ${short(c.device_id)} not seen in this session (first: ${short(base.dev)})`;
    case 'ASN_CHANGED':
      return `network AS${c.asn ?? '?'} (previous AS${prev?.asn ?? '?'}; ${view.distinct.asn} networks in session)`;
    case 'COUNTRY_CHANGED':
      return `country ${c.country ?? '?'} (previous ${prev?.country ?? '?'}, first ${base.country ?? '?'})`;
    case 'IP_CHANGED':
      return `IP ${c.ip} (previous ${prev?.ip ?? '?'})`;
    case 'IMPOSSIBLE_TRAVEL': {
      const speed = travelSpeedKmh(view, action);
      const verdict = speed !== null && speed > IMPOSSIBLE_SPEED_KMH ? 'impossible' : 'unusual';
      return `${verdict} travel: ${speed === null ? '?' : Math.round(speed)} km/h since the previous action`;
    }
    case 'MULTIPLE_FINGERPRINTS':
      return `${view.distinct.fp} distinct client fingerprints in this session`;
    case 'CONCURRENT_FINGERPRINTS':
      return `fingerprints alternate within the session (last ${view.fpSeq.length} actions): concurrent use`;
    case 'HIGH_ACTION_RATE':
      return `${view.counts.m1.all} actions in the last minute, ${view.counts.m10.all} in 10 minutes`;
    case 'SENSITIVE_ACTION_BURST':
      return `${view.counts.m1.sensitive} sensitive actions in the last minute, ${view.counts.m10.sensitive} in 10 minutes`;
    case 'EXPORT_VOLUME':
      return `${view.counts.m10.exported} records in ${view.counts.m10.exports} exports in 10 minutes, ${view.counts.session.exported} in the session`;
    case 'SENSITIVE_ACTION':
      return `sensitive action ${action.action} on ${action.app}`;
    case 'PRIVILEGED_PRINCIPAL':
      return `principal type ${action.principal_type}`;
    case 'IDLE_RESUMED':
      return `${c.ip !== prev?.ip ? `from a new address ${c.ip}, ` : ''}resumed after ${view.lastTs === null ? 0 : Math.round((action.ts - view.lastTs) / 60_000)} idle minutes`;
    case 'SESSION_AGE':
      return `session age ${view.firstTs === null ? 0 : Math.round((action.ts - view.firstTs) / 60_000)} minutes`;
    case 'SCRIPTED_CLIENT':
      return `scripted HTTP client: "${short(c.user_agent)}"`;
    case 'FIRST_EVENT':
      return 'first action of the session';
    case 'MASS_EXPORT':
      return `export of ${action.records ?? 0} records`;
    case 'SERVICE_ACCOUNT_NO_STEP_UP':
      return 'service accounts cannot step up: blocked instead';
    case 'TLS_STACK_MISMATCH':
      return `TLS fingerprint ${short(c.ja4)} changed under an unchanged User-Agent (previous ${short(prev?.ja4 ?? null)}): another TLS stack presenting this browser's header`;
    case 'HOSTING_NETWORK':
      return `AS${c.asn ?? '?'} is a ${networkClass(c.asn) ?? 'unknown'} network: servers and proxies, not people`;
    case 'NETWORK_CLASS_CHANGED':
      return `network class ${networkClass(c.asn) ?? 'unknown'} (AS${c.asn ?? '?'}), previous ${networkClass(prev?.asn ?? null) ?? 'unknown'} (AS${prev?.asn ?? '?'})`;
    case 'PRINCIPAL_RESTRICTED':
      return `principal type ${action.principal_type} is restricted by the policy`;
    case 'STEP_UP_PASSED':
      return `step-up passed from ${c.ip}: the session is trusted again from this client`;
    case 'STEP_UP_FAILED':
      return 'a step-up challenge failed in this session';
    case 'STEP_UP_COOLDOWN':
      return 'already stepped up for these reasons recently: not asked again';
    case 'TRUSTED_AFTER_STEP_UP':
      return 'a step-up passed recently from this client: trusted';
    case 'SESSION_TERMINATED':
      return 'the session was terminated earlier';
    case 'STATE_CAPPED':
      return `session state at its caps (redis.maxDistinct, redis.maxRing): ${view.distinct.fp} fingerprints, ${view.distinct.ua} User-Agents, ${view.distinct.asn} networks kept; values past a cap count as never seen and counts are lower bounds`;
    case 'STATE_UNAVAILABLE':
      return `the session store did not answer: ${action.action} decided by its sensitivity alone, not scored`;
    case 'SESSION_STATE_LOST':
      return "the session's state was lost (Redis came back empty): its history is unknown";
    default:
      return code satisfies never;
  }
}

/** Reason codes the model can give, each with the features behind it (occluded together). */
export const REASON_GROUPS: readonly { code: ReasonCode; features: number[] }[] = (() => {
  const groups = new Map<ReasonCode, number[]>();
  FEATURE_NAMES.forEach((name, j) => {
    const code = FEATURE_REASON[name];
    if (code === 'FIRST_EVENT') return; // "nothing to compare with" explains no risk
    groups.set(code, [...(groups.get(code) ?? []), j]);
  });
  return [...groups].map(([code, features]) => ({ code, features }));
})();
export const REASON_GROUP_FEATURES: readonly (readonly number[])[] = REASON_GROUPS.map((g) => g.features);

/**
 * Reasons from one row of per-group contributions (the logit drop when a code's features are set
 * to "nothing unusual"): positive ones only, strongest first, each weighted by its share of the
 * total, so weights are comparable across decisions and sum to at most 1.
 */
export function reasonsFromContributions(
  contrib: Float32Array,
  row: number,
  view: WindowView,
  action: SessionAction,
  opts: { maxReasons: number; minWeight: number },
): Reason[] {
  const g = REASON_GROUPS.length;
  let total = 0;
  const positive: [ReasonCode, number][] = [];
  for (let k = 0; k < g; k++) {
    const w = contrib[row * g + k] as number;
    if (w > 0) {
      positive.push([(REASON_GROUPS[k] as { code: ReasonCode }).code, w]);
      total += w;
    }
  }
  positive.sort((a, b) => b[1] - a[1]);
  // Always explain a non-ALLOW decision with at least its strongest driver, even a weak one.
  const kept = positive
    .map(([code, w]) => [code, w / total] as const)
    .filter(([, share], i) => i === 0 || share >= opts.minWeight)
    .slice(0, opts.maxReasons);
  return kept.map(([code, share]) => ({ code, detail: describe(code, view, action), weight: round4(share) }));
}

export const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

import { SENSITIVE_ACTIONS, type SessionAction, type WindowView } from '../contract';
import { distanceKm } from './geo';
import { networkClass } from './networks';

/**
 * Feature vector v2: v1's 31 features, then 12 that tell benign drift from replay (which parts of
 * the fingerprint changed together, the kind of network, travel only counted across networks,
 * changes after idle, exports against the session's own usual). Every value is scaled to [0, 1] with 0 meaning "nothing unusual", which is
 * what the model's occlusion explanations use as the reference value. Changing a name, the order or
 * a scaling is a new FEATURE_VERSION: a model trained on another version refuses to load.
 */
export const FEATURE_VERSION = 2;

export const FEATURE_NAMES = [
  'ua_changed_base',
  'ja4_changed_base',
  'device_changed_base',
  'new_ua',
  'new_ja4',
  'new_device',
  'asn_changed_prev',
  'country_changed_prev',
  'country_changed_base',
  'ip_changed_prev',
  'travel_speed',
  'distance_prev',
  'distinct_fingerprints',
  'distinct_asns',
  'fingerprint_interleave',
  'new_fingerprint',
  'rate_1m',
  'rate_10m',
  'sensitive_1m',
  'sensitive_10m',
  'exported_10m',
  'exported_session',
  'action_sensitive',
  'action_export_records',
  'principal_contractor',
  'principal_admin',
  'principal_service',
  'session_age',
  'idle_gap',
  'first_event',
  'scripted_client',
  // v2
  'ua_update',
  'ja4_alone_changed',
  'ua_family_changed',
  'net_hosting',
  'net_class_changed',
  'isp_switch',
  'same_network_jump',
  'travel_speed_new_network',
  'change_after_idle',
  'critical_action',
  'exports_10m',
  'export_vs_session',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;
export const FEATURE_INDEX: Readonly<Record<FeatureName, number>> = Object.fromEntries(
  FEATURE_NAMES.map((n, i) => [n, i]),
) as Record<FeatureName, number>;

/** Speeds above this are not possible for a person (km/h, roughly an airliner). */
export const IMPOSSIBLE_SPEED_KMH = 1000;
const MINUTE = 60_000;
const SCRIPTED_UA =
  /(curl|wget|python|go-http-client|okhttp|java\/|headless|httpclient|axios|node-fetch|libwww|scrapy)/i;

/** Actions that change who can do what: the usual goal of a session takeover. */
export const CRITICAL_ACTIONS: ReadonlySet<string> = new Set([
  'permission_change',
  'config_change',
  'api_token_create',
]);
/** A change of address after this long without activity is "resumed elsewhere". */
const RESUME_GAP_MS = 15 * MINUTE;
/** Farther than this between two actions on one network: the network's egress moved, not the user. */
const JUMP_KM = 100;

/**
 * A User-Agent with its version numbers removed: equal shapes are the same browser on the same
 * platform, so a changed UA with an unchanged shape is an update.
 */
export function uaShape(ua: string): string {
  return ua.replace(/\d+/g, '#');
}

const logScale = (x: number, max: number) => (x <= 0 ? 0 : Math.min(1, Math.log1p(x) / Math.log1p(max)));
const flag = (b: boolean) => (b ? 1 : 0);
const differs = (a: string | number | null, b: string | number | null) => a !== b;

/** km/h between the previous location and this one, or null when either location is unknown. */
export function travelSpeedKmh(view: WindowView, action: SessionAction): number | null {
  const prev = view.prev;
  const { lat, lon } = action.client;
  if (!prev || prev.lat === null || prev.lon === null || lat === null || lon === null) return null;
  const km = distanceKm(prev.lat, prev.lon, lat, lon);
  const hours = Math.abs(action.ts - prev.ts) / 3_600_000;
  // Two places at "the same time" (within a minute): treat the gap as one minute, not as infinite speed.
  return km / Math.max(hours, 1 / 60);
}

/** How often the sequence returns to a fingerprint it had left: A,B,A,B gives 2. */
export function interleaveCount(seq: readonly string[]): number {
  let returns = 0;
  for (let i = 2; i < seq.length; i++) {
    const cur = seq[i] as string;
    if (cur !== seq[i - 1] && seq.slice(0, i - 1).includes(cur)) returns++;
  }
  return returns;
}

/** Writes the feature vector of one event into `out` starting at `offset`. Pure. */
export function extractFeatures(
  view: WindowView,
  action: SessionAction,
  out: Float32Array,
  offset = 0,
): void {
  const c = action.client;
  const base = view.baseline;
  const prev = view.prev;
  const later = view.n > 0;
  const speed = travelSpeedKmh(view, action);
  const km =
    prev && prev.lat !== null && prev.lon !== null && c.lat !== null && c.lon !== null
      ? distanceKm(prev.lat, prev.lon, c.lat, c.lon)
      : 0;
  const sinceLast = view.lastTs === null ? 0 : Math.max(0, action.ts - view.lastTs);
  const age = view.firstTs === null ? 0 : Math.max(0, action.ts - view.firstTs);
  const exported = action.action === 'export' ? (action.records ?? 0) : 0;
  const { m1, m10, session } = view.counts;
  // The UA's shape, and whether it equals another UA's (equal UAs need no second replace).
  const shape = uaShape(c.user_agent);
  const sameShape = (other: string) => other === c.user_agent || uaShape(other) === shape;
  const cls = networkClass(c.asn);
  const prevCls = prev ? networkClass(prev.asn) : null;
  const asnMoved = prev !== null && c.asn !== prev.asn;
  const ipMoved = prev !== null && c.ip !== prev.ip;
  // The session's average export before this event, and this export against it.
  const exportsBefore = session.exports - (action.action === 'export' ? 1 : 0);
  const usual = exportsBefore > 0 ? (session.exported - exported) / exportsBefore : 0;
  const values: Record<FeatureName, number> = {
    ua_changed_base: flag(later && differs(c.user_agent, base.ua)),
    ja4_changed_base: flag(later && differs(c.ja4, base.ja4)),
    device_changed_base: flag(later && differs(c.device_id, base.dev)),
    new_ua: flag(later && !view.seen.ua),
    new_ja4: flag(later && !view.seen.ja4),
    new_device: flag(later && !view.seen.dev),
    asn_changed_prev: flag(prev !== null && differs(c.asn, prev.asn)),
    country_changed_prev: flag(prev !== null && differs(c.country, prev.country)),
    country_changed_base: flag(later && differs(c.country, base.country)),
    ip_changed_prev: flag(prev !== null && c.ip !== prev.ip),
    travel_speed: speed === null ? 0 : logScale(speed, 20_000),
    distance_prev: logScale(km, 20_000),
    distinct_fingerprints: Math.min(1, Math.log2(Math.max(1, view.distinct.fp)) / 6),
    distinct_asns: Math.min(1, (view.distinct.asn - 1) / 5),
    fingerprint_interleave: Math.min(1, interleaveCount(view.fpSeq) / 4),
    new_fingerprint: flag(later && !view.seen.fp),
    rate_1m: logScale(m1.all, 120),
    rate_10m: logScale(m10.all, 600),
    sensitive_1m: logScale(m1.sensitive, 20),
    sensitive_10m: logScale(m10.sensitive, 50),
    exported_10m: logScale(m10.exported, 1_000_000),
    exported_session: logScale(session.exported, 1_000_000),
    action_sensitive: flag(SENSITIVE_ACTIONS.has(action.action)),
    action_export_records: logScale(exported, 1_000_000),
    principal_contractor: flag(action.principal_type === 'CONTRACTOR'),
    principal_admin: flag(action.principal_type === 'ADMIN'),
    principal_service: flag(action.principal_type === 'SERVICE'),
    session_age: logScale(age / MINUTE, 24 * 60),
    idle_gap: logScale(sinceLast / MINUTE, 24 * 60),
    first_event: flag(!later),
    scripted_client: flag(SCRIPTED_UA.test(c.user_agent)),
    ua_update: flag(
      prev !== null &&
        c.user_agent !== prev.ua &&
        sameShape(prev.ua) &&
        c.device_id === prev.dev &&
        !asnMoved,
    ),
    ja4_alone_changed: flag(prev !== null && c.ja4 !== prev.ja4 && c.user_agent === prev.ua),
    ua_family_changed: flag(later && !sameShape(base.ua)),
    net_hosting: flag(cls === 'hosting' || cls === 'anonymizer'),
    net_class_changed: flag(prev !== null && cls !== prevCls),
    isp_switch: flag(asnMoved && cls === 'isp' && prevCls === 'isp'),
    same_network_jump: flag(prev !== null && !asnMoved && km > JUMP_KM),
    travel_speed_new_network: asnMoved && speed !== null ? logScale(speed, 20_000) : 0,
    change_after_idle: flag(ipMoved && sinceLast >= RESUME_GAP_MS),
    critical_action: flag(CRITICAL_ACTIONS.has(action.action)),
    exports_10m: logScale(m10.exports, 50),
    export_vs_session: exported > 0 && usual > 0 ? logScale(exported / usual, 100) : 0,
  };
  for (let i = 0; i < FEATURE_COUNT; i++) out[offset + i] = values[FEATURE_NAMES[i] as FeatureName];
}

/** Feature matrix (rows x FEATURE_COUNT, row-major) for a batch. */
export function extractBatch(items: readonly { view: WindowView; action: SessionAction }[]): Float32Array {
  const out = new Float32Array(items.length * FEATURE_COUNT);
  items.forEach((item, row) => extractFeatures(item.view, item.action, out, row * FEATURE_COUNT));
  return out;
}

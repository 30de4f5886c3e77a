import { z } from 'zod';
import { bool, duration, int, oneOf, optStr, str } from '../config/fields';

/** The CAEP events risk-stream emits, by their short name (the last part of the event type URI). */
export const CAEP_EVENT_NAMES = ['session-revoked', 'assurance-level-change'] as const;
export type CaepEventName = (typeof CAEP_EVENT_NAMES)[number];

const httpUrl = () => z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/**
 * One push receiver (RFC 8935). Given in a JSON config file as an array, or in the environment
 * variable RISK_STREAM_CAEP_RECEIVERS as the same array written as JSON.
 */
const receiver = z.strictObject({
  /** Where SETs are POSTed. */
  url: httpUrl(),
  /**
   * The `aud` claim this receiver expects. It also names the receiver: SETs waiting in the outbox
   * find their receiver's current url and authorization by it, and it is part of every jti.
   */
  audience: z.string().min(1),
  /** Sent as the Authorization header, e.g. `Bearer abc`. */
  authorization: z.string().min(1).optional(),
  /** Which CAEP events this receiver wants (default: all risk-stream emits). */
  events: z.array(z.enum(CAEP_EVENT_NAMES)).min(1).optional(),
});
export type CaepReceiver = z.output<typeof receiver>;

const receivers = z
  .preprocess(
    (v) => {
      if (typeof v !== 'string') return v;
      try {
        return JSON.parse(v) as unknown;
      } catch {
        return v;
      }
    },
    z.array(receiver).refine((list) => new Set(list.map((r) => r.audience)).size === list.length, {
      // The audience is part of the jti and names the receiver in the outbox, so it must be unique.
      error: 'every receiver needs its own audience',
    }),
  )
  .default([]);

export const caepSettings = z.strictObject({
  enabled: bool(false).describe('Emit OpenID CAEP Security Event Tokens for STEP_UP and TERMINATE decisions'),
  issuer: optStr()
    .pipe(httpUrl().optional())
    .describe('The `iss` of every SET (default: http://<http.host>:<http.port>)'),
  receivers: receivers.describe('Push receivers: JSON array of {url, audience, authorization?, events?}'),
  keyFile: str('risk-stream-caep-key.json').describe(
    'Private signing key (JWK, JSON); generated and written with mode 0600 if missing',
  ),
  alg: oneOf(['ES256', 'RS256', 'EdDSA'] as const, 'ES256'),
  retryInitial: duration('1s').describe('First retry delay after a failed push; doubles up to retryMax'),
  retryMax: duration('5m'),
  maxAttempts: int(20, 1, 1000).describe('Pushes of one SET before it goes to the dead set'),
  pushTimeout: duration('5s'),
  pollInterval: duration('250ms').describe('How often the outbox is checked for SETs due for delivery'),
  deliveredTtl: duration('7d').describe(
    'How long a delivered jti is remembered, so it is never pushed twice',
  ),
});

/** The caep settings section after parsing (durations in ms). */
export type CaepSettings = z.output<typeof caepSettings>;

import { z } from 'zod';
import { DECISION_TYPES, PRINCIPAL_TYPES } from '../contract';
import { parseDuration } from '../config/fields';

/**
 * The policy file's format (YAML or JSON), validated by zod; `compile` (compile.ts) turns a valid
 * document into the form the decision code reads. Every field is documented in the README and in
 * the built-in policy (default.yaml).
 */

export const RISK_LEVELS = ['none', 'low', 'medium', 'high', 'critical'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export const SENSITIVITIES = ['none', 'low', 'medium', 'high', 'critical'] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];

const response = z.enum(DECISION_TYPES, {
  error: `expected one of ${DECISION_TYPES.join(', ')}`,
});
const sensitivity = z.enum(SENSITIVITIES, { error: `expected one of ${SENSITIVITIES.join(', ')}` });
const principal = z.enum(PRINCIPAL_TYPES, { error: `expected one of ${PRINCIPAL_TYPES.join(', ')}` });
const reasonCode = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{1,63}$/, 'expected an UPPER_SNAKE_CASE reason code, e.g. MASS_EXPORT');
const score = z.number({ error: 'expected a score between 0 and 1' }).min(0).max(1);
const duration = z
  .union([z.number().int().nonnegative(), z.string()], { error: 'expected a duration like 30s, 10m or 1h' })
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration like 30s, 10m or 1h' });
      return z.NEVER;
    }
    return ms;
  });

/** Responses per risk level; a map that names only some levels leaves the others alone. */
const byLevel = z.partialRecord(
  z.enum(RISK_LEVELS, { error: `expected a risk level: ${RISK_LEVELS.join(', ')}` }),
  response,
);
const fullByLevel = z.strictObject(
  Object.fromEntries(RISK_LEVELS.map((l) => [l, response])) as Record<RiskLevel, typeof response>,
);

/** A response per sensitivity; the ones left out keep their default. */
const bySensitivity = z.partialRecord(sensitivity, response);

/** `outage.withoutState`: answers while Redis does not answer (settings redis.outage=decide). */
export const OUTAGE_WITHOUT_STATE = {
  none: 'ALLOW',
  low: 'ALLOW',
  medium: 'STEP_UP',
  high: 'BLOCK_ACTION',
  critical: 'BLOCK_ACTION',
} as const satisfies Record<Sensitivity, (typeof DECISION_TYPES)[number]>;
/** `outage.stateLost`: the least a session gets once its state was found lost, until a step-up passes. */
export const OUTAGE_STATE_LOST = {
  none: 'ALLOW',
  low: 'ALLOW',
  medium: 'STEP_UP',
  high: 'STEP_UP',
  critical: 'STEP_UP',
} as const satisfies Record<Sensitivity, (typeof DECISION_TYPES)[number]>;

/** `high` is short for `{sensitivity: high}`. */
const shortForm = (v: unknown) => (typeof v === 'string' ? { sensitivity: v } : v);
const tier = z.preprocess(shortForm, z.strictObject({ sensitivity, reason: reasonCode.optional() }));
const actionEntry = z.preprocess(
  shortForm,
  z.strictObject({
    sensitivity,
    /** Record-count tiers: minimum records -> sensitivity (or {sensitivity, reason}). */
    records: z.record(z.string().regex(/^\d+$/, 'expected a whole number of records'), tier).optional(),
  }),
);

const names = (what: string) => z.array(z.string().min(1, `expected a ${what} name`)).min(1);

const rule = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected a name of letters, digits and _ . : -'),
    when: z
      .strictObject({
        principal: z.array(principal).min(1).optional(),
        app: names('app').optional(),
        action: names('action').optional(),
        sensitivity: z.array(sensitivity).min(1).optional(),
      })
      .default({}),
    respond: byLevel.optional(),
    atLeast: byLevel.optional(),
  })
  .refine((r) => r.respond !== undefined || r.atLeast !== undefined, {
    message: 'a rule needs `respond` or `atLeast` (or both)',
  });

export const policySchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a name of letters, digits and _ . -'),
  version: z.union([z.string().min(1).max(64), z.number()]).transform(String),
  riskLevels: z
    .strictObject({ low: score, medium: score, high: score, critical: score })
    .refine((l) => l.low <= l.medium && l.medium <= l.high && l.high <= l.critical, {
      message: 'risk level floors must rise: low <= medium <= high <= critical',
    }),
  catalog: z.record(z.string().min(1), z.record(z.string().min(1), actionEntry)).default({}),
  responses: z.strictObject(
    Object.fromEntries(SENSITIVITIES.map((s) => [s, fullByLevel])) as Record<Sensitivity, typeof fullByLevel>,
  ),
  rules: z.array(rule).default([]),
  principals: z
    .partialRecord(principal, z.strictObject({ replace: z.partialRecord(response, response).default({}) }))
    .default({}),
  friction: z
    .strictObject({
      trustAfterStepUp: duration.default(30 * 60_000),
      stepUpCooldown: duration.default(10 * 60_000),
      failedStepUp: z
        .strictObject({
          escalateTo: response.default('BLOCK_ACTION'),
          terminateAfter: z.number().int().min(1).max(100).default(3),
        })
        .prefault({}),
      terminatedStaysTerminated: z.boolean().default(true),
    })
    .prefault({}),
  outage: z
    .strictObject({
      withoutState: bySensitivity.default({}),
      stateLost: bySensitivity.default({}),
    })
    .prefault({}),
});

export type PolicyDocument = z.output<typeof policySchema>;

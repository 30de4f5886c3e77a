/**
 * A simulation described in a file, for `simulate`, `train` and `evaluate` (`--sim-config`): how
 * many sessions, which seed, the share of attacks, the mix of scenarios and the time span. Flags
 * given on the command line override the file.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { parseDuration } from '../config/schema';
import { RiskStreamError } from '../errors';
import { SCENARIO_NAMES, type ScenarioMix } from './types';

export interface SimConfig {
  sessions?: number;
  seed?: number;
  attackRate?: number;
  mix?: ScenarioMix;
  /** ISO date of the earliest session start. */
  start?: string;
  /** Session starts spread over this many ms ("6h" in the file). */
  spanMs?: number;
}

const durationMs = z.preprocess(
  (v) => (typeof v === 'string' ? (parseDuration(v) ?? v) : v),
  z.number({ error: 'expected a duration like 30m or 6h, or milliseconds' }).int().positive(),
);

const schema = z.strictObject({
  sessions: z.number().int().min(1).optional(),
  seed: z.number().int().min(0).optional(),
  attackRate: z.number().min(0).max(1).optional(),
  mix: z
    .record(z.string(), z.number().min(0))
    .superRefine((mix, ctx) => {
      for (const name of Object.keys(mix))
        if (!(SCENARIO_NAMES as readonly string[]).includes(name))
          ctx.addIssue({
            code: 'custom',
            message: `unknown scenario "${name}"; known: ${SCENARIO_NAMES.join(', ')}`,
          });
    })
    .optional(),
  start: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO date')
    .optional(),
  span: durationMs.optional(),
});

/** Reads and checks a simulation file; a bad field fails with its path and the file named. */
export function loadSimConfig(file: string): SimConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RiskStreamError('CONFIG_INVALID', `simulation file ${file}: ${(err as Error).message}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RiskStreamError(
      'CONFIG_INVALID',
      `simulation file ${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    );
  }
  const { span, mix, ...rest } = r.data;
  return {
    ...rest,
    ...(span === undefined ? {} : { spanMs: span }),
    ...(mix === undefined ? {} : { mix: mix as ScenarioMix }),
  };
}

import { z } from 'zod';

/**
 * The kinds of leaf a setting can be, shared by every settings section. Leaves accept strings too,
 * because environment variables are strings.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string): number | undefined {
  const m = DURATION.exec(value.trim());
  if (!m) return /^\d+$/.test(value.trim()) ? Number(value) : undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number));
}

const fromString = (parse: (s: string) => unknown) => (v: unknown) => (typeof v === 'string' ? parse(v) : v);

export const str = (def: string) => z.string().min(1).default(def);
export const optStr = () => z.string().min(1).optional();
export const int = (def: number, min: number, max: number) =>
  z
    .preprocess(
      fromString((s) => (s.trim() === '' ? s : Number(s))),
      z.number().int().min(min).max(max),
    )
    .default(def);
export const num = (def: number, min: number, max: number) =>
  z
    .preprocess(
      fromString((s) => (s.trim() === '' ? s : Number(s))),
      z.number().min(min).max(max),
    )
    .default(def);
export const bool = (def: boolean) =>
  z
    .preprocess(
      fromString(
        (s) =>
          ({ true: true, '1': true, yes: true, false: false, '0': false, no: false })[s.toLowerCase()] ?? s,
      ),
      z.boolean(),
    )
    .default(def);
export const list = (def: string[]) =>
  z
    .preprocess(
      fromString((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
      z.array(z.string().min(1)).min(1),
    )
    .default(def);
/** A duration: `250ms`, `30s`, `30m`, `12h`, `1d`, or a number of milliseconds. Compiled to ms. */
export const duration = (def: string) =>
  z
    .preprocess(
      fromString((s) => parseDuration(s) ?? s),
      z.number({ error: 'expected a duration like 30s, 5m or 1h' }),
    )
    .pipe(z.number().int().nonnegative())
    .default(parseDuration(def) as number);
export const oneOf = <T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
  z.enum(values).default(def as never);

/**
 * Retry delays for failed pushes: exponential from `initialMs`, doubling per failed attempt up to
 * `maxMs`, with "equal jitter" (a random delay in the upper half of the step), so receivers that
 * come back are not hit by every waiting SET at the same moment, yet delays still grow.
 */

/** Share of the step that is random: delays fall in [step * (1 - JITTER), step]. */
export const JITTER = 0.5;

/** The undithered step after `failures` failed attempts (1 = the first failure). */
export function backoffStep(failures: number, initialMs: number, maxMs: number): number {
  if (failures < 1 || initialMs <= 0) return 0;
  // 2 ** 52 is already beyond any max; the cap also keeps the power finite.
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 52));
}

/** The delay before the next attempt, in ms (integer). `random` returns [0, 1). */
export function retryDelay(
  failures: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const step = backoffStep(failures, initialMs, maxMs);
  return Math.round(step * (1 - JITTER * random()));
}

import type { Redis } from 'ioredis';
import { canonicalJson } from '../../src/evidence/record';
import { parseFriction } from '../../src/policy/friction';
import { sessionKeys } from '../../src/state/keys';

/** What Redis holds for one session under a key prefix, in a form two runs can be compared in. */
export interface SessionState {
  /** The `win` value as the Lua script packed it (decodeState reads it); null: none (e.g. logged out). */
  win: Buffer | null;
  /**
   * The policy (friction) state as canonical JSON, without the hash of the evidence chain's head: a
   * record's hash seals its decided_at, the wall clock of the run. Null: none.
   */
  policy: string | null;
}

/** The window and policy state of each session, read in one round trip. */
export async function readSessionStates(
  redis: Redis,
  prefix: string,
  sessionIds: readonly string[],
): Promise<Map<string, SessionState>> {
  const pipeline = redis.pipeline();
  for (const id of sessionIds) {
    const keys = sessionKeys(prefix, id);
    pipeline.getBuffer(keys.win);
    pipeline.get(keys.pol);
  }
  const replies = (await pipeline.exec()) ?? [];
  const out = new Map<string, SessionState>();
  sessionIds.forEach((id, i) => {
    const [winErr, win] = replies[2 * i] ?? [new Error('no reply'), null];
    const [polErr, pol] = replies[2 * i + 1] ?? [new Error('no reply'), null];
    if (winErr || polErr) throw winErr ?? polErr;
    out.set(id, { win: (win as Buffer | null) ?? null, policy: comparablePolicy(pol as string | null) });
  });
  return out;
}

/** `<asOf>|<json>` (savePolicy-1.lua) -> canonical JSON without the chain head's hash. */
function comparablePolicy(stored: string | null): string | null {
  if (stored === null) return null;
  const state = parseFriction(stored.slice(stored.indexOf('|') + 1));
  if (!state) return `unreadable: ${stored}`;
  const chain = state.chain ? { chain: state.chain.chain, seq: state.chain.seq } : state.chain;
  return canonicalJson({ ...state, chain });
}

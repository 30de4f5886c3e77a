import type { Redis } from 'ioredis';
import { ReplyError } from 'ioredis';
import type { ActionInput, SessionStore, WindowView } from '../contract';
import { RiskStreamError } from '../errors';
import type { SessionKeys } from './keys';
import { DEFAULT_KEY_PREFIX, checkKeyPrefix, sessionKeys } from './keys';
import type { ScriptCommands } from './scripts';
import { registerScripts } from './scripts';
import type { StoreLimits, StoreOptions, WindowState } from './window';
import { decodeState, resolveStoreLimits } from './window';

export interface RedisStoreOptions extends StoreOptions {
  /** Prepended to every key; must not contain `{` or `}`. @default 'rs:' */
  prefix?: string;
  /** Whether close() quits the client (only for a client this store's owner handed over). @default false */
  ownsClient?: boolean;
  /** Called after every batch round trip, e.g. to feed a histogram. */
  onRoundTrip?: (ms: number, sessions: number) => void;
}

/** Reply errors that mean "Redis cannot serve right now", not "the script is wrong". */
const TRANSIENT_REPLY = /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MOVED|ASK)\b/;

function storeError(err: unknown): RiskStreamError {
  if (err instanceof RiskStreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ReplyError && !TRANSIENT_REPLY.test(message)) {
    return new RiskStreamError('STORE_SCRIPT', `session store script failed: ${message}`, { cause: err });
  }
  return new RiskStreamError('STORE_UNAVAILABLE', `session store unavailable: ${message}`, {
    retriable: true,
    cause: err,
  });
}

/** Parses a view JSON from the script (cjson writes an empty array as `{}`). */
export function parseView(json: string): WindowView {
  const view = JSON.parse(json) as WindowView;
  if (!Array.isArray(view.fpSeq)) view.fpSeq = [];
  return view;
}

/**
 * The session store in Redis. One batch is one round trip: a pipeline with one `applyActions`
 * call per session carrying that session's events in order. A failed batch may have been applied
 * for some sessions; retrying it is safe because every event is deduplicated by eventId.
 */
export class RedisSessionStore implements SessionStore {
  readonly limits: StoreLimits;
  readonly prefix: string;
  /** Milliseconds of the latest batch round trip (0 before the first). */
  lastRoundTripMs = 0;
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly onRoundTrip: ((ms: number, sessions: number) => void) | undefined;

  constructor(client: Redis, options: RedisStoreOptions = {}) {
    this.limits = resolveStoreLimits(options);
    this.prefix = checkKeyPrefix(options.prefix ?? DEFAULT_KEY_PREFIX);
    this.ownsClient = options.ownsClient ?? false;
    this.onRoundTrip = options.onRoundTrip;
    this.client = client;
    registerScripts(client);
  }

  keys(sessionId: string): SessionKeys {
    return sessionKeys(this.prefix, sessionId);
  }

  async applyBatch(inputs: readonly ActionInput[]): Promise<WindowView[]> {
    if (inputs.length === 0) return [];
    const bySession = new Map<string, number[]>();
    inputs.forEach((input, index) => {
      const indexes = bySession.get(input.sessionId);
      if (indexes) indexes.push(index);
      else bySession.set(input.sessionId, [index]);
    });

    const { idleTtlMs, dedupeCap, maxDistinct, maxRing } = this.limits;
    const pipeline = this.client.pipeline();
    const commands = pipeline as unknown as ScriptCommands;
    for (const [sessionId, indexes] of bySession) {
      const { win, ev, evq } = this.keys(sessionId);
      const events = indexes.map((i) => JSON.stringify(inputs[i]));
      commands.applyActions(win, ev, evq, idleTtlMs, dedupeCap, maxDistinct, maxRing, ...events);
    }

    const started = performance.now();
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw storeError(err);
    }
    const ms = performance.now() - started;
    this.lastRoundTripMs = ms;
    this.onRoundTrip?.(ms, bySession.size);
    if (!results || results.length !== bySession.size) {
      throw new RiskStreamError('STORE_UNAVAILABLE', 'session store: pipeline returned no results', {
        retriable: true,
      });
    }

    const views = new Array<WindowView>(inputs.length);
    let k = 0;
    for (const indexes of bySession.values()) {
      const [err, reply] = results[k++]!;
      if (err) throw storeError(err);
      if (!Array.isArray(reply) || reply.length !== indexes.length) {
        throw new RiskStreamError('STORE_SCRIPT', 'session store script returned an unexpected reply');
      }
      indexes.forEach((inputIndex, j) => {
        views[inputIndex] = parseView(String(reply[j]));
      });
    }
    return views;
  }

  /** The stored window of a session, or null (for tests and debugging). */
  async peek(sessionId: string): Promise<WindowState | null> {
    const json = await this.client.get(this.keys(sessionId).win);
    return json === null ? null : decodeState(json);
  }

  /** Cheap: false at once while the client is not connected, instead of queueing. */
  async ping(): Promise<boolean> {
    if (this.client.status !== 'ready') return false;
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient && this.client.status !== 'end') await this.client.quit();
  }
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Decision, IndexedDecision, SessionStore } from '../contract';
import type { Logger } from '../log';
import { parseFriction } from '../policy/friction';
import { bearer, tokenMatcher } from './security';

/**
 * The analyst API, read-only, backed by the session store (Redis: recent data, what the idle TTL
 * and the timeline caps keep):
 *
 * - GET /v1/sessions/:id           the session's window summary and policy state
 * - GET /v1/sessions/:id/timeline  its actions in order: client, what changed, score, decision, reasons
 * - GET /v1/decisions              recent non-ALLOW decisions, newest first, filtered, paginated
 * - GET /v1/decisions/stream       the same as they happen (Server-Sent Events)
 *
 * Callers present an analyst token (read-only) or an admin token; with neither configured the API
 * is open, which start-up allows only on a loopback address.
 */

export interface InvestigateDeps {
  store: SessionStore;
  analystTokens: readonly string[];
  adminTokens: readonly string[];
  /** Answer without a token (none configured, loopback only: see resolveHttpSecurity). */
  open: boolean;
  log: Logger;
  /** How long one wait for new decisions lasts (live feed). @default 1000 */
  followWaitMs?: number;
  /** Heartbeat comment interval on the live feed. @default 15000 */
  heartbeatMs?: number;
}

type Summary = Decision & { evidence?: { seq: number; hash: string } | null };

interface DecisionQuery {
  user?: string;
  app?: string;
  decision?: string;
  session?: string;
  since?: string;
  limit?: string;
  cursor?: string;
}

const MAX_SCAN = 20_000;

function filterOf(q: DecisionQuery): (d: Summary) => boolean {
  const since =
    q.since === undefined ? undefined : /^\d+$/.test(q.since) ? Number(q.since) : Date.parse(q.since);
  const decisions = q.decision ? new Set(q.decision.split(',').map((s) => s.trim().toUpperCase())) : null;
  return (d) =>
    (!q.user || d.user_id === q.user) &&
    (!q.app || d.app === q.app) &&
    (!q.session || d.session_id === q.session) &&
    (!decisions || decisions.has(d.decision)) &&
    (since === undefined || !Number.isFinite(since) || d.decided_at >= since);
}

const parse = (row: IndexedDecision): Summary | null => {
  try {
    return JSON.parse(row.json) as Summary;
  } catch {
    return null;
  }
};

/** One reader of the decisions index per process, fanned out to every live-feed client. */
class DecisionFeed {
  private readonly listeners = new Set<(d: Summary, cursor: string) => void>();
  private running = false;
  private stopped = false;

  constructor(
    private readonly store: SessionStore,
    private readonly waitMs: number,
    private readonly log: Logger,
  ) {}

  subscribe(listener: (d: Summary, cursor: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.running) void this.loop();
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      let cursor = (await this.store.readDecisions(null, 1))[0]?.cursor ?? '0';
      while (!this.stopped && this.listeners.size > 0) {
        try {
          const rows = await this.store.followDecisions(cursor, this.waitMs);
          for (const row of rows) {
            cursor = row.cursor;
            const d = parse(row);
            if (d) for (const l of this.listeners) l(d, row.cursor);
          }
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'live decision feed: reading the index failed');
          await new Promise((r) => setTimeout(r, this.waitMs));
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'live decision feed stopped');
    } finally {
      this.running = false;
    }
  }
}

export function registerInvestigationRoutes(app: FastifyInstance, deps: InvestigateDeps): void {
  const allowed = tokenMatcher([...deps.analystTokens, ...deps.adminTokens]);
  const { open } = deps;
  const feed = new DecisionFeed(deps.store, deps.followWaitMs ?? 1000, deps.log);
  const streams = new Set<() => void>();
  // Closing the server ends every live feed (they would hold it open).
  app.addHook('preClose', async () => {
    feed.stop();
    for (const end of streams) end();
  });

  const problem = (reply: FastifyReply, status: number, error: string, message: string) => {
    reply.code(status).header('cache-control', 'no-store');
    return { error, message };
  };
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (open) return;
    const token = bearer(req.headers.authorization);
    if (token === null || !allowed(token)) {
      reply.header('www-authenticate', 'Bearer realm="risk-stream"');
      return reply.send(
        problem(
          reply,
          401,
          'UNAUTHORIZED',
          'an analyst or admin bearer token is required (http.analystTokens)',
        ),
      );
    }
  };

  app.register(async (scope) => {
    scope.addHook('onRequest', guard);
    scope.addHook('onSend', async (_req, reply, payload) => {
      reply.header('cache-control', 'no-store');
      return payload;
    });

    scope.get<{ Params: { id: string } }>('/v1/sessions/:id', async (req, reply) => {
      const id = req.params.id;
      const s = await deps.store.readSession(id);
      const timeline = await deps.store.readTimeline(id);
      if (!s.window && !s.policy && timeline.length === 0) {
        return problem(reply, 404, 'NOT_FOUND', `no recent data for session ${id} (unknown, or expired)`);
      }
      const f = parseFriction(s.policy);
      const last =
        timeline.length > 0 ? (JSON.parse(timeline[timeline.length - 1]!) as { client: unknown }) : null;
      const firstEntry = timeline.length > 0 ? (JSON.parse(timeline[0]!) as { client: unknown }) : null;
      const user = (last as { user_id?: string } | null)?.user_id ?? null;
      const w = s.window;
      return {
        session_id: id,
        user_id: user,
        window: w
          ? {
              events: w.events,
              first_ts: w.firstTs,
              last_ts: w.lastTs,
              baseline: firstEntry?.client ?? null,
              last: last?.client ?? null,
              distinct: w.distinct,
              capped: w.capped,
            }
          : null,
        state: {
          terminated: f?.terminated
            ? {
                ts: f.terminated.ts,
                decision_id: f.terminated.decisionId,
                score: f.terminated.score,
                model: f.terminated.model,
              }
            : null,
          trusted_until: f?.trust?.until ?? null,
          failures: f?.failures ?? 0,
          cooldown: f?.cooldown ?? {},
        },
        evidence: f?.chain ? { seq: f.chain.seq, hash: f.chain.hash } : null,
        expires_in_ms: s.expiresInMs,
        timeline_entries: timeline.length,
      };
    });

    scope.get<{ Params: { id: string }; Querystring: { limit?: string; before?: string } }>(
      '/v1/sessions/:id/timeline',
      async (req) => {
        const limit = clamp(req.query.limit, 100, 1, 1000);
        const before = req.query.before === undefined ? Infinity : Number(req.query.before);
        const all = (await deps.store.readTimeline(req.params.id)).map(
          (json) => JSON.parse(json) as { n: number },
        );
        const older = all.filter((e) => e.n < before);
        const items = older.slice(-limit);
        return {
          session_id: req.params.id,
          items,
          next_before: older.length > items.length ? (items[0]?.n ?? null) : null,
        };
      },
    );

    scope.get<{ Querystring: DecisionQuery }>('/v1/decisions', async (req) => {
      const limit = clamp(req.query.limit, 50, 1, 500);
      const keep = filterOf(req.query);
      const items: Summary[] = [];
      const ids = new Set<string>();
      let cursor: string | null = req.query.cursor ?? null;
      let scanned = 0;
      let exhausted = false;
      while (items.length < limit && scanned < MAX_SCAN) {
        const rows = await deps.store.readDecisions(cursor, 500);
        if (rows.length === 0) {
          exhausted = true;
          break;
        }
        for (const row of rows) {
          scanned++;
          const d = parse(row);
          // A batch re-decided after a crash indexes its decisions again: each is listed once.
          if (d && keep(d) && !ids.has(d.decision_id)) {
            ids.add(d.decision_id);
            items.push(d);
          }
          cursor = row.cursor;
          if (items.length >= limit) break;
        }
      }
      return { items, next_cursor: exhausted ? null : cursor };
    });

    scope.get<{ Querystring: DecisionQuery }>('/v1/decisions/stream', (req, reply) => {
      const keep = filterOf(req.query);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': risk-stream live decisions\n\n');
      const unsubscribe = feed.subscribe((d, cursor) => {
        if (keep(d)) res.write(`id: ${cursor}\nevent: decision\ndata: ${JSON.stringify(d)}\n\n`);
      });
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), deps.heartbeatMs ?? 15_000);
      const close = () => {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(end);
      };
      const end = () => {
        close();
        res.end();
      };
      streams.add(end);
      req.raw.on('close', close);
    });
  });
}

function clamp(value: string | undefined, def: number, min: number, max: number): number {
  const n = value === undefined ? def : Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.floor(n))) : def;
}

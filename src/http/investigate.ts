import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FingerprintSnapshot, SessionStore } from '../contract';
import type { Logger } from '../log';
import { countAuthFailure, type Metrics } from '../metrics/metrics';
import { parseFriction } from '../policy/friction';
import { DecisionFeed, compareCursors, parseIndexed, type Summary } from './feed';
import { BadParam, beforeOf, filterOf, lastEventIdOf, cursorOf, limitOf, matches, type Query } from './query';
import { bearer, tokenMatcher } from './security';

/**
 * The analyst API, read-only, backed by the session store (Redis: recent data, what the idle TTL
 * and the timeline caps keep):
 *
 * - GET /v1/sessions/:id           the session's window summary and policy state
 * - GET /v1/sessions/:id/timeline  its actions in order: client, what changed, score, decision, reasons
 * - GET /v1/decisions              recent non-ALLOW decisions, newest first, filtered, paginated
 * - GET /v1/decisions/stream       the same as they happen (Server-Sent Events); a reconnecting
 *                                  client (Last-Event-ID) first gets what it missed
 *
 * Callers present an analyst token (read-only) or an admin token; with neither configured the API
 * is open, which start-up allows only on a loopback address. A malformed query parameter is a 400
 * naming it; an empty one counts as not given (what an HTML form sends for an empty field).
 */

export interface InvestigateDeps {
  store: SessionStore;
  analystTokens: readonly string[];
  adminTokens: readonly string[];
  /** Answer without a token (none configured, loopback only: see resolveHttpSecurity). */
  open: boolean;
  /** Counts refused requests (riskstream_http_auth_failures_total, route `analyst`). */
  metrics?: Metrics;
  log: Logger;
  /** How long one wait for new decisions lasts (live feed). @default 1000 */
  followWaitMs?: number;
  /** Heartbeat comment interval on the live feed. @default 15000 */
  heartbeatMs?: number;
}

/** Index rows read per page and at most per request (a filter that matches little stops there). */
const PAGE = 500;
const MAX_SCAN = 20_000;
const DECISIONS_LIMIT = { def: 50, max: 500 };
const TIMELINE_LIMIT = { def: 100, max: 1000 };
/**
 * The index is in settle order, which is decided_at order only roughly (batches in flight, several
 * engines), so a `since` scan stops only at a decision this much older than `since`.
 */
const SINCE_SLACK_MS = 60_000;

/** Resolves once the response can take more, or is closed. */
const drained = (res: ServerResponse) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });

/** A window fingerprint in the API's client vocabulary (the timeline's names), with its event time. */
function clientOf(fp: FingerprintSnapshot | null) {
  if (fp === null) return null;
  return {
    ip: fp.ip,
    asn: fp.asn,
    country: fp.country,
    lat: fp.lat,
    lon: fp.lon,
    user_agent: fp.ua,
    ja4: fp.ja4,
    device_id: fp.dev,
    ts: fp.ts,
  };
}

export function registerInvestigationRoutes(app: FastifyInstance, deps: InvestigateDeps): void {
  const allowed = tokenMatcher([...deps.analystTokens, ...deps.adminTokens]);
  const noTokens = deps.analystTokens.length + deps.adminTokens.length === 0;
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
      countAuthFailure(deps.metrics, 'analyst', 401);
      reply.header('www-authenticate', 'Bearer realm="risk-stream"');
      return reply.send(
        problem(
          reply,
          401,
          'UNAUTHORIZED',
          noTokens
            ? 'no analyst or admin tokens are configured (http.analystTokens): without them the analyst API answers only on a loopback address'
            : 'an analyst or admin bearer token is required (http.analystTokens)',
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
    scope.setErrorHandler((err, _req, reply) => {
      if (!(err instanceof BadParam)) throw err;
      return reply.code(400).send({ error: 'BAD_REQUEST', message: err.message, param: err.param });
    });

    scope.get<{ Params: { id: string } }>('/v1/sessions/:id', async (req, reply) => {
      const id = req.params.id;
      const [s, timeline] = await Promise.all([deps.store.readSession(id), deps.store.readTimeline(id)]);
      if (!s.window && !s.policy && timeline.length === 0) {
        return problem(reply, 404, 'NOT_FOUND', `no recent data for session ${id} (unknown, or expired)`);
      }
      const f = parseFriction(s.policy);
      type Entry = { user_id?: string; client?: unknown };
      const first = timeline.length > 0 ? (JSON.parse(timeline[0]!) as Entry) : null;
      const last = timeline.length > 0 ? (JSON.parse(timeline[timeline.length - 1]!) as Entry) : null;
      const w = s.window;
      return {
        session_id: id,
        user_id: last?.user_id ?? null,
        window: w
          ? {
              events: w.events,
              first_ts: w.firstTs,
              last_ts: w.lastTs,
              // From the window, which sees the whole session (the timeline keeps its latest actions).
              baseline: clientOf(w.baseline),
              latest: clientOf(w.latest),
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
        // The clients of the oldest and the newest action the timeline still keeps.
        timeline_first_client: first?.client ?? null,
        timeline_last_client: last?.client ?? null,
      };
    });

    scope.get<{ Params: { id: string }; Querystring: Query }>('/v1/sessions/:id/timeline', async (req) => {
      const limit = limitOf(req.query, TIMELINE_LIMIT);
      const before = beforeOf(req.query);
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
    });

    scope.get<{ Querystring: Query }>('/v1/decisions', async (req) => {
      const limit = limitOf(req.query, DECISIONS_LIMIT);
      const filter = filterOf(req.query);
      const stopAt = filter.since === null ? null : filter.since - SINCE_SLACK_MS;
      const items: Summary[] = [];
      const ids = new Set<string>();
      let cursor = cursorOf(req.query, 'cursor');
      let scanned = 0;
      let done = false;
      scan: while (scanned < MAX_SCAN) {
        const rows = await deps.store.readDecisions(cursor, PAGE);
        for (const row of rows) {
          scanned++;
          cursor = row.cursor;
          const d = parseIndexed(row);
          if (d === null) continue;
          // Newest first: past `since` nothing older can match.
          if (stopAt !== null && d.decided_at < stopAt) {
            done = true;
            break scan;
          }
          // A batch re-decided after a crash indexes its decisions again: each is listed once.
          if (matches(filter, d) && !ids.has(d.decision_id)) {
            ids.add(d.decision_id);
            items.push(d);
            if (items.length >= limit) {
              done = rows.length < PAGE && row === rows[rows.length - 1];
              break scan;
            }
          }
        }
        if (rows.length < PAGE) {
          done = true;
          break;
        }
      }
      return { items, next_cursor: done ? null : cursor };
    });

    scope.get<{ Querystring: Query }>('/v1/decisions/stream', (req, reply) => {
      const filter = filterOf(req.query);
      const after = lastEventIdOf(req.headers['last-event-id'], req.query);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': risk-stream live decisions\n\n');

      let ended = false;
      // The cursor of the latest decision handled (sent, or filtered out): nothing at or before it
      // is sent again, so the replay and the live feed join without a duplicate.
      let through = after;
      const deliver = (d: Summary | null, cursor: string) => {
        if (ended || (through !== null && compareCursors(cursor, through) <= 0)) return;
        through = cursor;
        if (d && matches(filter, d))
          res.write(`id: ${cursor}\nevent: decision\ndata: ${JSON.stringify(d)}\n\n`);
      };
      // While the replay runs, live decisions wait here.
      let held: [Summary | null, string][] | null = after === null ? null : [];
      const { unsubscribe, started } = feed.subscribe((d, cursor) => {
        if (held) held.push([d, cursor]);
        else deliver(d, cursor);
      });
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), deps.heartbeatMs ?? 15_000);
      const close = () => {
        ended = true;
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(end);
      };
      const end = () => {
        close();
        res.end();
      };
      streams.add(end);
      res.on('close', close);

      if (after !== null) {
        const replay = async () => {
          // Subscribed first, then read until nothing is left: whatever the live feed does not
          // bring was indexed before it started, so the replay has it (up to MAX_SCAN decisions:
          // a client further behind misses the oldest).
          await started;
          // A cursor past the newest decision is not from this index (an in-memory one restarted):
          // replay nothing and filter nothing out.
          const newest = (await deps.store.readDecisions(null, 1))[0]?.cursor;
          if (newest === undefined || compareCursors(after, newest) > 0) through = null;
          let cursor = after;
          for (let read = 0; through !== null && !ended && read < MAX_SCAN;) {
            const rows = await deps.store.followDecisions(cursor, 0);
            if (rows.length === 0) break;
            for (const row of rows) deliver(parseIndexed(row), row.cursor);
            cursor = rows[rows.length - 1]!.cursor;
            read += rows.length;
            // A long replay goes at the client's pace, not into memory.
            if (res.writableNeedDrain) await drained(res);
          }
          const waiting = held ?? [];
          held = null;
          for (const [d, cursor] of waiting) deliver(d, cursor);
        };
        replay().catch((err: unknown) => {
          // Ended, the client reconnects with the same Last-Event-ID and the replay is tried again.
          deps.log.warn({ err: (err as Error).message }, 'live decision feed: the replay failed');
          if (!ended) end();
        });
      }
    });
  });
}

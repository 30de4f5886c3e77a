import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildMemoryStore, buildModel, buildPipeline } from '../../../src/cli/context';
import { loadSettings } from '../../../src/config/load';
import type { ClientInfo, Decision, DecisionType, EvidenceRecord } from '../../../src/contract';
import { registerInvestigationRoutes, type InvestigateDeps } from '../../../src/http/investigate';
import { silentLogger } from '../../../src/log';
import type { Scorer } from '../../../src/model/scorer';
import type { MemorySessionStore } from '../../../src/state/memory';
import { action, lineRecord } from '../../helpers/fixtures';
import { ATTACKER } from '../../helpers/evaluate';

/**
 * The analyst API on the in-memory store, filled by the real pipeline (the shipped model, its
 * scores set by the test so the built-in policy gives the decision wanted) or, where the test needs
 * decision times it chooses, by settling decisions of the pipeline's shape directly.
 */

/** The session's owner at home, then at the office (same laptop), and a token thief abroad. */
const HOME: ClientInfo = {
  ip: '73.22.10.5',
  asn: 7922,
  country: 'US',
  lat: 40.71,
  lon: -74.0,
  user_agent:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  ja4: 't13d1516h2_8daaf6152771_02713d6af862',
  device_id: 'dev-laptop',
  accept_language: 'en-US',
};
const OFFICE: ClientInfo = { ...HOME, ip: '198.51.100.20', asn: 3356, lat: 40.75, lon: -73.99 };

/** Model scores the built-in policy turns into each decision for a `view` (sensitivity none). */
const VIEW_RISK = { ALLOW: 0.01, STEP_UP: 0.7, TERMINATE: 0.95 } as const;

interface Step {
  session: string;
  user?: string;
  app?: string;
  action?: string;
  records?: number | null;
  client?: ClientInfo;
  risk: number;
}

interface Body {
  items: (Decision & { evidence: { seq: number; hash: string } | null })[];
  next_cursor: string | null;
}

const T0 = Date.now() - 3_600_000;
let tick = 0;

/** A store, the pipeline that fills it and the analyst API over it (not listening). */
async function world(scorer: Scorer, opts: { maxEntries?: number; api?: Partial<InvestigateDeps> } = {}) {
  const settings = loadSettings({
    env: {},
    overrides: opts.maxEntries === undefined ? {} : { timeline: { maxEntries: opts.maxEntries } },
  });
  const store = buildMemoryStore(settings);
  let risk = 0;
  const scripted = Object.create(scorer) as Scorer;
  scripted.score = async (_x: Float32Array, rows: number) => new Float32Array(rows).fill(risk);
  const process = buildPipeline({ settings, store, model: () => scripted, format: 'json', allowJson: true });
  const app = Fastify();
  registerInvestigationRoutes(app, {
    store,
    analystTokens: [],
    adminTokens: [],
    open: true,
    log: silentLogger(),
    followWaitMs: 50,
    ...opts.api,
  });

  /** One action per batch, decided and settled (timeline and index written) like the engine does. */
  const run = async (step: Step): Promise<{ decision: Decision; evidence: EvidenceRecord[] }> => {
    risk = step.risk;
    const a = action({
      session_id: step.session,
      user_id: step.user ?? 'u-alice',
      app: step.app ?? 'salesforce',
      action: step.action ?? 'view',
      records: step.records ?? null,
      ts: T0 + ++tick * 1000,
      client: step.client ?? HOME,
    });
    const raw = lineRecord(JSON.stringify(a), 1);
    const result = await process([raw]);
    await result.settle?.();
    return { decision: result.decisions[0]!, evidence: result.evidence ?? [] };
  };
  return { store, app, run };
}

let decisionNo = 0;

/** A non-ALLOW decision as the pipeline indexes it, decided at `decidedAt`. */
function indexed(decidedAt: number, over: Partial<Decision> = {}): string {
  decisionNo++;
  const decision: Decision = {
    decision_id: `0d000000-0000-5000-8000-${String(decisionNo).padStart(12, '0')}`,
    event_id: `0e000000-0000-4000-8000-${String(decisionNo).padStart(12, '0')}`,
    session_id: `s-bulk-${decisionNo % 7}`,
    user_id: 'u-carol',
    app: 'workday',
    event_ts: decidedAt - 40,
    decided_at: decidedAt,
    decision: 'STEP_UP',
    score: 0.71,
    model_version: '2.0.0',
    reasons: [
      { code: 'NEW_DEVICE', detail: 'device dev-2 not seen in this session (first: dev-1)', weight: 1 },
    ],
    action: 'view',
    policy_version: 'default@1#bd424c100e48',
    policy_rule: 'responses.none.high',
    ...over,
  };
  return JSON.stringify({ ...decision, evidence: { seq: 1, hash: 'ab'.repeat(32) } });
}

async function settleDecisions(store: MemorySessionStore, decisions: string[]): Promise<void> {
  await store.settle({ policy: [], timeline: [], decisions });
}

describe('http/investigate: the analyst API (memory store, the real pipeline)', function () {
  this.timeout(30_000);
  let scorer: Scorer;
  const apps: FastifyInstance[] = [];

  before(async () => {
    scorer = await buildModel(loadSettings({ env: {} }), silentLogger());
  });
  after(() => scorer.dispose());
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  const make = async (opts: Parameters<typeof world>[1] = {}) => {
    const w = await world(scorer, opts);
    apps.push(w.app);
    return w;
  };

  describe('GET /v1/sessions/:id', () => {
    it('takes baseline and latest from the window, not from the timeline it outlived; terminated state and evidence head', async () => {
      // The timeline keeps 5 actions; the session has 9.
      const { app, run } = await make({ maxEntries: 5 });
      for (let i = 0; i < 3; i++) await run({ session: 's-long', client: HOME, risk: VIEW_RISK.ALLOW });
      for (let i = 0; i < 5; i++) await run({ session: 's-long', client: OFFICE, risk: VIEW_RISK.ALLOW });
      const { decision, evidence } = await run({
        session: 's-long',
        client: ATTACKER,
        risk: VIEW_RISK.TERMINATE,
      });
      assert.equal(decision.decision, 'TERMINATE');

      const r = await app.inject('/v1/sessions/s-long');
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['cache-control'], 'no-store');
      const s = r.json();
      assert.equal(s.session_id, 's-long');
      assert.equal(s.user_id, 'u-alice');
      assert.equal(s.window.events, 9);
      assert.equal(s.window.first_ts, T0 + (tick - 8) * 1000);
      assert.equal(s.window.last_ts, T0 + tick * 1000);
      assert.deepEqual(s.window.baseline, {
        ip: HOME.ip,
        asn: HOME.asn,
        country: HOME.country,
        lat: HOME.lat,
        lon: HOME.lon,
        user_agent: HOME.user_agent,
        ja4: HOME.ja4,
        device_id: HOME.device_id,
        ts: s.window.first_ts,
      });
      assert.equal(s.window.latest.ip, ATTACKER.ip);
      assert.equal(s.window.latest.user_agent, ATTACKER.user_agent);
      assert.equal(s.window.latest.device_id, null);
      assert.equal(s.window.latest.ts, s.window.last_ts);
      assert.equal(s.window.distinct.asn, 3);
      assert.equal(s.window.capped, false);

      // The timeline's own first and last clients are there too, and they are not the baseline.
      assert.equal(s.timeline_entries, 5);
      assert.equal(s.timeline_first_client.ip, OFFICE.ip);
      assert.equal(s.timeline_last_client.ip, ATTACKER.ip);

      assert.deepEqual(s.state.terminated, {
        ts: decision.event_ts,
        decision_id: decision.decision_id,
        score: decision.score,
        model: decision.model_version,
      });
      assert.equal(s.state.failures, 0);
      assert.equal(evidence.length, 1, 'the TERMINATE got the only evidence record');
      assert.deepEqual(s.evidence, { seq: evidence[0]!.seq, hash: evidence[0]!.hash });
      assert.ok(s.expires_in_ms > 0);
    });

    it('a session that only ever had ALLOWs: no terminated state, no evidence head', async () => {
      const { app, run } = await make();
      await run({ session: 's-calm', risk: VIEW_RISK.ALLOW });
      const s = (await app.inject('/v1/sessions/s-calm')).json();
      assert.equal(s.window.events, 1);
      assert.deepEqual(s.window.baseline, s.window.latest);
      assert.equal(s.state.terminated, null);
      assert.equal(s.evidence, null);
    });

    it('404 for a session the store does not know', async () => {
      const { app } = await make();
      const r = await app.inject('/v1/sessions/no-such-session');
      assert.equal(r.statusCode, 404);
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.json().error, 'NOT_FOUND');
    });
  });

  describe('GET /v1/sessions/:id/timeline', () => {
    it('oldest first; limit takes the latest; before pages back with next_before, no overlap, no gap', async () => {
      const { app, run } = await make();
      const events: string[] = [];
      for (let i = 0; i < 12; i++) {
        const risk = i === 11 ? VIEW_RISK.TERMINATE : VIEW_RISK.ALLOW;
        events.push((await run({ session: 's-tl', client: i < 6 ? HOME : OFFICE, risk })).decision.event_id);
      }
      type Page = {
        items: { n: number; event_id: string; client: { ip: string }; changed: string[] }[];
        next_before: number | null;
      };
      const page = async (query: string) => {
        const r = await app.inject(`/v1/sessions/s-tl/timeline${query}`);
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(r.headers['cache-control'], 'no-store');
        return r.json<Page>();
      };

      const all = await page('');
      assert.deepEqual(
        all.items.map((e) => e.n),
        [...Array(12).keys()],
      );
      assert.deepEqual(
        all.items.map((e) => e.event_id),
        events,
      );
      assert.equal(all.next_before, null);
      assert.deepEqual(all.items[6]!.changed, ['ip', 'asn'], 'the move to the office is marked');

      const seen: number[] = [];
      let before: number | null = null;
      const sizes: number[] = [];
      do {
        const p: Page = await page(`?limit=5${before === null ? '' : `&before=${before}`}`);
        sizes.push(p.items.length);
        seen.unshift(...p.items.map((e) => e.n));
        before = p.next_before;
        if (before !== null) assert.equal(before, p.items[0]!.n);
      } while (before !== null);
      assert.deepEqual(sizes, [5, 5, 2]);
      assert.deepEqual(seen, [...Array(12).keys()]);
    });
  });

  describe('GET /v1/decisions', () => {
    it('filters by user, app, decision list, session; newest first; ALLOWs are not indexed', async () => {
      const { app, run } = await make();
      const stepUp = (await run({ session: 's-a1', user: 'u-alice', risk: VIEW_RISK.STEP_UP })).decision;
      const block = (
        await run({
          session: 's-a2',
          user: 'u-alice',
          app: 'workday',
          action: 'export',
          records: 100,
          risk: 0.55,
        })
      ).decision;
      await run({ session: 's-b1', user: 'u-bob', risk: VIEW_RISK.ALLOW });
      const terminate = (await run({ session: 's-b1', user: 'u-bob', client: ATTACKER, risk: 0.95 }))
        .decision;
      assert.deepEqual([stepUp.decision, block.decision, terminate.decision], [
        'STEP_UP',
        'BLOCK_ACTION',
        'TERMINATE',
      ] satisfies DecisionType[]);
      const ids = async (query: string) => {
        const r = await app.inject(`/v1/decisions${query}`);
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(r.headers['cache-control'], 'no-store');
        return r.json<Body>().items.map((d) => d.decision_id);
      };

      assert.deepEqual(
        await ids(''),
        [terminate, block, stepUp].map((d) => d.decision_id),
      );
      assert.deepEqual(
        await ids('?user=u-alice'),
        [block, stepUp].map((d) => d.decision_id),
      );
      assert.deepEqual(
        await ids('?app=salesforce'),
        [terminate, stepUp].map((d) => d.decision_id),
      );
      assert.deepEqual(
        await ids('?decision=TERMINATE,step_up'),
        [terminate, stepUp].map((d) => d.decision_id),
      );
      assert.deepEqual(
        await ids('?decision=TERMINATE&decision=BLOCK_ACTION'),
        [terminate, block].map((d) => d.decision_id),
      );
      assert.deepEqual(await ids('?decision=ALLOW'), []);
      assert.deepEqual(await ids('?session=s-b1'), [terminate.decision_id]);
      assert.deepEqual(await ids('?user=u-alice&app=workday&decision=BLOCK_ACTION'), [block.decision_id]);
      assert.deepEqual(await ids('?user=u-nobody'), []);
      assert.deepEqual(await ids('?user=&app='), await ids(''), 'an empty parameter is no filter');

      const full = (await app.inject(`/v1/decisions?session=s-b1`)).json<Body>().items[0]!;
      assert.equal(full.user_id, 'u-bob');
      assert.equal(full.policy_rule, 'responses.none.critical');
      assert.equal(full.evidence?.seq, 1);
    });

    it('since (epoch ms or ISO 8601) keeps the newer ones and stops reading the index past it', async () => {
      const { app, store } = await make();
      // 1200 decisions a second apart; the newest 10 are at or after `since`.
      const base = Date.now() - 3_600_000;
      await settleDecisions(
        store,
        Array.from({ length: 1200 }, (_, i) => indexed(base + i * 1000)),
      );
      const since = base + 1190 * 1000;
      let reads = 0;
      const read = store.readDecisions.bind(store);
      store.readDecisions = (before, count) => (reads++, read(before, count));

      for (const value of [String(since), new Date(since).toISOString()]) {
        reads = 0;
        const r = await app.inject(`/v1/decisions?since=${encodeURIComponent(value)}&limit=50`);
        assert.equal(r.statusCode, 200, r.body);
        const body = r.json<Body>();
        assert.equal(body.items.length, 10, value);
        assert.ok(body.items.every((d) => d.decided_at >= since));
        assert.equal(body.next_cursor, null, 'nothing older can match');
        assert.equal(reads, 1, 'one page of the index, not all of it');
      }
    });

    it('pages with next_cursor: no overlap, nothing left out, null at the end', async () => {
      const { app, store } = await make();
      const base = Date.now() - 600_000;
      const sent = Array.from({ length: 120 }, (_, i) => indexed(base + i * 10));
      await settleDecisions(store, sent);
      const ids: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/decisions?limit=50&user=u-carol${cursor === null ? '' : `&cursor=${cursor}`}`;
        const r = await app.inject(url);
        assert.equal(r.statusCode, 200, r.body);
        const body = r.json<Body>();
        sizes.push(body.items.length);
        ids.push(...body.items.map((d) => d.decision_id));
        cursor = body.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(sizes, [50, 50, 20]);
      const expected = sent.map((json) => (JSON.parse(json) as Decision).decision_id).reverse();
      assert.deepEqual(ids, expected, 'newest first, each once');
    });

    it('a decision indexed twice (a batch re-decided after a crash) is listed once', async () => {
      const { app, store } = await make();
      const base = Date.now() - 60_000;
      const batch = [indexed(base), indexed(base + 1, { decision: 'TERMINATE' })];
      await settleDecisions(store, batch);
      await settleDecisions(store, batch);
      const body = (await app.inject('/v1/decisions')).json<Body>();
      assert.deepEqual(
        body.items.map((d) => d.decision_id),
        batch.map((json) => (JSON.parse(json) as Decision).decision_id).reverse(),
      );
      assert.equal(body.next_cursor, null);
    });

    it('a malformed since, limit, cursor, or an unknown decision is a 400 naming the parameter', async () => {
      const { app, store } = await make();
      await settleDecisions(store, [indexed(Date.now())]);
      const cases: [string, string][] = [
        ['/v1/decisions?since=yesterday', 'since'],
        ['/v1/decisions?since=2026-13-45', 'since'],
        ['/v1/decisions?since=1e12', 'since'],
        ['/v1/decisions?limit=0', 'limit'],
        ['/v1/decisions?limit=-5', 'limit'],
        ['/v1/decisions?limit=ten', 'limit'],
        ['/v1/decisions?limit=2.5', 'limit'],
        ['/v1/decisions?limit=1&limit=2', 'limit'],
        ['/v1/decisions?decision=ALOW', 'decision'],
        ['/v1/decisions?decision=STEP_UP,KILL', 'decision'],
        ['/v1/decisions?cursor=abc', 'cursor'],
        ['/v1/decisions?user=a&user=b', 'user'],
        ['/v1/decisions/stream?decision=NOPE', 'decision'],
        ['/v1/decisions/stream?last_event_id=x', 'last_event_id'],
        ['/v1/sessions/s/timeline?limit=0', 'limit'],
        ['/v1/sessions/s/timeline?before=last', 'before'],
      ];
      for (const [url, param] of cases) {
        const r = await app.inject(url);
        assert.equal(r.statusCode, 400, url);
        assert.equal(r.headers['cache-control'], 'no-store', url);
        const body = r.json<{ error: string; message: string; param: string }>();
        assert.equal(body.error, 'BAD_REQUEST', url);
        assert.equal(body.param, param, url);
        assert.match(body.message, new RegExp(`\\b${param}\\b`), url);
      }
      const header = await app.inject({
        url: '/v1/decisions/stream',
        headers: { 'last-event-id': 'not-a-cursor' },
      });
      assert.equal(header.statusCode, 400);
      assert.match(header.json<{ message: string }>().message, /header Last-Event-ID/);

      // A limit past the most is taken as the most, not refused.
      assert.equal((await app.inject('/v1/decisions?limit=100000')).statusCode, 200);
    });
  });

  describe('GET /v1/decisions/stream (Server-Sent Events, a real server)', () => {
    const listen = async (w: Awaited<ReturnType<typeof make>>) => {
      await w.app.listen({ host: '127.0.0.1', port: 0 });
      return `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
    };

    it('sends a decision settled after connecting, as an event with the cursor as its id', async () => {
      const w = await make();
      const base = await listen(w);
      const sse = await connect(base, '/v1/decisions/stream');
      assert.equal(sse.status, 200);
      assert.equal(sse.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(sse.headers['cache-control'], 'no-store');
      await sse.until(() => sse.comments.includes('risk-stream live decisions'), 'the opening comment');

      const { decision } = await w.run({ session: 's-live', client: ATTACKER, risk: VIEW_RISK.TERMINATE });
      await sse.until(() => sse.events.length === 1, 'the decision');
      const [ev] = sse.events;
      assert.equal(ev!.event, 'decision');
      assert.equal(ev!.id, (await w.store.readDecisions(null, 1))[0]!.cursor);
      const sent = JSON.parse(ev!.data) as Decision;
      assert.equal(sent.decision_id, decision.decision_id);
      assert.equal(sent.decision, 'TERMINATE');
      sse.close();
    });

    it('applies the filter: only the matching decisions are sent', async () => {
      const w = await make();
      const base = await listen(w);
      const sse = await connect(base, '/v1/decisions/stream?user=u-bob&decision=TERMINATE');
      await sse.until(() => sse.comments.length > 0, 'the opening comment');
      await w.run({ session: 's-f1', user: 'u-alice', client: ATTACKER, risk: VIEW_RISK.TERMINATE });
      await w.run({ session: 's-f2', user: 'u-bob', risk: VIEW_RISK.STEP_UP });
      const wanted = (
        await w.run({ session: 's-f3', user: 'u-bob', client: ATTACKER, risk: VIEW_RISK.TERMINATE })
      ).decision;
      await sse.until(() => sse.events.length > 0, 'the matching decision');
      // Sent in index order: anything not filtered out would have come first.
      assert.deepEqual(
        sse.events.map((e) => (JSON.parse(e.data) as Decision).decision_id),
        [wanted.decision_id],
      );
      sse.close();
    });

    it('Last-Event-ID: replays what was missed, then joins the live feed without a duplicate or a gap', async () => {
      const w = await make();
      const base = await listen(w);
      const now = Date.now();
      await settleDecisions(w.store, [indexed(now), indexed(now + 1), indexed(now + 2)]);
      const cursors = (await w.store.readDecisions(null, 3)).map((r) => r.cursor).reverse();

      // A decision is indexed while the replay is reading: the live feed brings it too.
      const follow = w.store.followDecisions.bind(w.store);
      let during: string | null = null;
      w.store.followDecisions = async (after, waitMs) => {
        const rows = await follow(after, waitMs);
        if (waitMs === 0 && during === null) {
          during = indexed(now + 3);
          await settleDecisions(w.store, [during]);
        }
        return rows;
      };

      const sse = await connect(base, '/v1/decisions/stream', { 'last-event-id': cursors[0]! });
      await sse.until(() => sse.events.length >= 3, 'the replay and the decision indexed during it');
      await settleDecisions(w.store, [indexed(now + 4)]);
      await sse.until(() => sse.events.length >= 4, 'a live decision after the replay');
      await new Promise((r) => setTimeout(r, 150));
      const ids = sse.events.map((e) => e.id);
      const all = (await w.store.readDecisions(null, 10)).map((r) => r.cursor).reverse();
      assert.equal(all.length, 5);
      assert.deepEqual(ids, all.slice(1), 'everything after the cursor, once each, in order');
      sse.close();

      // The same with ?last_event_id= (a first connection that knows where it was).
      const q = await connect(base, `/v1/decisions/stream?last_event_id=${all[2]}`);
      await q.until(() => q.events.length >= 2, 'the replay');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        q.events.map((e) => e.id),
        all.slice(3),
      );
      q.close();
    });

    it('a Last-Event-ID past the newest decision (a restarted in-memory index) replays nothing and hides nothing', async () => {
      const w = await make();
      const base = await listen(w);
      await settleDecisions(w.store, [indexed(Date.now())]);
      const sse = await connect(base, '/v1/decisions/stream', { 'last-event-id': '900000' });
      await sse.until(() => sse.comments.length > 0, 'the opening comment');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(sse.events.length, 0);
      await settleDecisions(w.store, [indexed(Date.now())]);
      await sse.until(() => sse.events.length === 1, 'the live decision');
      assert.equal(sse.events[0]!.id, '2');
      sse.close();
    });

    it('sends heartbeat comments while nothing happens', async () => {
      const w = await make({ api: { heartbeatMs: 30 } });
      const base = await listen(w);
      const sse = await connect(base, '/v1/decisions/stream');
      await sse.until(() => sse.comments.filter((c) => c === 'keep-alive').length >= 2, 'two heartbeats');
      assert.equal(sse.events.length, 0);
      sse.close();
    });

    it('closing the server ends the stream (it does not hold the close)', async () => {
      const w = await make();
      const base = await listen(w);
      const sse = await connect(base, '/v1/decisions/stream');
      await sse.until(() => sse.comments.length > 0, 'the opening comment');
      const closed = w.app.close();
      await Promise.race([
        sse.ended,
        new Promise((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 5000)),
      ]);
      await closed;
    });
  });
});

interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  comments: string[];
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  /** Waits until `ok()` holds (checked on every chunk), at most 5 s. */
  until(ok: () => boolean, what: string): Promise<void>;
  close(): void;
}

/** A plain text/event-stream reader on node:http: blank-line separated blocks, ':' comments. */
function connect(base: string, path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } });
    req.on('error', reject);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const checks = new Set<() => void>();
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const ev: SseEvent = { id: null, event: 'message', data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              ev.data = line.slice(6);
              hasData = true;
            }
          }
          if (hasData) events.push(ev);
        }
        for (const check of checks) check();
      });
      const ended = new Promise<void>((done) => res.on('end', () => done()));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        ended,
        until: (ok, what) =>
          new Promise<void>((done, fail) => {
            if (ok()) return done();
            const timer = setTimeout(() => {
              checks.delete(check);
              fail(new Error(`timed out waiting for ${what}`));
            }, 5000);
            const check = () => {
              if (!ok()) return;
              clearTimeout(timer);
              checks.delete(check);
              done();
            };
            checks.add(check);
          }),
        close: () => req.destroy(),
      });
    });
  });
}

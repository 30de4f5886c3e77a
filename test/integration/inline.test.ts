import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunningEngine } from '../../src/cli/run';
import type { Settings } from '../../src/config/schema';
import type { Decision, SessionAction } from '../../src/contract';
import { decisionId } from '../../src/pipeline/process';
import { BUILTIN_POLICY_FILE } from '../../src/policy/compile';
import { RedisSessionStore } from '../../src/state/redis';
import { startTestEngine } from '../helpers/engine';
import { ATTACKER, VICTIM, actionClock, decideInline, postEvaluate } from '../helpers/evaluate';
import { Sandbox } from '../helpers/sandbox';
import { freePort, sleep, uniqueName } from '../helpers/services';

const TOKEN = 'inline-test-token-0123456789';

describe('inline evaluation, friction control and policy files on a real Kafka and Redis', function () {
  this.timeout(180_000);
  const sb = new Sandbox('inline', {
    topics: ['actionsTopic', 'decisionsTopic', 'deadLetterTopic', 'terminateTopic', 'stepUpTopic'],
    partitions: 2,
  });
  const t = sb.topics;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-inline-'));
  const policyFile = path.join(dir, 'policy.yaml');
  let settings: Settings;
  let engine: RunningEngine | undefined;
  let base = '';

  before(async () => {
    await sb.setUp();
    fs.copyFileSync(BUILTIN_POLICY_FILE, policyFile);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    settings = sb.settings({
      http: { port, tokens: TOKEN },
      policy: { file: policyFile, watchInterval: '100ms' },
    });
    engine = await startTestEngine(settings);
  });

  after(async () => {
    await engine?.stop().catch(() => undefined);
    await sb.tearDown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const act = actionClock('alice', Date.now() - 30 * 60_000, 20_000);
  const evaluate = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
    postEvaluate(base, body, headers);
  const decide = (a: SessionAction): Promise<Decision> => decideInline(base, TOKEN, a);
  const windowCount = async (session: string) =>
    (await new RedisSessionStore(sb.redis, { prefix: sb.prefix }).peek(session))?.n ?? 0;

  it('refuses callers and bodies it cannot take, with clear 4xx errors', async () => {
    const a = act(uniqueName('s'), VICTIM);
    assert.equal((await evaluate(a, {})).status, 401);
    const wrong = await evaluate(a, { authorization: 'Bearer not-the-token-at-all' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /Bearer/);
    const tooBig = await evaluate({ ...a, resource: 'x'.repeat(70_000) });
    assert.equal(tooBig.status, 413);
    assert.equal(((await tooBig.json()) as { error: string }).error, 'TOO_LARGE');
    const notJson = await evaluate('{"event_id": ');
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: string }).error, 'INVALID_JSON');
    const { user_id: _u, ...missing } = a;
    const noUser = await evaluate(missing);
    assert.equal(noUser.status, 400);
    const body = (await noUser.json()) as { error: string; message: string };
    assert.equal(body.error, 'MISSING_FIELD');
    assert.match(body.message, /user_id/);
    const text = await fetch(`${base}/v1/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` },
      body: 'hello',
    });
    assert.equal(text.status, 415);
  });

  it('answers synchronously through the same pipeline; the same action on Kafka later is neither counted nor published twice', async () => {
    const session = uniqueName('s-inline');
    const login = act(session, VICTIM, 'login');
    const first = await decide(login);
    assert.equal(first.decision, 'ALLOW');
    assert.equal(first.decision_id, decisionId(login.event_id));
    assert.equal(first.action, 'login');
    assert.match(first.policy_version ?? '', /^default@1#/);
    const { decided_at: _at, ...same } = first;
    const again = await decide(login);
    assert.deepEqual(
      { ...again, decided_at: undefined },
      { ...same, decided_at: undefined },
      'the same action again: the same answer',
    );
    assert.equal(await windowCount(session), 1);

    const replay = act(session, ATTACKER, 'export', 500);
    const stopped = await decide(replay);
    assert.equal(stopped.decision, 'TERMINATE');
    assert.ok(stopped.reasons.length > 0);
    assert.equal(await windowCount(session), 2);

    // The proxy also published both actions to Kafka, plus a later one of the victim's.
    const later = act(session, VICTIM, 'view');
    await sb.send(t.actionsTopic, [login, replay, later]);
    const mine = (ds: Decision[]) => ds.filter((d) => d.session_id === session);
    const decisions = mine(
      await sb.decisions(t.decisionsTopic, (ds) => mine(ds).some((d) => d.event_id === later.event_id)),
    );
    assert.deepEqual(
      decisions.map((d) => [d.event_id, d.decision, d.policy_rule]),
      [
        [replay.event_id, 'TERMINATE', stopped.policy_rule],
        [later.event_id, 'TERMINATE', 'friction.terminated'],
      ],
      'one decision per action: the inline one was published once, the later one is answered without rescoring',
    );
    assert.equal(await windowCount(session), 3, 'the Kafka copies were not counted again');
    const routed = mine(await sb.decisions(t.terminateTopic, (ds) => mine(ds).length >= 2));
    assert.deepEqual(
      routed.map((d) => d.event_id),
      [replay.event_id, later.event_id],
    );
    const statuses = (await engine!.metrics.evaluateRequests.get()).values;
    assert.ok(statuses.some((v) => v.labels.status === '200' && v.value >= 3));
    // Requests count as their own source, the Kafka copies as the engine's.
    const bySource = new Map(
      (await engine!.metrics.events.get()).values.map((v) => [v.labels.source, v.value]),
    );
    assert.ok((bySource.get('inline') ?? 0) >= 3, `inline events counted: ${bySource.get('inline')}`);
    assert.ok((bySource.get('kafka') ?? 0) >= 3, `kafka events counted: ${bySource.get('kafka')}`);
  });

  it('a terminated session stays terminated after an engine restart (the state is in Redis)', async () => {
    const session = uniqueName('s-restart');
    await decide(act(session, VICTIM, 'login'));
    assert.equal((await decide(act(session, ATTACKER))).decision, 'TERMINATE');
    await engine!.stop();
    engine = await startTestEngine(settings);
    const after = await decide(act(session, VICTIM, 'view'));
    assert.equal(after.decision, 'TERMINATE');
    assert.equal(after.policy_rule, 'friction.terminated');
    assert.equal(after.reasons[0]?.code, 'SESSION_TERMINATED');
  });

  it('a mass export is stepped up; after a passed step-up the retry is allowed, and the passed step-up is published', async () => {
    const session = uniqueName('s-step-up');
    await decide(act(session, VICTIM, 'login'));
    await decide(act(session, VICTIM, 'view'));
    const big = await decide(act(session, VICTIM, 'export', 20_000));
    assert.equal(big.decision, 'STEP_UP');
    assert.equal(big.reasons[0]?.code, 'MASS_EXPORT');
    const passed = act(session, VICTIM, 'step_up_passed');
    const ok = await decide(passed);
    assert.equal(ok.decision, 'ALLOW');
    assert.equal(ok.policy_rule, 'friction.step_up_passed');
    const retry = await decide(act(session, VICTIM, 'export', 20_000));
    assert.equal(retry.decision, 'ALLOW');
    assert.equal(retry.policy_rule, 'friction.trusted_after_step_up');
    // The passed step-up's ALLOW reaches enforcement points although ALLOWs are not written.
    const mine = (ds: Decision[]) => ds.filter((d) => d.session_id === session);
    const onTopic = mine(
      await sb.decisions(t.decisionsTopic, (ds) => mine(ds).some((d) => d.event_id === passed.event_id)),
    );
    assert.deepEqual(
      onTopic.map((d) => d.decision),
      ['STEP_UP', 'ALLOW'],
    );
    const stepUps = mine(await sb.decisions(t.stepUpTopic, (ds) => mine(ds).length >= 1));
    assert.equal(stepUps[0]?.decision_id, big.decision_id);
  });

  it('re-reads the policy file while running; an invalid one is refused with its line and the old one stays', async () => {
    const before = await decide(act(uniqueName('s-policy'), VICTIM, 'export', 20_000));
    assert.equal(before.decision, 'STEP_UP');
    const text = fs.readFileSync(policyFile, 'utf8');
    fs.writeFileSync(
      policyFile,
      text
        .replace('version: 1', 'version: 2')
        .replace('critical: { none: STEP_UP,', 'critical: { none: BLOCK_ACTION,'),
    );
    let after: Decision | undefined;
    for (let i = 0; i < 50 && after?.policy_version?.startsWith('default@2') !== true; i++) {
      await sleep(100);
      after = await decide(act(uniqueName('s-policy'), VICTIM, 'export', 20_000));
    }
    assert.match(after!.policy_version ?? '', /^default@2#/);
    assert.equal(after!.decision, 'BLOCK_ACTION');
    const swapped = (await engine!.metrics.policyReloads.get()).values.find(
      (v) => v.labels.outcome === 'swapped',
    );
    assert.ok((swapped?.value ?? 0) >= 1);

    fs.writeFileSync(policyFile, text.replace('escalateTo: BLOCK_ACTION', 'escalateTo: LOCKOUT'));
    const res = await fetch(`${base}/admin/policy/reload`, { method: 'POST' });
    assert.equal(res.status, 409);
    const line = text.split('\n').findIndex((l) => l.includes('escalateTo:')) + 1;
    assert.match(
      ((await res.json()) as { error: string }).error,
      new RegExp(`policy.yaml:${line}:\\d+: friction\\.failedStepUp\\.escalateTo`),
    );
    const still = await decide(act(uniqueName('s-policy'), VICTIM, 'export', 20_000));
    assert.match(still.policy_version ?? '', /^default@2#/);
    fs.writeFileSync(policyFile, text);
  });
});

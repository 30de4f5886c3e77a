import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { RunningEngine } from '../../src/cli/run';
import type { Decision, SessionAction } from '../../src/contract';
import { startTestEngine } from '../helpers/engine';
import { ATTACKER, VICTIM, actionClock, decideInline } from '../helpers/evaluate';
import { Sandbox } from '../helpers/sandbox';
import { freePort, uniqueName } from '../helpers/services';

/**
 * The analyst page in a real browser (Debian's chromium driven by playwright-core) against an engine
 * on a real Kafka and Redis: the live feed is open when a stolen session is replayed, the TERMINATE
 * shows up in it, and the session view it opens shows what caused it.
 */

const CHROMIUM = process.env.RISK_STREAM_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ANALYST_TOKEN = 'ui-test-analyst-token-0123456789';
const EVALUATE_TOKEN = 'ui-test-evaluate-token-0123456789';
const SCREENSHOT = path.resolve('.run', 'artifacts', 'ui-session.png');
const PARTS = ['ip', 'asn', 'country', 'user_agent', 'ja4', 'device_id'];

interface TimelineItem {
  event_id: string;
  changed: string[];
  new_to_session: string[];
  evidence: { seq: number; hash: string } | null;
}

describe('the analyst page in chromium: from a live TERMINATE to its cause (real Kafka and Redis)', function () {
  this.timeout(60_000);
  const sb = new Sandbox('ui', {
    topics: ['actionsTopic', 'decisionsTopic', 'deadLetterTopic', 'auditTopic'],
    partitions: 2,
  });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-ui-chromium-'));
  let engine: RunningEngine | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let base = '';
  const pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`no browser at ${CHROMIUM}: npm test installs Debian's chromium (scripts/test.sh)`);
    }
    await sb.setUp();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const settings = sb.settings({ http: { port, tokens: EVALUATE_TOKEN, analystTokens: ANALYST_TOKEN } });
    [engine, browser] = await Promise.all([
      startTestEngine(settings),
      chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1440, height: 900 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    ]);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await engine?.stop().catch(() => undefined);
    await sb.tearDown();
    fs.rmSync(profile, { recursive: true, force: true });
  });

  // A failing test leaves what the page showed next to the screenshot.
  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !page) return;
    const file = path.resolve('.run', 'artifacts', `ui-failed-${this.currentTest.title.slice(0, 40)}.png`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    console.log(`      screenshot of the failure: ${file}`);
  });

  const session = uniqueName('s-ui');
  const act = actionClock('alice-ui', Date.now() - 20 * 60_000, 60_000);
  const decide = (a: SessionAction): Promise<Decision> => decideInline(base, EVALUATE_TOKEN, a);

  it('asks for the analyst token, shows the replay live, and the session view shows what caused the TERMINATE', async () => {
    // The page asks for a token (the API answered 401) and refuses a wrong one.
    await page.goto(`${base}/ui`);
    assert.equal(new URL(page.url()).pathname, '/ui/', '/ui redirects to /ui/');
    await page.getByTestId('token-input').fill('not-the-analyst-token-000');
    await page.getByTestId('token-submit').click();
    await page.locator('#login-error').getByText('refused').waitFor();
    await page.getByTestId('token-input').fill(ANALYST_TOKEN);
    await page.getByTestId('token-submit').click();
    await page.locator('[data-testid=feed-status][data-state=live]').waitFor();
    assert.ok(!page.url().includes(ANALYST_TOKEN), 'the token is never in the URL');

    // With the feed open: the victim works normally, then her session token is replayed from a script.
    for (const a of ['login', 'view', 'search', 'view', 'view']) {
      assert.equal((await decide(act(session, VICTIM, a))).decision, 'ALLOW', a);
    }
    const replay = act(session, ATTACKER, 'export', 500);
    const stopped = await decide(replay);
    assert.equal(stopped.decision, 'TERMINATE');

    // It appears in the live feed; a click opens the session.
    const item = page.locator(`[data-testid=feed-item][data-decision=TERMINATE][data-session="${session}"]`);
    await item.waitFor();
    await item.locator('a').click();
    const view = page.getByTestId('session-view');
    await view.waitFor();
    assert.equal(await page.getByTestId('session-id').textContent(), session);
    assert.equal(await page.getByTestId('session-user').textContent(), 'alice-ui');
    assert.equal(await page.getByTestId('session-state').textContent(), 'TERMINATED');
    assert.equal(await page.getByTestId('terminated-decision-id').textContent(), stopped.decision_id);

    // The timeline: six actions, the last one the TERMINATE, every part of its client highlighted as
    // changed from the victim's, and the parts the session never had marked new (as the API says:
    // the window keeps no set of IP addresses, so an IP is never "new"); none of the victim's own
    // actions changed anything.
    const rows = page.locator('[data-testid=timeline-row]');
    // (strings, not functions: the test's TypeScript has no DOM types)
    await page.waitForFunction("document.querySelectorAll('[data-testid=timeline-row]').length === 6");
    const terminating = page.locator('[data-testid=timeline-row][data-terminating=true]');
    assert.equal(await terminating.getAttribute('data-event-id'), replay.event_id);
    assert.equal(await terminating.getAttribute('data-decision'), 'TERMINATE');
    const timeline = (await (
      await fetch(`${base}/v1/sessions/${session}/timeline`, {
        headers: { authorization: `Bearer ${ANALYST_TOKEN}` },
      })
    ).json()) as { items: TimelineItem[] };
    const entry = timeline.items.find((e) => e.event_id === replay.event_id);
    assert.ok(entry);
    assert.deepEqual(entry.changed, PARTS);
    assert.ok(entry.new_to_session.includes('device_id') && entry.new_to_session.includes('ja4'));
    for (const part of PARTS) {
      const cell = terminating.locator(`td[data-part=${part}]`);
      assert.match((await cell.getAttribute('class')) ?? '', /\bchanged\b/, `${part} highlighted as changed`);
      const isNew = entry.new_to_session.includes(part);
      assert.equal(await cell.getAttribute('data-new'), isNew ? 'true' : null, `${part} new: ${isNew}`);
      assert.equal(await cell.locator('.new-mark').count(), isNew ? 1 : 0);
    }
    assert.equal(await page.locator('[data-testid=timeline-row] td.changed').count(), PARTS.length);
    assert.equal(await terminating.locator('td[data-part=ip] .val').textContent(), ATTACKER.ip);
    assert.equal(await rows.first().locator('td[data-part=ip] .val').textContent(), VICTIM.ip);

    // Its decision with the rule and the reasons the API answered with.
    const why = page.locator(
      `[data-testid=timeline-why][data-n="${await terminating.getAttribute('data-n')}"]`,
    );
    assert.equal(await why.getByTestId('rule').textContent(), stopped.policy_rule);
    const shown = await why.locator('[data-testid=reasons] li b').allTextContents();
    assert.deepEqual(
      shown,
      stopped.reasons.map((r) => r.code),
    );
    assert.ok(shown.length > 0);

    // The score chart: one point per action, the last one a TERMINATE, a fingerprint-change marker.
    const chart = page.getByTestId('score-chart-svg');
    assert.equal(await chart.locator('circle.pt').count(), 6);
    assert.equal(await chart.locator('circle.pt.TERMINATE').count(), 1);
    assert.equal(await chart.locator('line.drift').count(), 1);

    // The evidence: the commands to export and verify it, and the decision's record (seq, hash).
    assert.equal(
      await page.getByTestId('evidence-export-command').textContent(),
      `risk-stream evidence export --session ${session} -o ${session}.jsonl`,
    );
    assert.equal(
      await page.getByTestId('evidence-verify-command').textContent(),
      `risk-stream evidence verify ${session}.jsonl`,
    );
    const evidence = entry.evidence;
    assert.ok(evidence, 'the TERMINATE decision has an evidence record');
    assert.match(
      (await terminating.getByTestId('evidence').textContent()) ?? '',
      new RegExp(`#${evidence.seq}\\b`),
    );
    assert.equal(
      await terminating.getByTestId('evidence').getAttribute('title'),
      `evidence seq ${evidence.seq}, hash ${evidence.hash}`,
    );

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });
    console.log(`      screenshot: ${SCREENSHOT}`);
  });

  it('finds the session by user and by session id from the search form', async () => {
    await page.getByTestId('search-user').fill('alice-ui');
    await page.getByTestId('search-form').locator('button[type=submit]').click();
    const result = page.locator('[data-testid=result-row][data-decision=TERMINATE]');
    await result.first().waitFor();
    assert.equal(await result.count(), 1);
    assert.ok(new URL(page.url()).hash.includes('user=alice-ui'));

    await page.getByTestId('search-user').fill('');
    await page.getByTestId('search-session').fill(session);
    await page.getByTestId('search-form').locator('button[type=submit]').click();
    await page.getByTestId('session-view').waitFor();
    assert.equal(await page.getByTestId('session-id').textContent(), session);
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});

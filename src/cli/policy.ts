import fs from 'node:fs';
import { createInterface } from 'node:readline';
import type { Decision, DecisionType, RawRecord } from '../contract';
import type { Settings } from '../config/schema';
import { DECISION_TYPES } from '../contract';
import { MemorySink } from '../emit/files';
import type { Logger } from '../log';
import { createBatchHandler } from '../pipeline/handler';
import { loadPolicyFile, type CompiledPolicy } from '../policy/compile';
import type { Scorer } from '../model/scorer';
import { activePolicy, buildMemoryStore, buildModel, buildPipeline } from './context';

/**
 * `risk-stream policy test`: which decisions a candidate policy would change, against the policy
 * in force, on recorded actions. Both run the whole pipeline over the same events (own in-memory
 * session state each, idle expiry by event time, the same model), so friction control plays out
 * per policy exactly as it would live.
 */

export interface PolicyTestOptions {
  /** The candidate policy file. */
  policy: string;
  /** SessionAction JSON Lines. */
  input: string;
  /** Compare against this file instead of the policy in force (`policy.file` or the built-in one). */
  against?: string;
  /** Write every changed decision pair here (JSON Lines). */
  out?: string;
  batchSize?: number;
}

export interface DecisionChange {
  event_id: string;
  session_id: string;
  app: string;
  action: string | null;
  score: number;
  active: { decision: DecisionType; rule: string | null };
  candidate: { decision: DecisionType; rule: string | null };
}

export interface PolicyTestReport {
  active: { id: string; source: string };
  candidate: { id: string; source: string };
  events: number;
  deadLetters: number;
  sessions: number;
  counts: { active: Record<DecisionType, number>; candidate: Record<DecisionType, number> };
  changed: number;
  changedSessions: number;
  /** `FROM -> TO` -> count. */
  transitions: Record<string, number>;
  /** Candidate rule -> decisions it produced that changed. */
  byRule: Record<string, number>;
  changes: DecisionChange[];
}

const zero = (): Record<DecisionType, number> => ({ ALLOW: 0, STEP_UP: 0, BLOCK_ACTION: 0, TERMINATE: 0 });

async function readRecords(file: string): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  const lines = createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    records.push({
      value: Buffer.from(text, 'utf8'),
      key: null,
      source: file,
      partition: null,
      offset: null,
      line,
      receivedAt: Date.now(),
    });
  }
  return records;
}

async function decideAll(
  settings: Settings,
  scorer: Scorer,
  policy: CompiledPolicy,
  records: readonly RawRecord[],
  batchSize: number,
): Promise<{ decisions: Decision[]; deadLetters: number }> {
  const sink = new MemorySink();
  const handler = createBatchHandler({
    process: buildPipeline({
      settings,
      store: buildMemoryStore(settings, { eventTime: true }),
      model: () => scorer,
      policy: () => policy,
      format: 'json',
      allowJson: true,
    }),
    sink,
    emitAllow: true,
    source: 'file',
  });
  for (let i = 0; i < records.length; i += batchSize) await handler.handle(records.slice(i, i + batchSize));
  return { decisions: sink.decisions, deadLetters: sink.deadLetters.length };
}

export async function policyTest(
  settings: Settings,
  log: Logger,
  opts: PolicyTestOptions,
): Promise<PolicyTestReport> {
  const candidate = loadPolicyFile(opts.policy);
  const active = opts.against ? loadPolicyFile(opts.against) : activePolicy(settings);
  const records = await readRecords(opts.input);
  const batchSize = opts.batchSize ?? 1000;
  const scorer = await buildModel(settings, log);
  let a, c;
  try {
    a = await decideAll(settings, scorer, active, records, batchSize);
    c = await decideAll(settings, scorer, candidate, records, batchSize);
  } finally {
    scorer.dispose();
  }

  const report: PolicyTestReport = {
    active: { id: active.id, source: active.source },
    candidate: { id: candidate.id, source: candidate.source },
    events: a.decisions.length,
    deadLetters: a.deadLetters,
    sessions: new Set(a.decisions.map((d) => d.session_id)).size,
    counts: { active: zero(), candidate: zero() },
    changed: 0,
    changedSessions: 0,
    transitions: {},
    byRule: {},
    changes: [],
  };
  const byEvent = new Map(c.decisions.map((d) => [d.event_id, d]));
  const sessions = new Set<string>();
  const out = opts.out ? fs.createWriteStream(opts.out) : null;
  for (const d of a.decisions) {
    const cd = byEvent.get(d.event_id);
    if (!cd) continue;
    report.counts.active[d.decision]++;
    report.counts.candidate[cd.decision]++;
    if (cd.decision === d.decision) continue;
    report.changed++;
    sessions.add(d.session_id);
    const key = `${d.decision} -> ${cd.decision}`;
    report.transitions[key] = (report.transitions[key] ?? 0) + 1;
    const rule = cd.policy_rule ?? '?';
    report.byRule[rule] = (report.byRule[rule] ?? 0) + 1;
    const change: DecisionChange = {
      event_id: d.event_id,
      session_id: d.session_id,
      app: d.app,
      action: d.action ?? null,
      score: d.score,
      active: { decision: d.decision, rule: d.policy_rule ?? null },
      candidate: { decision: cd.decision, rule: cd.policy_rule ?? null },
    };
    if (report.changes.length < 20) report.changes.push(change);
    out?.write(`${JSON.stringify(change)}\n`);
  }
  report.changedSessions = sessions.size;
  if (out)
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  return report;
}

const pct = (n: number, of: number) => (of === 0 ? '0%' : `${((100 * n) / of).toFixed(2)}%`);

/** The report as the command prints it. */
export function formatPolicyTest(r: PolicyTestReport, shown = 10): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const lines = [
    `candidate ${r.candidate.id} (${r.candidate.source})`,
    `against   ${r.active.id} (${r.active.source})`,
    `${r.events} events in ${r.sessions} sessions${r.deadLetters ? `, ${r.deadLetters} invalid lines skipped` : ''}`,
    '',
    `${pad('decision', 14)}${pad('active', 10)}candidate`,
    ...DECISION_TYPES.map(
      (t) => `${pad(t, 14)}${pad(String(r.counts.active[t]), 10)}${r.counts.candidate[t]}`,
    ),
    '',
    `changed: ${r.changed} decisions (${pct(r.changed, r.events)}) in ${r.changedSessions} sessions (${pct(r.changedSessions, r.sessions)})`,
  ];
  if (r.changed > 0) {
    lines.push('', 'from -> to', ...Object.entries(r.transitions).map(([k, n]) => `  ${pad(k, 30)}${n}`));
    lines.push(
      '',
      'by the candidate rule that decided',
      ...Object.entries(r.byRule).map(([k, n]) => `  ${pad(k, 40)}${n}`),
    );
    lines.push('', `first ${Math.min(shown, r.changes.length)} changes:`);
    for (const ch of r.changes.slice(0, shown)) {
      lines.push(
        `  ${ch.event_id} ${ch.app}/${ch.action ?? '?'} score ${ch.score}: ${ch.active.decision} (${ch.active.rule}) -> ${ch.candidate.decision} (${ch.candidate.rule})`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

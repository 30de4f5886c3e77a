import fs from 'node:fs';
import type { Settings } from '../config/schema';
import type { EvidenceRecord } from '../contract';
import { RiskStreamError } from '../errors';
import { readAuditTopic, selectEvidence, type EvidenceFilter } from '../evidence/export';
import { verifyEvidence, type VerifyReport } from '../evidence/verify';
import type { Logger } from '../log';
import { createKafka } from './run';

export interface ExportOptions extends EvidenceFilter {
  /** Read this JSON Lines file (e.g. `replay --evidence`) instead of the audit topic. */
  from?: string;
  /** Write here; none: stdout. */
  out?: string;
  timeoutMs: number;
}

export interface ExportSummary {
  source: string;
  read: number;
  unreadable: number;
  written: number;
  sessions: number;
  chains: number;
}

/** A time given as epoch ms or an ISO 8601 date/time. */
export function parseTime(value: string, option: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) {
    throw new RiskStreamError(
      'CONFIG_INVALID',
      `${option}: expected epoch ms or an ISO 8601 time, got "${value}"`,
    );
  }
  return n;
}

function readJsonl(file: string): { records: EvidenceRecord[]; unreadable: number } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskStreamError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`);
  }
  const records: EvidenceRecord[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as EvidenceRecord);
    } catch {
      unreadable++;
    }
  }
  return { records, unreadable };
}

/** `risk-stream evidence export`: the whole chains of the matching sessions, as JSON Lines. */
export async function exportEvidence(
  settings: Settings,
  log: Logger,
  opts: ExportOptions,
): Promise<ExportSummary> {
  const filter: EvidenceFilter = {
    ...(opts.session !== undefined ? { session: opts.session } : {}),
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.since !== undefined ? { since: opts.since } : {}),
    ...(opts.until !== undefined ? { until: opts.until } : {}),
  };
  const source = opts.from ?? `kafka ${settings.kafka.brokers.join(',')} topic ${settings.kafka.auditTopic}`;
  const { records, unreadable } = opts.from
    ? readJsonl(opts.from)
    : await readAuditTopic(createKafka(settings, log), settings.kafka.auditTopic, {
        timeoutMs: opts.timeoutMs,
      });
  const selected = selectEvidence(records, filter);
  const text = selected.map((r) => JSON.stringify(r) + '\n').join('');
  if (opts.out) fs.writeFileSync(opts.out, text);
  else process.stdout.write(text);
  return {
    source,
    read: records.length,
    unreadable,
    written: selected.length,
    sessions: new Set(selected.map((r) => r.session_id)).size,
    chains: new Set(selected.map((r) => `${r.session_id}\n${r.chain}`)).size,
  };
}

/** `risk-stream evidence verify FILE`. */
export function verifyEvidenceFile(file: string): VerifyReport {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskStreamError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`);
  }
  return verifyEvidence(text.split('\n'));
}

export function formatVerify(file: string, r: VerifyReport): string {
  const head = `${file}: ${r.records} record(s), ${r.sessions} session(s), ${r.chains} chain(s)${
    r.copies > 0 ? `, ${r.copies} re-written copie(s) counted once` : ''
  }`;
  if (r.ok) return `${head}\nOK: every hash matches and every chain is complete from seq 1\n`;
  const lines = r.problems.map(
    (p) =>
      `  line ${p.line}${p.session_id !== null ? `, session ${p.session_id}` : ''}${
        p.seq !== null ? `, seq ${p.seq}` : ''
      }: ${p.problem}`,
  );
  return `${head}\nBROKEN: ${r.problems.length} problem(s)\n${lines.join('\n')}\n`;
}

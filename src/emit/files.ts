import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { DeadLetter, Decision, EvidenceRecord, OutputSink } from '../contract';
import { encodeDeadLetter, encodeDecision } from './encode';

/** Writes to a stream, waiting for drain so a slow disk applies backpressure instead of memory. */
async function writeLines(stream: WriteStream, lines: string): Promise<void> {
  if (!stream.write(lines)) await once(stream, 'drain');
}

async function closeStream(stream: WriteStream): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

/** Decisions and dead letters as JSON Lines files (replay's output). */
export class JsonlFileSink implements OutputSink {
  private readonly decisions: WriteStream;
  private readonly deadLetters: WriteStream;
  private readonly evidence: WriteStream | null;

  /** @param evidencePath where evidence records go (JSON Lines); none: not written */
  constructor(decisionsPath: string, deadLetterPath: string, evidencePath?: string) {
    this.decisions = createWriteStream(decisionsPath, { encoding: 'utf8' });
    this.deadLetters = createWriteStream(deadLetterPath, { encoding: 'utf8' });
    this.evidence = evidencePath ? createWriteStream(evidencePath, { encoding: 'utf8' }) : null;
  }

  async write(
    decisions: readonly Decision[],
    deadLetters: readonly DeadLetter[],
    _shadow?: readonly Decision[],
    evidence: readonly EvidenceRecord[] = [],
  ): Promise<void> {
    if (this.evidence && evidence.length > 0) {
      await writeLines(this.evidence, evidence.map((e) => JSON.stringify(e) + '\n').join(''));
    }
    if (decisions.length > 0) {
      await writeLines(
        this.decisions,
        decisions.map((d) => encodeDecision(d, 'json').toString('utf8') + '\n').join(''),
      );
    }
    if (deadLetters.length > 0) {
      await writeLines(
        this.deadLetters,
        deadLetters.map((dl) => encodeDeadLetter(dl, 'json').toString('utf8') + '\n').join(''),
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([
      closeStream(this.decisions),
      closeStream(this.deadLetters),
      ...(this.evidence ? [closeStream(this.evidence)] : []),
    ]);
  }
}

/** Keeps what was written in memory (the demo's live view, tests). */
export class MemorySink implements OutputSink {
  readonly decisions: Decision[] = [];
  readonly deadLetters: DeadLetter[] = [];
  readonly evidence: EvidenceRecord[] = [];

  /** @param keep how many of the latest records to keep (oldest dropped first) */
  constructor(private readonly keep = Number.POSITIVE_INFINITY) {}

  write(
    decisions: readonly Decision[],
    deadLetters: readonly DeadLetter[],
    _shadow?: readonly Decision[],
    evidence: readonly EvidenceRecord[] = [],
  ): Promise<void> {
    this.decisions.push(...decisions);
    this.deadLetters.push(...deadLetters);
    this.evidence.push(...evidence);
    if (this.evidence.length > this.keep) this.evidence.splice(0, this.evidence.length - this.keep);
    if (this.decisions.length > this.keep) this.decisions.splice(0, this.decisions.length - this.keep);
    if (this.deadLetters.length > this.keep) this.deadLetters.splice(0, this.deadLetters.length - this.keep);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

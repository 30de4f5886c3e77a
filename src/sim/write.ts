/**
 * JSON Lines writers for simulated events and their labels. Lines are stringified lazily and
 * handed to the file stream in ~64 KiB chunks with backpressure, so a million events never exist
 * as strings all at once.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SessionAction } from '../contract';
import type { Label } from './types';

const CHUNK_CHARS = 64 * 1024;

async function* chunks<T>(rows: Iterable<T> | AsyncIterable<T>): AsyncGenerator<string> {
  let buf = '';
  if (Symbol.iterator in rows) {
    // A plain loop for arrays: `for await` would cost a promise per row.
    for (const row of rows) {
      buf += `${JSON.stringify(row)}\n`;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
  } else {
    for await (const row of rows) {
      buf += `${JSON.stringify(row)}\n`;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
  }
  if (buf.length > 0) yield buf;
}

/** Writes rows as JSON Lines to path (created or truncated); resolves once the file is closed. */
export async function writeJsonLines<T>(path: string, rows: Iterable<T> | AsyncIterable<T>): Promise<void> {
  await pipeline(Readable.from(chunks(rows)), createWriteStream(path, { encoding: 'utf8' }));
}

/** SessionAction records, one per line, `client` nested: the input format of `replay`. */
export function writeJsonl(
  path: string,
  events: Iterable<SessionAction> | AsyncIterable<SessionAction>,
): Promise<void> {
  return writeJsonLines(path, events);
}

/** Label records, one per line, in the same order as the events they label. */
export function writeLabels(path: string, labels: Iterable<Label> | AsyncIterable<Label>): Promise<void> {
  return writeJsonLines(path, labels);
}

/** Reads a JSON Lines file whole (blank lines skipped); a line that is not JSON throws. */
export function readJsonLines<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

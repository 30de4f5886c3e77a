import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Resolver } from 'avsc';
import { RiskStreamError } from '../errors';
import { MAX_SCHEMA_ID } from './avro';
import { packageRoot } from '../paths';

/** The reader schemas, by file name inside `schemas/`. */
export const SCHEMA_FILES = {
  sessionAction: 'session_action.avsc',
  decision: 'decision.avsc',
  deadLetter: 'dead_letter.avsc',
} as const;

export interface RegistryEntry {
  /** The Confluent schema id carried in the 5-byte wire-format header. */
  id: number;
  subject: string;
  version: number;
  /** Relative to the schemas folder, or absolute. */
  file: string;
}

export type Resolution =
  | { ok: true; writer: Type; resolver: Resolver | undefined }
  | { ok: false; code: 'UNKNOWN_SCHEMA_ID' | 'SCHEMA_MISMATCH'; reason: string };

/** The package's `schemas/` folder (see `packageRoot`). */
export function findSchemasDir(start: string = __dirname): string {
  return path.join(packageRoot(start), 'schemas');
}

export function parseSchema(schema: string | object, what: string): Type {
  try {
    return Type.forSchema(typeof schema === 'string' ? JSON.parse(schema) : (schema as never));
  } catch (err) {
    throw new RiskStreamError(
      'SCHEMA_INVALID',
      `${what} is not a valid Avro schema: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function readSchemaFile(file: string): Type {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskStreamError(
      'SCHEMA_INVALID',
      `cannot read schema file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return parseSchema(text, file);
}

/**
 * The local schema registry: Confluent schema ids -> writer schemas (from `schemas/registry.json`
 * plus any registered at run time), and the reader schemas every writer is resolved to.
 */
export class SchemaRegistry {
  readonly sessionActionType: Type;
  readonly decisionType: Type;
  readonly deadLetterType: Type;
  /** Ids written in Confluent-framed output unless a caller names another. */
  readonly defaultIds: { sessionAction: number; decision: number; deadLetter: number };

  private readonly writers = new Map<number, Type>();
  private readonly resolutions = new Map<Type, Map<number, Resolution>>();

  constructor(
    readonly dir: string,
    entries: readonly RegistryEntry[],
  ) {
    const byFile = new Map<string, Type>();
    const load = (file: string) => {
      const full = path.resolve(dir, file);
      let type = byFile.get(full);
      if (!type) byFile.set(full, (type = readSchemaFile(full)));
      return type;
    };
    this.sessionActionType = load(SCHEMA_FILES.sessionAction);
    this.decisionType = load(SCHEMA_FILES.decision);
    this.deadLetterType = load(SCHEMA_FILES.deadLetter);
    for (const e of entries) this.add(e.id, load(e.file), `schemas/registry.json entry ${e.id} (${e.file})`);

    const idOf = (file: string) => {
      const full = path.resolve(dir, file);
      const entry = entries.find((e) => path.resolve(dir, e.file) === full);
      if (!entry)
        throw new RiskStreamError('SCHEMA_INVALID', `schemas/registry.json has no entry for ${file}`);
      return entry.id;
    };
    this.defaultIds = {
      sessionAction: idOf(SCHEMA_FILES.sessionAction),
      decision: idOf(SCHEMA_FILES.decision),
      deadLetter: idOf(SCHEMA_FILES.deadLetter),
    };
  }

  /** The writer schema registered under a Confluent id. */
  byId(id: number): Type | undefined {
    return this.writers.get(id);
  }

  /** Registered writers of `reader`'s record name other than `reader` itself, newest id first. */
  olderWriters(reader: Type): Type[] {
    return this.ids
      .reverse()
      .map((id) => this.writers.get(id) as Type)
      .filter((w) => w.name === reader.name && !w.equals(reader));
  }

  get ids(): number[] {
    return [...this.writers.keys()].sort((a, b) => a - b);
  }

  /**
   * Adds a writer schema under an id, e.g. one your Confluent registry assigned. Ids are immutable
   * there, so registering a different schema under a known id is an error, not an update.
   */
  registerSchema(id: number, schema: string | object): Type {
    const type = parseSchema(schema, `schema id ${id}`);
    this.add(id, type, `schema id ${id}`);
    return this.writers.get(id) as Type;
  }

  /** How to read `id`'s bytes as `reader`; computed once per (reader, id), failures included. */
  resolve(reader: Type, id: number): Resolution {
    let perReader = this.resolutions.get(reader);
    if (!perReader) this.resolutions.set(reader, (perReader = new Map()));
    let r = perReader.get(id);
    if (r) return r;
    const writer = this.writers.get(id);
    if (!writer) {
      // Not cached: an unknown id may be registered later, and caching every garbage id would grow.
      return {
        ok: false,
        code: 'UNKNOWN_SCHEMA_ID',
        reason: `schema id ${id} is not in the local schema registry`,
      };
    }
    try {
      // Same canonical form: read directly, a resolver would only add a layer.
      r = { ok: true, writer, resolver: writer.equals(reader) ? undefined : reader.createResolver(writer) };
    } catch (err) {
      r = {
        ok: false,
        code: 'SCHEMA_MISMATCH',
        reason: `schema id ${id} (${writer.name ?? writer.typeName}) cannot be read as ${reader.name}: ${(err as Error).message}`,
      };
    }
    perReader.set(id, r);
    return r;
  }

  private add(id: number, type: Type, what: string): void {
    if (!Number.isInteger(id) || id < 0 || id > MAX_SCHEMA_ID) {
      throw new RiskStreamError('SCHEMA_INVALID', `${what}: id must be an integer in 0..${MAX_SCHEMA_ID}`);
    }
    const known = this.writers.get(id);
    if (known && !known.equals(type)) {
      throw new RiskStreamError(
        'SCHEMA_INVALID',
        `${what}: id ${id} is already registered with a different schema`,
      );
    }
    if (!known) this.writers.set(id, type);
  }
}

function parseEntries(file: string): RegistryEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RiskStreamError('SCHEMA_INVALID', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const list = (doc as { schemas?: unknown } | null)?.schemas;
  if (!Array.isArray(list))
    throw new RiskStreamError('SCHEMA_INVALID', `${file}: expected {"schemas": [...]}`);
  return list.map((e: Partial<RegistryEntry> | null, i) => {
    if (!e || typeof e.id !== 'number' || typeof e.file !== 'string' || e.file === '') {
      throw new RiskStreamError('SCHEMA_INVALID', `${file}: schemas[${i}] needs a numeric "id" and a "file"`);
    }
    return { id: e.id, subject: String(e.subject ?? ''), version: Number(e.version ?? 1), file: e.file };
  });
}

/** Loads `registry.json` and the schemas it names. Fails at start-up, naming the bad entry. */
export function loadSchemaRegistry(dir: string = findSchemasDir()): SchemaRegistry {
  return new SchemaRegistry(dir, parseEntries(path.join(dir, 'registry.json')));
}

let shared: SchemaRegistry | undefined;

/** The package's own registry, loaded once: what the encoders use for the reader schemas. */
export function defaultRegistry(): SchemaRegistry {
  return (shared ??= loadSchemaRegistry());
}

/** One base error for the project: a stable code, whether retrying can help, and the cause. */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'MODEL_NOT_FOUND',
  'MODEL_INVALID',
  'FEATURE_VERSION_MISMATCH',
  'STORE_UNAVAILABLE',
  'STORE_SCRIPT',
  'KAFKA_UNAVAILABLE',
  'SINK_FAILED',
  'SCHEMA_INVALID',
  'INPUT_INVALID',
  'POLICY_INVALID',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class RiskStreamError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RiskStreamError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof RiskStreamError && err.retriable;
}

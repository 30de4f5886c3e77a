import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON logs on stderr (stdout is kept for command output such as replay summaries).
 * Fields that may carry secrets are redacted wherever they appear.
 */
export function createLogger(level: string, name = 'risk-stream'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['*.password', '*.token', '*.authorization', 'password', 'token'],
        censor: '[redacted]',
      },
      base: { pid: process.pid },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything: for tests and library use. */
export const silentLogger = (): Logger => pino({ level: 'silent' });

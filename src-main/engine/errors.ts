// EngineError: every failure the engine reports carries a stable code (see
// src-shared/api/errors.ts) and a message that says what failed and on which object.
import type { ErrorCode, SerializedError } from '../../src-shared/api/errors';

export class EngineError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Maps any thrown value to a coded error; Node's errno codes get their nearest code. */
export function toEngineError(error: unknown, context?: string): EngineError {
  if (error instanceof EngineError) {
    return context ? new EngineError(error.code, `${context}: ${error.message}`, { cause: error }) : error;
  }
  const err = error as NodeJS.ErrnoException;
  const prefix = context ? `${context}: ` : '';
  const message = `${prefix}${err?.message ?? String(error)}`;
  if (typeof err?.code === 'string' && err.code.startsWith('SQLITE_IOERR')) return new EngineError('IO_ERROR', message, { cause: error });
  if (typeof err?.code === 'string' && (err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB')) {
    return new EngineError('METADATA_DAMAGED', `${prefix}the metadata database is damaged (${err.message}); rebuild it from the store with "blockvault recover REPOSITORY"`, { cause: error });
  }
  switch (err?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'SQLITE_FULL':
      return new EngineError('NO_SPACE', message, { cause: error });
    case 'ENOENT':
      return new EngineError('NOT_FOUND', message, { cause: error });
    case 'EEXIST':
      return new EngineError('ALREADY_EXISTS', message, { cause: error });
    case 'ABORT_ERR':
      return new EngineError('CANCELED', `${prefix}canceled`, { cause: error });
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new EngineError('LOCKED', message, { cause: error });
    case 'SQLITE_READONLY':
    case 'EIO':
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'EISDIR':
    case 'ENOTDIR':
      return new EngineError('IO_ERROR', message, { cause: error });
    default:
      // Raw JavaScript or SQLite text helps nobody and may quote data: the details stay in
      // the cause (the CLI prints it with -v).
      return new EngineError('INTERNAL', `${prefix}internal error: the operation failed unexpectedly; run it again with -v for the details`, { cause: error });
  }
}

export function serializeError(error: unknown): SerializedError {
  const engineError = toEngineError(error);
  return { code: engineError.code, message: engineError.message };
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new EngineError('CANCELED', `${what} canceled`);
}

/**
 * Where JSON text first stops being valid (0-based character offset), for error messages
 * that must name the position without quoting the content (JSON.parse's own messages quote
 * it). A prefix that only ends too early is still valid so far.
 */
export function jsonErrorPosition(text: string): number {
  const limit = Math.min(text.length, 65_536);
  let low = 0;
  let high = limit;
  const validSoFar = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (error) {
      const message = (error as Error).message;
      if (/end of JSON input|Unterminated string/.test(message)) return true;
      const at = /at position (\d+)/.exec(message);
      return at !== null && Number(at[1]) >= length;
    }
  };
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (validSoFar(middle)) low = middle;
    else high = middle - 1;
  }
  return Math.min(low, Math.max(0, text.length - 1));
}

// Error codes that cross every boundary (engine -> services -> CLI, IPC, WebSocket).
// A code is stable: scripts and the GUI branch on it; the message is for people.

export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'NOT_A_REPOSITORY',
  'REPOSITORY_EXISTS',
  'FORMAT_UNSUPPORTED',
  'LOCKED',
  'PROTECTED',
  'TOO_YOUNG',
  'TARGET_EXISTS',
  'TARGET_TOO_SMALL',
  'OBJECT_MISSING',
  'OBJECT_CORRUPT',
  'HINTS_MISMATCH',
  'BAD_HINTS',
  'SOURCE_CHANGED',
  'BAD_EXPORT',
  'NO_SPACE',
  'IO_ERROR',
  'WRONG_KEY',
  'CANCELED',
  'UNAUTHORIZED',
  'METADATA_DAMAGED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface SerializedError {
  code: ErrorCode;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

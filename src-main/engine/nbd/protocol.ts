// The NBD protocol's wire constants (fixed newstyle negotiation, simple and structured replies),
// as the NetworkBlockDevice project's doc/proto.md defines them. Nouns: an *option* is one
// negotiation step (IHAVEOPT + code + data, answered by one or more option replies); a
// *request* is one transmission-phase command identified by its *cookie*; a *chunk* is one
// piece of a structured reply; a *meta context* is a named kind of block status
// (`base:allocation`, `qemu:dirty-bitmap:NAME`) the server numbers during negotiation.

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** handshake flags (server, 16 bits) and client flags (32 bits) */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const;
export const REP_FLAG_ERROR = 0x80000000;
export const REP_ERR = {
  UNSUP: REP_FLAG_ERROR + 1,
  POLICY: REP_FLAG_ERROR + 2,
  INVALID: REP_FLAG_ERROR + 3,
  PLATFORM: REP_FLAG_ERROR + 4,
  TLS_REQD: REP_FLAG_ERROR + 5,
  UNKNOWN: REP_FLAG_ERROR + 6,
  SHUTDOWN: REP_FLAG_ERROR + 7,
  BLOCK_SIZE_REQD: REP_FLAG_ERROR + 8,
  TOO_BIG: REP_FLAG_ERROR + 9,
} as const;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** transmission flags */
export const TFLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
} as const;

export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;
export const CMD_FLAG = { FUA: 1, NO_HOLE: 2, DF: 4, REQ_ONE: 8, FAST_ZERO: 16 } as const;

export const REPLY_FLAG_DONE = 1;
export const CHUNK = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const;
export const CHUNK_ERROR_BIT = 1 << 15;

/** base:allocation status bits */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
/** qemu:dirty-bitmap:NAME status bit */
export const STATE_DIRTY = 1;

export const ERRNO: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_ENOTSUP = 95;

export const BASE_ALLOCATION = 'base:allocation';
export const DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';

/** Largest request payload this implementation sends or accepts (the spec's usual 32 MiB cap). */
export const MAX_PAYLOAD = 32 * 1024 * 1024;
/** Largest option reply or option request it accepts during negotiation. */
export const MAX_OPTION_LENGTH = 64 * 1024;
/** Largest name of an export or meta context (the spec's 4096-byte string limit). */
export const MAX_STRING = 4096;

export function errnoName(errno: number): string {
  return ERRNO[errno] ?? `errno ${errno}`;
}

export function optionReplyName(type: number): string {
  const entry = Object.entries(REP_ERR).find(([, value]) => value === type) ?? Object.entries(REP).find(([, value]) => value === type);
  return entry ? entry[0] : `reply type 0x${type.toString(16)}`;
}

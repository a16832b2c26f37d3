// Validation at the boundary: one zod schema per API method. The renderer and the network
// are untrusted: unknown fields, wrong types, unbounded sizes and path tricks are refused
// with INVALID_ARGUMENT before any service code runs. Paths must be absolute; "." and
// repeated slashes are normalised away, ".." segments and control characters are refused.
import { z } from 'zod';
import type { ApiArgs, ApiMethod } from './contract';
import { MAX_PASSPHRASE_LENGTH, MIN_PASSPHRASE_LENGTH } from './passphrase';
import { policySchema, retentionSchema } from './policy';
import { validTimeZone } from './schedule';

export const LIMITS = {
  path: 4096,
  name: 1024,
  tag: 256,
  tags: 64,
  uids: 10_000,
  listLimit: 100_000,
  /** 64 KiB .. 64 MiB, a power of two */
  minBlockSize: 64 * 1024,
  maxBlockSize: 64 * 1024 * 1024,
  maxAgeDays: 36_500,
  maxGraceSeconds: 365 * 86_400,
  maxConcurrentJobs: 8,
  maxBlockIndex: 2 ** 40,
  passphrase: MAX_PASSPHRASE_LENGTH,
  note: 4096,
} as const;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Collapses "//" and "/./" and drops a trailing slash; the caller has refused "..". */
export function normalizePath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  return `/${parts.join('/')}`;
}

export const absolutePath = z
  .string({ error: 'must be a path (text)' })
  .min(1, 'must not be empty')
  .max(LIMITS.path, `must be at most ${LIMITS.path} characters`)
  .refine((p) => !CONTROL.test(p), 'must not contain control characters')
  .refine((p) => p.startsWith('/'), 'must be an absolute path (starting with /)')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments')
  .transform(normalizePath);

/** An absolute path, or `-`: stdin as a backup's source, stdout as a restore's target (command line only). */
export const streamOrPath = z.union([z.literal('-'), absolutePath]);
/** s3://BUCKET/PREFIX: a bucket name and lowercase path segments (the engine checks them again). */
export const s3Location = z
  .string()
  .max(LIMITS.path, `must be at most ${LIMITS.path} characters`)
  .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[a-z0-9][a-z0-9._-]*)*\/?$/, 'must be s3://BUCKET/PREFIX (lowercase letters, digits, ".", "_", "-")');

/** A repository: an absolute folder path or an S3 location. */
export const repositoryPath = z.string({ error: 'must be an absolute path or s3://BUCKET/PREFIX' }).transform((value, ctx) => {
  // checked by the form it claims, so a relative path is told it must be absolute (a union
  // reported the S3 rule for every path); a path comes out normalized as absolutePath makes it
  const result = (value.startsWith('s3://') ? s3Location : absolutePath).safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
  return z.NEVER;
});

const s3Connection = z.strictObject({
  endpoint: z.string().max(LIMITS.path).regex(/^https?:\/\/[^\s/@]+(\/[^\s@]*)?$/, 'must be an http:// or https:// URL without credentials').optional(),
  region: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a region name such as us-east-1').optional(),
  pathStyle: z.boolean({ error: 'must be true or false' }).optional(),
  credentialsFile: absolutePath.optional(),
  profile: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a profile name').optional(),
});

/** nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=/PATH, qcow2:/PATH, rbd:POOL/IMAGE[@SNAP][?conf=/PATH&id=USER] */
export const vmLocation = z
  .string()
  .max(LIMITS.path, `must be at most ${LIMITS.path} characters`)
  .refine((s) => !CONTROL.test(s), 'must not contain control characters')
  .refine((s) => /^(nbd:\/\/[^/]+\/|nbd\+unix:\/\/\/[^?]*\?socket=\/|qcow2:\/|rbd:[A-Za-z0-9_.+-]+\/[A-Za-z0-9_.+-]+(@[A-Za-z0-9_.+-]+)?(\?|$))/.test(s), 'must be nbd://HOST/EXPORT, nbd+unix:///EXPORT?socket=/PATH, qcow2:/PATH or rbd:POOL/IMAGE[@SNAP]')
  .refine((s) => !s.split(/[/=&]/).includes('..'), 'must not contain ".." segments');

/** A source or target: a path, "-" (stdin/stdout), or a VM disk location */
export const location = z.union([streamOrPath, vmLocation]);

const bitmapName = z.string().regex(/^[A-Za-z0-9_.+-]{1,1023}$/, 'must be a bitmap or snapshot name (letters, digits, _ . + -)');

export const uid = z
  .string({ error: 'must be a version UID (text)' })
  .regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/, 'must be a version UID (letters, digits, "-", "_", "."; at most 128)');

const uids = z.array(uid, { error: 'must be a list of version UIDs' }).min(1, 'must name at least one version').max(LIMITS.uids, `must name at most ${LIMITS.uids} versions`);

const printable = (max: number, what: string) =>
  z
    .string({ error: `must be ${what} (text)` })
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters')
    .refine((s) => !s.includes('|'), 'must not contain "|" (it separates the columns of -m output)');

export const versionName = printable(LIMITS.name, 'a name');
export const tag = printable(LIMITS.tag, 'a tag').refine((t) => !t.includes(','), 'must not contain a comma');

const int = (min: number, max: number, what = 'a whole number') =>
  z.number({ error: `must be ${what}` }).int(`must be ${what}`).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const blockSize = int(LIMITS.minBlockSize, LIMITS.maxBlockSize).refine((n) => (n & (n - 1)) === 0, 'must be a power of two');
const compression = z.string().regex(/^(none|zstd(:([1-9]|1[0-9]))?)$/, 'must be "none" or "zstd:N" with N from 1 to 19');
const jobId = z.string({ error: 'must be a job id' }).regex(/^[0-9a-f-]{8,64}$/, 'must be a job id');
const none = z.strictObject({});

// Any characters (a passphrase file's line may hold tabs), bounded; messages never echo it.
const passphrase = z
  .string({ error: 'must be a passphrase (text)' })
  .min(1, 'must not be empty')
  .max(LIMITS.passphrase, `must be at most ${LIMITS.passphrase} characters`);
const newPassphrase = passphrase.refine((p) => p.length >= MIN_PASSPHRASE_LENGTH, `must have at least ${MIN_PASSPHRASE_LENGTH} characters`);

const pruneArgs = z.strictObject({
  name: versionName.optional(),
  retention: retentionSchema.optional(),
  timeZone: z.string().max(64).refine(validTimeZone, 'must be a time zone such as "Europe/Berlin"').optional(),
});

/** One schema per method; `satisfies` checks each against the contract's argument type. */
export const SCHEMAS = {
  ping: z.strictObject({ sent: z.number().finite().optional() }),
  getAppInfo: none,
  getRepository: none,
  openRepository: z
    .strictObject({ path: repositoryPath, s3: s3Connection.optional(), passphrase: passphrase.optional(), keyFile: absolutePath.optional() })
    .refine((a) => a.passphrase === undefined || a.keyFile === undefined, { path: ['keyFile'], message: 'give a passphrase or a key file, not both' }),
  listOpenRepositories: none,
  createRepository: z
    .strictObject({
      path: repositoryPath,
      s3: s3Connection.optional(),
      blockSize: blockSize.optional(),
      compression: compression.optional(),
      minAgeDays: int(0, LIMITS.maxAgeDays).optional(),
      cleanupGraceSeconds: int(0, LIMITS.maxGraceSeconds).optional(),
      encrypt: z.boolean({ error: 'must be true or false' }).optional(),
      passphrase: newPassphrase.optional(),
      keyFile: absolutePath.optional(),
    })
    .refine((a) => !a.encrypt || a.passphrase !== undefined || a.keyFile !== undefined, { path: ['passphrase'], message: 'is required to encrypt' })
    .refine((a) => a.encrypt || (a.passphrase === undefined && a.keyFile === undefined), { path: ['passphrase'], message: 'is only used with "encrypt": true' }),
  closeRepository: none,
  testS3Connection: z.strictObject({ path: s3Location, s3: s3Connection.optional() }),
  listRecentRepositories: none,
  forgetRecentRepository: z.strictObject({ path: absolutePath }),
  getSummary: none,
  updateSettings: z.strictObject({
    minAgeDays: int(0, LIMITS.maxAgeDays).optional(),
    cleanupGraceSeconds: int(0, LIMITS.maxGraceSeconds).optional(),
    maxConcurrentJobs: int(1, LIMITS.maxConcurrentJobs).optional(),
    backy2AutoTags: z.boolean().optional(),
  }),
  listKeys: none,
  addKey: z
    .strictObject({ passphrase: newPassphrase.optional(), keyFile: absolutePath.optional() })
    .refine((a) => (a.passphrase === undefined) !== (a.keyFile === undefined), { path: ['passphrase'], message: 'give a new passphrase or a key file' }),
  removeKey: z.strictObject({ id: z.string().min(1).max(128) }),
  changePassphrase: z.strictObject({ passphrase: newPassphrase, id: z.string().min(1).max(128).optional() }),
  listVersions: z.strictObject({ name: versionName.optional(), snapshot: z.string().max(LIMITS.name).optional(), tag: tag.optional() }),
  getVersionDetail: z.strictObject({ uid }),
  setProtected: z.strictObject({ uids, value: z.boolean({ error: 'must be true or false' }) }),
  addTag: z.strictObject({ uids, tag }),
  removeTag: z.strictObject({ uids, tag }),
  setVersionNote: z.strictObject({
    uid,
    note: z
      .string({ error: 'must be a note (text)' })
      .max(LIMITS.note, `must be at most ${LIMITS.note} characters`)
      // eslint-disable-next-line no-control-regex
      .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'must not contain control characters other than line breaks and tabs'),
  }),
  removeVersions: z.strictObject({ uids, force: z.boolean().optional() }),
  getBlockMap: z.strictObject({ uid }),
  getBlockInfo: z.strictObject({ uid, idx: int(0, LIMITS.maxBlockIndex) }),
  compareVersions: z.strictObject({ left: uid, right: uid }),
  diffVersions: z.strictObject({ left: uid, right: uid }),
  getDu: z.strictObject({ uid: uid.optional() }),
  listStats: z.strictObject({ uid: uid.optional(), limit: int(1, LIMITS.listLimit).optional() }),
  listScrubReports: z.strictObject({ uid }),
  listVersionFacts: none,
  getStorageHistory: none,
  suggestBase: z.strictObject({ name: versionName }),
  listPolicies: none,
  savePolicy: z.strictObject({ policy: policySchema, create: z.boolean() }),
  removePolicy: z.strictObject({ name: versionName }),
  previewPrune: pruneArgs,
  startPrune: pruneArgs,
  getStatus: none,
  listBlockDevices: none,
  inspectPath: z.strictObject({ path: absolutePath }),
  pickPath: z.strictObject({
    purpose: z.enum(['openRepository', 'createRepository', 'source', 'target', 'hints', 'exportFile', 'importFile', 'credentialsFile']),
    defaultPath: absolutePath.optional(),
  }),
  browsePath: z.strictObject({
    path: absolutePath.optional(),
    purpose: z.enum(['openRepository', 'createRepository', 'source', 'target', 'hints', 'exportFile', 'importFile', 'credentialsFile']),
  }),
  startBackup: z.strictObject({
    source: location,
    bitmap: bitmapName.optional(),
    fromSnap: bitmapName.optional(),
    rotateBitmap: z.boolean().optional(),
    raw: z.boolean().optional(),
    pre: z.string().min(1).max(4096).refine((s) => !/[\u0000\n\r]/.test(s), 'must be one command line').optional(),
    post: z.string().min(1).max(4096).refine((s) => !/[\u0000\n\r]/.test(s), 'must be one command line').optional(),
    name: versionName,
    snapshot: z.string().max(LIMITS.name).refine((s) => !CONTROL.test(s), 'must not contain control characters').refine((s) => !s.includes('|'), 'must not contain "|"').optional(),
    tags: z.array(tag).max(LIMITS.tags, `must have at most ${LIMITS.tags} tags`).optional(),
    from: uid.optional(),
    hints: absolutePath.optional(),
    uid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a new UUID (lowercase)').optional(),
    strict: z.boolean().optional(),
  }),
  startRestore: z.strictObject({
    uid,
    target: location,
    force: z.boolean().optional(),
    sparse: z.boolean().optional(),
    confirm: z.string().max(LIMITS.path).optional(),
  }),
  startScrub: z.strictObject({
    uids,
    mode: z.enum(['fast', 'deep', 'source'], { error: 'must be "fast", "deep" or "source"' }),
    percent: int(1, 100).optional(),
    source: absolutePath.optional(),
  }),
  estimateCleanup: none,
  startCleanup: z.strictObject({ full: z.boolean().optional(), graceSeconds: int(0, LIMITS.maxGraceSeconds).optional() }),
  startExport: z.strictObject({ uids, file: absolutePath }),
  startImport: z.strictObject({ file: absolutePath }),
  startMigrate: z.strictObject({
    tool: z.enum(['backy2', 'benji'], { error: 'must be "backy2" or "benji"' }),
    dumps: z.array(absolutePath).min(1, 'must name at least one dump').max(LIMITS.uids),
    data: absolutePath,
    listing: absolutePath.optional(),
    hash: z.string().regex(/^[A-Za-z0-9_,=-]{1,64}$/, 'must be a hash function name').optional(),
  }),
  startCopy: z
    .strictObject({
      uids: uids.optional(),
      all: z.boolean({ error: 'must be true or false' }).optional(),
      name: versionName.optional(),
      to: repositoryPath,
      toS3: s3Connection.optional(),
      toPassphrase: passphrase.optional(),
      toKeyFile: absolutePath.optional(),
    })
    .refine((a) => [a.uids !== undefined, a.all === true, a.name !== undefined].filter(Boolean).length === 1, { path: ['uids'], message: 'name the versions, or all, or a name: exactly one' })
    .refine((a) => a.toPassphrase === undefined || a.toKeyFile === undefined, { path: ['toKeyFile'], message: 'give a passphrase or a key file, not both' }),
  listJobs: z.strictObject({ limit: int(1, 10_000).optional() }),
  getJob: z.strictObject({ id: jobId }),
  cancelJob: z.strictObject({ id: jobId }),
  startServingNbd: z.strictObject({ uid, socket: absolutePath.optional(), port: int(0, 65535).optional(), cow: z.boolean().optional(), saveAs: versionName.optional() })
    .refine((a) => a.socket === undefined || a.port === undefined, 'give a socket or a port, not both')
    .refine((a) => a.saveAs === undefined || a.cow === true, { path: ['saveAs'], message: 'needs cow: only a copy-on-write serving has changes to save' }),
  stopServingNbd: z.strictObject({ id: z.string().regex(/^[0-9a-f]{1,32}$/, 'must be a serving id') }),
  listServingsNbd: none,
} satisfies { [M in ApiMethod]: z.ZodType<ApiArgs<M>> };

export type ValidationResult<M extends ApiMethod> = { ok: true; value: ApiArgs<M> } | { ok: false; message: string };

/** Validates the arguments of a call; the message names the method and every bad field. */
export function validateArgs<M extends ApiMethod>(method: M, args: unknown): ValidationResult<M> {
  const schema = SCHEMAS[method] as unknown as z.ZodType<ApiArgs<M>>;
  const parsed = schema.safeParse(args === undefined ? {} : args);
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : 'arguments';
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    return `${field}: ${message}`;
  });
  return { ok: false, message: `${method}: invalid arguments: ${problems.join('; ')}` };
}

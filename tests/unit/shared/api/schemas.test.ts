// Validation at the boundary: every method, called with wrong types, missing fields,
// unknown fields, huge sizes and path tricks, is refused with a readable message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { METHOD_NAMES, type ApiMethod } from '../../../../src-shared/api/contract';
import { passphraseStrength as enginePassphraseStrength, MIN_PASSPHRASE_LENGTH as ENGINE_MIN } from '../../../../src-main/engine/codec/keys';
import { MIN_PASSPHRASE_LENGTH, passphraseStrength } from '../../../../src-shared/api/passphrase';
import { LIMITS, normalizePath, validateArgs } from '../../../../src-shared/api/schemas';

const UID = '3f2b8c1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const JOB = '9a8b7c6d-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

/** A valid call of every method, and which of its fields are required. */
const VALID: Record<ApiMethod, { args: Record<string, unknown>; required: string[] }> = {
  ping: { args: { sent: 1 }, required: [] },
  getAppInfo: { args: {}, required: [] },
  getRepository: { args: {}, required: [] },
  listOpenRepositories: { args: {}, required: [] },
  openRepository: { args: { path: '/srv/repo', passphrase: 'correct horse' }, required: ['path'] },
  createRepository: { args: { path: '/srv/new', blockSize: 4194304, compression: 'zstd:3', minAgeDays: 6, cleanupGraceSeconds: 3600, encrypt: true, passphrase: 'correct horse battery' }, required: ['path'] },
  closeRepository: { args: {}, required: [] },
  testS3Connection: { args: { path: 's3://backups/site-a', s3: { endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', pathStyle: true, credentialsFile: '/etc/blockvault/s3' } }, required: ['path'] },
  listRecentRepositories: { args: {}, required: [] },
  forgetRecentRepository: { args: { path: '/srv/repo' }, required: ['path'] },
  getSummary: { args: {}, required: [] },
  updateSettings: { args: { minAgeDays: 1, cleanupGraceSeconds: 10, maxConcurrentJobs: 2 }, required: [] },
  listKeys: { args: {}, required: [] },
  addKey: { args: { passphrase: 'correct horse battery' }, required: [] },
  removeKey: { args: { id: 'k1' }, required: ['id'] },
  changePassphrase: { args: { passphrase: 'correct horse battery', id: 'k1' }, required: ['passphrase'] },
  listVersions: { args: { name: 'vm1', snapshot: 's', tag: 't' }, required: [] },
  getVersionDetail: { args: { uid: UID }, required: ['uid'] },
  setProtected: { args: { uids: [UID], value: true }, required: ['uids', 'value'] },
  addTag: { args: { uids: [UID], tag: 'daily' }, required: ['uids', 'tag'] },
  removeTag: { args: { uids: [UID], tag: 'daily' }, required: ['uids', 'tag'] },
  removeVersions: { args: { uids: [UID], force: true }, required: ['uids'] },
  getBlockMap: { args: { uid: UID }, required: ['uid'] },
  getBlockInfo: { args: { uid: UID, idx: 7 }, required: ['uid', 'idx'] },
  compareVersions: { args: { left: UID, right: UID }, required: ['left', 'right'] },
  diffVersions: { args: { left: UID, right: UID }, required: ['left', 'right'] },
  getDu: { args: { uid: UID }, required: [] },
  listStats: { args: { uid: UID, limit: 10 }, required: [] },
  listScrubReports: { args: { uid: UID }, required: ['uid'] },
  listVersionFacts: { args: {}, required: [] },
  getStorageHistory: { args: {}, required: [] },
  setVersionNote: { args: { uid: UID, note: 'moved to the new SAN\nafter the outage' }, required: ['uid', 'note'] },
  browsePath: { args: { path: '/tmp', purpose: 'source' }, required: ['purpose'] },
  suggestBase: { args: { name: 'vm1' }, required: ['name'] },
  listPolicies: { args: {}, required: [] },
  savePolicy: { args: { policy: { name: 'vm1', kind: 'backup', enabled: true, schedule: { cron: '0 2 * * *', timeZone: 'Europe/Berlin' }, source: '/dev/vg/vm1', retention: { keepDaily: 7 } }, create: true }, required: ['policy', 'create'] },
  removePolicy: { args: { name: 'vm1' }, required: ['name'] },
  previewPrune: { args: { name: 'vm1', retention: { keepLast: 3 }, timeZone: 'UTC' }, required: [] },
  startPrune: { args: { name: 'vm1', retention: { keepLast: 3 } }, required: [] },
  getStatus: { args: {}, required: [] },
  listBlockDevices: { args: {}, required: [] },
  inspectPath: { args: { path: '/dev/sda' }, required: ['path'] },
  pickPath: { args: { purpose: 'source', defaultPath: '/dev' }, required: ['purpose'] },
  startBackup: { args: { source: '/images/a.raw', name: 'vm1', snapshot: 's', tags: ['a'], from: UID, hints: '/tmp/h.json' }, required: ['source', 'name'] },
  startRestore: { args: { uid: UID, target: '/tmp/out.raw', force: true, sparse: false, confirm: 'out.raw' }, required: ['uid', 'target'] },
  startScrub: { args: { uids: [UID], mode: 'source', percent: 50, source: '/images/a.raw' }, required: ['uids', 'mode'] },
  estimateCleanup: { args: {}, required: [] },
  startCleanup: { args: { full: true, graceSeconds: 0 }, required: [] },
  startExport: { args: { uids: [UID], file: '/tmp/e.jsonl' }, required: ['uids', 'file'] },
  startImport: { args: { file: '/tmp/e.jsonl' }, required: ['file'] },
  startMigrate: { args: { tool: 'backy2', dumps: ['/tmp/d.csv'], data: '/tmp/data', listing: '/tmp/ls.txt', hash: 'sha512' }, required: ['tool', 'dumps', 'data'] },
  startCopy: { args: { uids: [UID], to: 's3://backups/site-b', toS3: { endpoint: 'http://127.0.0.1:7480', pathStyle: true } }, required: ['to'] },
  listJobs: { args: { limit: 5 }, required: [] },
  getJob: { args: { id: JOB }, required: ['id'] },
  cancelJob: { args: { id: JOB }, required: ['id'] },
  startServingNbd: { args: { uid: UID, port: 10809, cow: true }, required: ['uid'] },
  stopServingNbd: { args: { id: 'ab12cd34ef567890' }, required: ['id'] },
  listServingsNbd: { args: {}, required: [] },
};

const PATH_FIELDS = new Set(['path', 'source', 'target', 'hints', 'file', 'defaultPath']);
const PATH_TRICKS = ['relative/path', '../etc/passwd', '/srv/../etc/shadow', '/srv/a/..', '/a\u0000b', '/a\nb', '', `/${'x'.repeat(5000)}`, '~/repo'];
const NUMBER_TRICKS = [1e18, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '12', null];

function wrongType(value: unknown): unknown {
  if (typeof value === 'string') return 12345;
  if (typeof value === 'number') return 'twelve';
  if (typeof value === 'boolean') return 'yes';
  if (Array.isArray(value)) return 'not-a-list';
  return 'text';
}

function refused(method: ApiMethod, args: unknown): string {
  const result = validateArgs(method, args);
  assert.equal(result.ok, false, `${method}(${JSON.stringify(args)?.slice(0, 120)}) should be refused`);
  return result.ok ? '' : result.message;
}

test('the table covers every method of the contract', () => {
  assert.deepEqual(Object.keys(VALID).sort(), [...METHOD_NAMES].sort());
});

for (const method of METHOD_NAMES) {
  const { args, required } = VALID[method];
  test(`${method}: valid arguments pass; wrong types, missing, unknown and oversized fields are refused`, () => {
    assert.equal(validateArgs(method, args).ok, true, JSON.stringify(validateArgs(method, args)));
    for (const bad of ['text', 42, [], true]) refused(method, bad);
    const unknown = refused(method, { ...args, extra: 1 });
    assert.match(unknown, /unknown field/);
    assert.match(unknown, new RegExp(`^${method}: invalid arguments`));
    for (const field of required) {
      const rest = { ...args };
      delete rest[field];
      assert.match(refused(method, rest), new RegExp(field));
    }
    for (const [field, value] of Object.entries(args)) {
      refused(method, { ...args, [field]: wrongType(value) });
      if (PATH_FIELDS.has(field)) for (const trick of PATH_TRICKS) refused(method, { ...args, [field]: trick });
      if (typeof value === 'number' && field !== 'sent') for (const trick of NUMBER_TRICKS) refused(method, { ...args, [field]: trick });
      if (Array.isArray(value)) refused(method, { ...args, [field]: Array.from({ length: 100_001 }, () => value[0]) });
      if (typeof value === 'string' && !PATH_FIELDS.has(field)) refused(method, { ...args, [field]: 'x'.repeat(100_000) });
    }
  });
}

test('paths are normalised: repeated slashes and "." segments go, ".." is refused', () => {
  const result = validateArgs('inspectPath', { path: '//srv/./backups//repo/' });
  assert.deepEqual(result, { ok: true, value: { path: '/srv/backups/repo' } });
  assert.equal(normalizePath('/'), '/');
  assert.match(refused('inspectPath', { path: '/srv/../etc' }), /"\.\." segments/);
});

test('block sizes must be powers of two in range; tags may not hold commas; UIDs are checked', () => {
  assert.match(refused('createRepository', { path: '/r', blockSize: 3 * 1024 * 1024 }), /power of two/);
  assert.match(refused('createRepository', { path: '/r', blockSize: 32 * 1024 }), /at least/);
  assert.match(refused('addTag', { uids: [UID], tag: 'a,b' }), /comma/);
  assert.match(refused('getBlockMap', { uid: '../../x' }), /UID/);
  assert.match(refused('startScrub', { uids: [UID], mode: 'thorough' }), /mode/);
  assert.match(refused('startScrub', { uids: [], mode: 'deep' }), /at least one/);
  assert.match(refused('startScrub', { uids: [UID], mode: 'deep', percent: 0 }), /at least 1/);
  assert.match(refused('createRepository', { path: '/r', compression: 'gzip' }), /zstd/);
});

test('passphrases: optional to open, required with encrypt, at least 8 characters to create, bounded, never echoed', () => {
  assert.deepEqual(validateArgs('openRepository', { path: '/r' }), { ok: true, value: { path: '/r' } });
  assert.equal(validateArgs('openRepository', { path: '/r', passphrase: 'x' }).ok, true, 'opening tries any passphrase: the key decides');
  assert.equal(validateArgs('openRepository', { path: '/r', passphrase: 'tab\tinside' }).ok, true);
  assert.match(refused('openRepository', { path: '/r', passphrase: '' }), /passphrase: must not be empty/);
  assert.match(refused('openRepository', { path: '/r', passphrase: 'p'.repeat(LIMITS.passphrase + 1) }), /at most 1024/);
  assert.equal(validateArgs('createRepository', { path: '/r', encrypt: false }).ok, true);
  assert.match(refused('createRepository', { path: '/r', encrypt: true }), /passphrase: is required to encrypt/);
  assert.match(refused('createRepository', { path: '/r', passphrase: 'long enough' }), /passphrase: is only used with "encrypt": true/);
  assert.match(refused('createRepository', { path: '/r', encrypt: true, passphrase: 'short' }), /at least 8 characters/);
  assert.match(refused('createRepository', { path: '/r', encrypt: 'yes', passphrase: 'long enough' }), /encrypt: must be true or false/);
  const secret = 'hunter2-secret-words';
  for (const message of [
    refused('openRepository', { path: 'relative', passphrase: secret }),
    refused('createRepository', { path: '/r', encrypt: false, passphrase: secret }),
    refused('createRepository', { path: '/r', encrypt: true, passphrase: secret, extra: 1 }),
  ]) assert.doesNotMatch(message, /hunter2/, 'validation messages never contain the passphrase');
});

test('the shared passphrase strength estimate is the engine\'s', () => {
  assert.equal(ENGINE_MIN, MIN_PASSPHRASE_LENGTH);
  assert.equal(enginePassphraseStrength, passphraseStrength);
  assert.deepEqual(passphraseStrength(''), { bits: 0, verdict: 'weak' });
  assert.deepEqual(passphraseStrength('password'), { bits: 38, verdict: 'weak' });
  assert.deepEqual(passphraseStrength('aaaaaaaaaaaaaaaaaaaa'), { bits: 9, verdict: 'weak' }, 'repetition does not count');
  assert.equal(passphraseStrength('Tr0ub4dor&3x').verdict, 'fair');
  assert.equal(passphraseStrength('correct horse battery staple').verdict, 'strong');
});

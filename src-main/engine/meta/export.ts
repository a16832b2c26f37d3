// Metadata export and import: JSON Lines, one JSON object per line, "\n" separated.
//   line 1   {"format":"blockvault-metadata","formatVersion":1,"seq":0,"created","repository","blockSize","hash","versions":N}
//   version  {"type":"version","seq":i,"uid","name","snapshot","date","size","blockSize","status","protected","tags","baseUid","source","blocks":count[,"note"]}
//            ("note", the version's note, is optional: exports without it, older ones included, import as before)
//   blocks   {"type":"blocks","seq":i,"uid","first":idx,"objects":[["<hex digest>",length,storedSize] | null, ...]}  (null = sparse)
//   policy   {"type":"policy","seq":i,"policy":{...}}  (the backup policy of an exported disk, after the versions)
//   last     {"type":"end","seq":i,"lines":i,"sha256":"<hex of every byte before this line>"}
// `seq` numbers the lines from 0: a reordered, truncated or altered file is refused whole.
// An encrypted repository's export is two lines: {"format":"blockvault-metadata-encrypted",
// "formatVersion":1,"repository","nonce"} and the base64 of AES-256-GCM(metadata key, the
// plain export) followed by its tag, with the first line as associated data.
import { takeWriterLock, type HeldStoreLock } from '../store-locks';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { policySchema, type Policy } from '../../../src-shared/api/policy';
import { EngineError } from '../errors';
import { ENCRYPTED_EXPORT_FORMAT_NAME, EXPORT_BLOCKS_PER_LINE, EXPORT_FORMAT_NAME, EXPORT_FORMAT_VERSION, GCM_TAG_SIZE } from '../format';
import type { Repository } from '../repository';
import { manifestKeyOf, publishManifest } from '../describe';
import { objectKey } from '../store/index';
import { getPolicy, savePolicy } from './policies';
import { ObjectState, VersionState, type VersionStateId } from './schema';

/** longest note an export may carry (as the API's schema allows) */
const MAX_NOTE_LENGTH = 4096;

type ExportedObject = [string, number, number] | null;

interface HeaderLine { format: string; formatVersion: number; seq: 0; created: string; repository: string; blockSize: number; hash: string; versions: number }
interface VersionLine { type: 'version'; seq: number; uid: string; name: string; snapshot: string; date: string; size: number; blockSize: number; status: 'valid' | 'invalid'; protected: boolean; tags: string[]; baseUid: string | null; source: string; blocks: number; note?: string }
interface BlocksLine { type: 'blocks'; seq: number; uid: string; first: number; objects: ExportedObject[] }
interface PolicyLine { type: 'policy'; seq: number; policy: Policy }
interface EndLine { type: 'end'; seq: number; lines: number; sha256: string }

export interface ImportResult {
  /** backup policies imported with the versions (those the repository did not have) */
  policies?: string[];
  versions: string[];
  /** versions imported as invalid because objects they reference are not in the store */
  incompleteData: string[];
}

/** Exports versions as JSON Lines text. */
export function exportMetadata(repo: Repository, uids: string[]): string {
  if (uids.length === 0) throw new EngineError('INVALID_ARGUMENT', 'name at least one version to export');
  const meta = repo.meta;
  const versions = uids.map((uid) => meta.requireVersion(uid));
  for (const version of versions) {
    if (version.state === VersionState.incomplete) throw new EngineError('INVALID_ARGUMENT', `version ${version.uid} is incomplete and cannot be exported`);
  }
  const lines: string[] = [];
  let seq = 0;
  const header: HeaderLine = { format: EXPORT_FORMAT_NAME, formatVersion: EXPORT_FORMAT_VERSION, seq: 0, created: new Date().toISOString(), repository: repo.settings.id, blockSize: repo.blockSize, hash: repo.settings.hash, versions: versions.length };
  lines.push(JSON.stringify(header));
  for (const read of versions) {
    // The rows as sealed, or a refusal: an import would seal damaged rows as a valid version.
    const { version, rows: blocks } = meta.intactBlocks(read);
    const line: VersionLine = {
      type: 'version', seq: ++seq, uid: version.uid, name: version.name, snapshot: version.snapshot, date: new Date(version.date).toISOString(),
      size: version.size, blockSize: version.block_size, status: version.state === VersionState.valid ? 'valid' : 'invalid', protected: version.protected === 1,
      tags: version.tags ? version.tags.split(',') : [], baseUid: version.base_uid, source: version.source, blocks: blocks.length,
    };
    const note = meta.note(version.uid);
    if (note !== undefined) line.note = note;
    lines.push(JSON.stringify(line));
    for (let i = 0; i < blocks.length; i += EXPORT_BLOCKS_PER_LINE) {
      const chunk = blocks.slice(i, i + EXPORT_BLOCKS_PER_LINE);
      if (chunk.some((block, j) => block.idx !== i + j)) throw new EngineError('INTERNAL', `version ${version.uid} has a gap in its block list at ${i}`);
      const objects: ExportedObject[] = chunk.map((block) => (block.digest ? [block.digest.toString('hex'), block.length!, block.stored_size!] : null));
      const blocksLine: BlocksLine = { type: 'blocks', seq: ++seq, uid: version.uid, first: i, objects };
      lines.push(JSON.stringify(blocksLine));
    }
  }
  // The backup policies of the exported disks travel with them (a line each, after the versions).
  for (const name of [...new Set(versions.map((v) => v.name))]) {
    const stored = getPolicy(meta, name);
    if (stored?.policy.kind === 'backup') lines.push(JSON.stringify({ type: 'policy', seq: ++seq, policy: stored.policy } satisfies PolicyLine));
  }
  const body = `${lines.join('\n')}\n`;
  const end: EndLine = { type: 'end', seq: ++seq, lines: seq, sha256: createHash('sha256').update(body).digest('hex') };
  const plain = `${body}${JSON.stringify(end)}\n`;
  return repo.keys ? encryptExport(plain, repo.keys.meta, repo.settings.id) : plain;
}

function encryptExport(plain: string, key: Buffer, repository: string): string {
  const nonce = randomBytes(12);
  const header = JSON.stringify({ format: ENCRYPTED_EXPORT_FORMAT_NAME, formatVersion: EXPORT_FORMAT_VERSION, repository, nonce: nonce.toString('base64') });
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(header));
  const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${header}\n${sealed.toString('base64')}\n`;
}

/** Returns the plain export text, decrypting an encrypted export with the repository's key. */
function decryptExport(repo: Repository, text: string): string {
  const newline = text.indexOf('\n');
  let header: { format?: string; formatVersion?: number; nonce?: string };
  try {
    header = JSON.parse(newline < 0 ? text : text.slice(0, newline)) as typeof header;
  } catch {
    return text;
  }
  if (header?.format !== ENCRYPTED_EXPORT_FORMAT_NAME) return text;
  if (!repo.keys) throw bad('the export is encrypted and this repository is not; import it into the repository it came from');
  if (header.formatVersion !== EXPORT_FORMAT_VERSION) throw bad(`encrypted export format ${header.formatVersion} is not supported`);
  const sealed = Buffer.from(text.slice(newline + 1).trim(), 'base64');
  if (sealed.length < GCM_TAG_SIZE || typeof header.nonce !== 'string') throw bad('the encrypted export is truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', repo.keys.meta, Buffer.from(header.nonce, 'base64'));
    decipher.setAAD(Buffer.from(text.slice(0, newline)));
    decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_SIZE));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_SIZE)), decipher.final()]).toString('utf8');
  } catch {
    throw bad('the encrypted export cannot be decrypted: it was altered or truncated, or it belongs to another repository');
  }
}

export async function exportToFile(repo: Repository, uids: string[], file: string): Promise<void> {
  const text = exportMetadata(repo, uids);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text, { flag: 'wx' });
  // link, unlike rename, refuses an existing file (EEXIST): an export never replaces one.
  try {
    await fs.link(tmp, file);
  } finally {
    await fs.unlink(tmp);
  }
}

function bad(message: string): EngineError {
  return new EngineError('BAD_EXPORT', `metadata import refused, nothing was changed: ${message}`);
}

interface ParsedVersion { line: VersionLine; objects: ExportedObject[] }

/** Parses and checks an export completely before anything is written. */
export function parseExport(text: string): { header: HeaderLine; versions: ParsedVersion[]; policies: Policy[] } {
  if (!text.endsWith('\n')) throw bad('the file is truncated (it does not end with a complete line)');
  const rawLines = text.slice(0, -1).split('\n');
  const endText = rawLines[rawLines.length - 1];
  let end: EndLine;
  try {
    end = JSON.parse(endText) as EndLine;
  } catch {
    throw bad('the last line is not valid JSON (truncated file?)');
  }
  if (end?.type !== 'end') throw bad('the end line is missing: the file is truncated');
  const body = text.slice(0, text.length - endText.length - 1);
  const digest = createHash('sha256').update(body).digest('hex');
  if (digest !== end.sha256) throw bad('checksum mismatch: the file was altered or damaged');
  if (end.lines !== rawLines.length - 1 || end.seq !== rawLines.length - 1) throw bad(`line count mismatch: the end line says ${end.lines}, the file has ${rawLines.length - 1}`);

  const parsed = rawLines.slice(0, -1).map((line, i) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw bad(`line ${i + 1} is not valid JSON`);
    }
  });
  parsed.forEach((line, i) => { if (line.seq !== i) throw bad(`line ${i + 1} is out of order (seq ${String(line.seq)})`); });
  const header = parsed[0] as unknown as HeaderLine;
  if (header.format !== EXPORT_FORMAT_NAME) throw bad('not a Blockvault metadata export');
  if (header.formatVersion !== EXPORT_FORMAT_VERSION) throw bad(`export format ${header.formatVersion} is not supported (this release reads ${EXPORT_FORMAT_VERSION})`);

  const versions: ParsedVersion[] = [];
  const policies: Policy[] = [];
  for (let i = 1; i < parsed.length; i++) {
    const line = parsed[i];
    if (line.type === 'policy') {
      const policy = policySchema.safeParse((line as { policy?: unknown }).policy);
      if (!policy.success) throw bad(`line ${i + 1}: malformed policy`);
      policies.push(policy.data);
    } else if (line.type === 'version') {
      const v = line as unknown as VersionLine;
      if (typeof v.uid !== 'string' || typeof v.name !== 'string' || !Number.isSafeInteger(v.size) || v.size < 0 || !Number.isSafeInteger(v.blocks) || !Array.isArray(v.tags)) {
        throw bad(`line ${i + 1}: malformed version`);
      }
      if (Number.isNaN(Date.parse(v.date))) throw bad(`line ${i + 1}: malformed date`);
      if (v.note !== undefined && (typeof v.note !== 'string' || v.note.length > MAX_NOTE_LENGTH)) throw bad(`line ${i + 1}: malformed note`);
      versions.push({ line: v, objects: [] });
    } else if (line.type === 'blocks') {
      const b = line as unknown as BlocksLine;
      const current = versions[versions.length - 1];
      if (!current || current.line.uid !== b.uid) throw bad(`line ${i + 1}: blocks of ${String(b.uid)} outside their version`);
      if (b.first !== current.objects.length || !Array.isArray(b.objects)) throw bad(`line ${i + 1}: blocks out of sequence`);
      for (const object of b.objects) {
        if (object !== null && !(Array.isArray(object) && typeof object[0] === 'string' && /^[0-9a-f]{64}$/.test(object[0]) && Number.isSafeInteger(object[1]) && Number.isSafeInteger(object[2]))) {
          throw bad(`line ${i + 1}: malformed block entry`);
        }
        current.objects.push(object);
      }
    } else {
      throw bad(`line ${i + 1}: unknown line type ${String(line.type)}`);
    }
  }
  if (versions.length !== header.versions) throw bad(`the header announces ${header.versions} versions, the file has ${versions.length}`);
  for (const { line, objects } of versions) {
    if (objects.length !== line.blocks) throw bad(`version ${line.uid} announces ${line.blocks} blocks, the file has ${objects.length}`);
    if (line.blocks !== Math.ceil(line.size / line.blockSize)) throw bad(`version ${line.uid}: ${line.blocks} blocks do not cover ${line.size} bytes`);
  }
  return { header, versions, policies };
}

export async function importMetadata(repo: Repository, text: string): Promise<ImportResult> {
  const { header, versions, policies } = parseExport(decryptExport(repo, text));
  const meta = repo.meta;
  // Digests name objects: an export made with another hash (a plain repository's sha256 in an
  // encrypted one's keyed hash, or the reverse) would create versions nothing can restore.
  if (header.hash !== repo.settings.hash) {
    throw bad(`the export's hash algorithm (${typeof header.hash === 'string' ? header.hash : 'none'}) does not match this repository's (${repo.settings.hash}): a plain export cannot go into an encrypted repository or the reverse`);
  }
  for (const { line } of versions) {
    if (line.blockSize !== repo.blockSize) throw bad(`version ${line.uid} has block size ${line.blockSize}, this repository ${repo.blockSize}`);
    if (meta.getVersion(line.uid)) throw new EngineError('ALREADY_EXISTS', `metadata import refused, nothing was changed: version ${line.uid} already exists`);
  }
  const uidsInFile = new Set<string>();
  for (const { line } of versions) {
    if (uidsInFile.has(line.uid)) throw bad(`version ${line.uid} appears twice`);
    uidsInFile.add(line.uid);
  }
  // The shared lock keeps a full cleanup from sweeping objects between the check below and
  // the transaction; a fast cleanup only takes objects that have rows, checked again inside.
  const lockName = `import:${process.pid}:${Date.now()}`;
  meta.acquireLock(lockName, 'shared', 'metadata import');
  let storeLock: HeldStoreLock | null = null;
  try {
    storeLock = await takeWriterLock(repo, 'metadata import');
    const result = await importChecked(repo, versions);
    // A policy comes along unless the repository has one of that name already.
    const added = policies.filter((policy) => !getPolicy(meta, policy.name));
    for (const policy of added) savePolicy(meta, policy, true);
    return { ...result, policies: added.map((p) => p.name) };
  } finally {
    await storeLock?.release();
    meta.releaseLock(lockName);
  }
}

async function importChecked(repo: Repository, versions: ParsedVersion[]): Promise<ImportResult> {
  const meta = repo.meta;
  // Which objects exist in the store (checked before the transaction: it may take a while).
  const present = new Map<string, number | null>();
  const hadRow = new Set<string>();
  for (const { objects } of versions) {
    for (const object of objects) {
      if (!object || present.has(object[0])) continue;
      const row = meta.objectByDigest(Buffer.from(object[0], 'hex'));
      if (row && row.state !== ObjectState.deleting) hadRow.add(object[0]);
      // A row in state `invalid` is an object known missing or damaged: not present.
      present.set(object[0], row?.state === ObjectState.invalid ? null
        : row && row.state !== ObjectState.deleting ? row.stored_size : await repo.store.size(objectKey(object[0])));
    }
  }
  const incompleteData: string[] = [];
  const finalStates = new Map<number, number>();
  // Each version is held like a running backup's (cleanup leaves it alone) until its manifest
  // is durable in the store; only then does it get its state.
  try {
    for (const { line } of versions) meta.acquireLock(`backup:${line.uid}`, 'shared', `import of version ${line.uid}`);
    meta.transaction(() => {
      const now = Date.now();
      for (const { line, objects } of versions) {
        const missing = objects.some((object) => object && present.get(object[0]) === null);
        if (missing) incompleteData.push(line.uid);
        const id = meta.createVersion({
          uid: line.uid, name: line.name, snapshot: line.snapshot, date: Date.parse(line.date), size: line.size, blockSize: line.blockSize,
          baseUid: line.baseUid, source: line.source, state: VersionState.incomplete, protected: line.protected,
        });
        finalStates.set(id, line.status === 'valid' && !missing ? VersionState.valid : VersionState.invalid);
        for (const tag of line.tags) meta.addTag(id, String(tag));
        meta.setNote(line.uid, line.note ?? '');
        const rows: Array<[number, number | null]> = objects.map((object, idx) => {
          if (!object) return [idx, null];
          const digest = Buffer.from(object[0], 'hex');
          const existing = meta.objectByDigest(digest);
          if (existing) {
            if (existing.state === ObjectState.deleting) {
              // A stale mark of a killed cleanup is taken back: live when its file is still
              // there, invalid when it is gone (the version is then imported invalid, above).
              const cleanups = meta.liveCleanupLocks();
              if (cleanups.length > 0) throw new EngineError('LOCKED', `a cleanup (pid ${cleanups[0].pid}) is deleting objects this import needs; run the import again when it has finished`);
              meta.transitionObject(existing.id, [ObjectState.deleting], present.get(object[0]) === null ? ObjectState.invalid : ObjectState.live, now);
            }
            meta.touchObject(existing.id, now);
            return [idx, existing.id];
          }
          if (hadRow.has(object[0])) throw new EngineError('LOCKED', 'a cleanup removed objects this import needs while it ran; run the import again');
          const storedSize = present.get(object[0]);
          const state = storedSize === null ? ObjectState.invalid : ObjectState.live;
          return [idx, meta.insertObject(digest, object[1], state, null, now, storedSize ?? object[2])];
        });
        meta.insertBlocks(id, rows);
        meta.sealBlockList(id);
      }
    });
    for (const { line } of versions) await publishManifest(repo, line.uid);
    meta.durableTransaction(() => {
      for (const [id, state] of finalStates) meta.setVersionState(id, state as VersionStateId);
    });
  } catch (error) {
    for (const { line } of versions) {
      const row = meta.getVersion(line.uid);
      if (row && row.state === VersionState.incomplete) {
        meta.deleteVersion(row.id, Date.now());
        await repo.store.delete(manifestKeyOf(line.uid)).catch(() => undefined);
      }
    }
    throw error;
  } finally {
    for (const { line } of versions) meta.releaseLock(`backup:${line.uid}`);
  }
  return { versions: versions.map((v) => v.line.uid), incompleteData };
}

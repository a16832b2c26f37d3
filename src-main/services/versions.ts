// Version services: listing, detail, protection, tags, removal, block maps, comparison,
// space and statistics. Thin over engine/versions.ts; the extra queries serve the GUI.
import type { Api } from '../../src-shared/api/contract';
import type { BlockInfo, Comparison, VersionOrigin } from '../../src-shared/api/types';
import type { Version } from '../../src-shared/model';
import type { Repository } from '../engine/repository';
import { BLOCK_STATE_CODES } from '../../src-shared/model';
import { EngineError } from '../engine/errors';
import { ObjectState, VersionState } from '../engine/meta/schema';
import { reportFromRow } from '../engine/pipeline/scrub';
import { addTag, blockMap, checkNotInUse, checkRemovable, diff, du, getVersion, listVersions, removeTag, removeVersion, setProtected, stats, toVersion } from '../engine/versions';
import type { ServiceContext } from './context';
import { scrubSummary } from './repository';

type VersionApi = Pick<
  Api,
  | 'listVersions'
  | 'getVersionDetail'
  | 'setProtected'
  | 'addTag'
  | 'removeTag'
  | 'setVersionNote'
  | 'removeVersions'
  | 'getBlockMap'
  | 'getBlockInfo'
  | 'compareVersions'
  | 'diffVersions'
  | 'getDu'
  | 'listStats'
  | 'listScrubReports'
  | 'suggestBase'
>;

/** The versions with their notes attached (only those that have one get the field). */
function withNotes(repo: Repository, versions: Version[]): Version[] {
  const notes = repo.meta.notes();
  if (notes.size === 0) return versions;
  return versions.map((v) => (notes.has(v.uid) ? { ...v, note: notes.get(v.uid) } : v));
}

/** The chain of bases (each step's base, oldest last) and the hints or bitmap its backup job used. */
function versionOrigin(repo: Repository, version: Version): VersionOrigin {
  const chain: VersionOrigin['chain'] = [];
  const seen = new Set([version.uid]);
  for (let base = version.baseUid; base && !seen.has(base) && chain.length < 100; ) {
    seen.add(base);
    const row = repo.meta.getVersion(base);
    if (!row) {
      chain.push({ uid: base, date: null, snapshot: '', status: 'deleted' });
      break;
    }
    const v = toVersion(row);
    chain.push({ uid: v.uid, date: v.date, snapshot: v.snapshot, status: v.status });
    base = v.baseUid;
  }
  const job = repo.meta.sql("SELECT id, params FROM jobs WHERE kind = 'backup' AND state = 'succeeded' AND instr(result, ?) > 0 LIMIT 1").get(`"uid":"${version.uid}"`) as { id: string; params: string } | undefined;
  const params = job ? (JSON.parse(job.params) as Record<string, unknown>) : {};
  const text = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);
  return { chain, job: job?.id ?? null, hints: text(params.hints), bitmap: text(params.bitmap) };
}

/** Comparison codes per block. */
export const COMPARE = { same: 0, differs: 1, onlyLeft: 2, onlyRight: 3 } as const;

export function versionServices(ctx: ServiceContext): VersionApi {
  const changed = (reason: string, uids: string[]): void => ctx.events.emit('versionsChanged', { reason, uids });
  return {
    async listVersions(filter) {
      const repo = ctx.requireRepo();
      return withNotes(repo, listVersions(repo, filter));
    },
    async getVersionDetail({ uid }) {
      const repo = ctx.requireRepo();
      const [version] = withNotes(repo, [getVersion(repo, uid)]);
      const scrubs = repo.meta.scrubs(uid).map(reportFromRow).map(scrubSummary);
      const siblings = listVersions(repo, { name: version.name }).filter((v) => v.uid !== uid).reverse();
      return { version, origin: versionOrigin(repo, version), stats: stats(repo, uid)[0] ?? null, du: du(repo, uid), scrubs, siblings };
    },
    async setProtected({ uids, value }) {
      const repo = ctx.requireRepo();
      for (const uid of uids) repo.meta.requireVersion(uid);
      const result = await Promise.all(uids.map((uid) => setProtected(repo, uid, value)));
      changed(value ? 'protected' : 'unprotected', uids);
      return result;
    },
    async addTag({ uids, tag }) {
      const repo = ctx.requireRepo();
      for (const uid of uids) repo.meta.requireVersion(uid);
      const result = await Promise.all(uids.map((uid) => addTag(repo, uid, tag)));
      changed('tagged', uids);
      return result;
    },
    async removeTag({ uids, tag }) {
      const repo = ctx.requireRepo();
      for (const uid of uids) repo.meta.requireVersion(uid);
      const result = await Promise.all(uids.filter((uid) => getVersion(repo, uid).tags.includes(tag)).map((uid) => removeTag(repo, uid, tag)));
      changed('untagged', uids);
      return result;
    },
    async setVersionNote({ uid, note }) {
      const repo = ctx.requireRepo();
      repo.meta.requireVersion(uid);
      repo.meta.setNote(uid, note.trim());
      changed('note', [uid]);
      return withNotes(repo, [getVersion(repo, uid)])[0];
    },
    async removeVersions({ uids, force }) {
      const repo = ctx.requireRepo();
      // Every rule is checked for every version first, and whether a job uses it: either all
      // are removed or none (unless a job takes one of them in the moment between).
      for (const uid of uids) {
        checkRemovable(repo, uid, force);
        checkNotInUse(repo, uid);
      }
      const removed: string[] = [];
      try {
        for (const uid of uids) {
          await removeVersion(repo, uid, force);
          repo.meta.setNote(uid, '');
          removed.push(uid);
        }
      } finally {
        if (removed.length) changed('removed', removed);
      }
      return { removed };
    },
    async getBlockMap({ uid }) {
      return blockMap(ctx.requireRepo(), uid);
    },
    async getBlockInfo({ uid, idx }) {
      const repo = ctx.requireRepo();
      const version = repo.meta.requireVersion(uid);
      const blocks = Math.ceil(version.size / version.block_size);
      if (idx >= blocks) throw new EngineError('INVALID_ARGUMENT', `block ${idx} is past the end of version ${uid} (${blocks} blocks)`);
      const row = repo.meta.sql(
        'SELECT b.object_id, o.digest, o.stored_size, o.state, o.created_by FROM blocks b LEFT JOIN objects o ON o.id = b.object_id WHERE b.version_id = ? AND b.idx = ?',
      ).get(version.id, idx) as { object_id: number | null; digest: Buffer | null; stored_size: number | null; state: number | null; created_by: number | null } | undefined;
      let state: number = BLOCK_STATE_CODES.sparse;
      if (row && row.object_id !== null) {
        const base = version.base_uid ? repo.meta.getVersion(version.base_uid) : undefined;
        const baseRow = base ? (repo.meta.sql('SELECT object_id FROM blocks WHERE version_id = ? AND idx = ?').get(base.id, idx) as { object_id: number | null } | undefined) : undefined;
        if (row.state === ObjectState.invalid) state = BLOCK_STATE_CODES.invalid;
        else if (baseRow && baseRow.object_id === row.object_id) state = BLOCK_STATE_CODES.base;
        else if (row.created_by === version.id) state = BLOCK_STATE_CODES.new;
        else state = BLOCK_STATE_CODES.dedup;
      }
      const offset = idx * version.block_size;
      const info: BlockInfo = {
        uid,
        idx,
        offset,
        length: Math.min(version.block_size, version.size - offset),
        object: row?.digest ? row.digest.toString('hex') : null,
        storedSize: row?.stored_size ?? null,
        state,
      };
      return info;
    },
    async compareVersions({ left, right }) {
      const repo = ctx.requireRepo();
      const a = repo.meta.requireVersion(left);
      const b = repo.meta.requireVersion(right);
      if (a.block_size !== b.block_size) throw new EngineError('INVALID_ARGUMENT', 'the versions have different block sizes and cannot be compared block by block');
      const leftObjects = repo.meta.blockObjects(a.id);
      const rightObjects = repo.meta.blockObjects(b.id);
      const count = Math.max(Math.ceil(a.size / a.block_size), Math.ceil(b.size / b.block_size));
      const leftCount = Math.ceil(a.size / a.block_size);
      const rightCount = Math.ceil(b.size / b.block_size);
      const states = new Array<number>(count);
      let differing = 0;
      for (let idx = 0; idx < count; idx++) {
        let code: number = COMPARE.same;
        if (idx >= leftCount) code = COMPARE.onlyRight;
        else if (idx >= rightCount) code = COMPARE.onlyLeft;
        else if ((leftObjects[idx] ?? null) !== (rightObjects[idx] ?? null)) code = COMPARE.differs;
        states[idx] = code;
        if (code !== COMPARE.same) differing++;
      }
      const comparison: Comparison = { left, right, blockSize: a.block_size, states, differingBlocks: differing, differingBytes: differing * a.block_size };
      return comparison;
    },
    async diffVersions({ left, right }) {
      return diff(ctx.requireRepo(), left, right);
    },
    async getDu({ uid }) {
      return du(ctx.requireRepo(), uid);
    },
    async listStats({ uid, limit }) {
      return stats(ctx.requireRepo(), uid, limit);
    },
    async listScrubReports({ uid }) {
      const repo = ctx.requireRepo();
      repo.meta.requireVersion(uid);
      return repo.meta.scrubs(uid).map(reportFromRow);
    },
    async suggestBase({ name }) {
      const row = ctx.requireRepo().meta.latestValidVersion(name);
      return row && row.state === VersionState.valid ? toVersion(row) : null;
    },
  };
}

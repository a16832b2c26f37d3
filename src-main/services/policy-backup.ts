// A backup policy's run: the backup job with the policy's change source. The base of an
// incremental is the latest valid version of the disk's name; what changed since it comes
// from one of: a dirty bitmap (qcow2/NBD, started afresh by every run), RBD snapshots the
// policy manages (`rbd diff --from-snap` the base's snapshot), or a hints command run before
// each backup. Everything a run does to the source (snapshots, hints) happens inside the job,
// so it is in the job's log, and a failed or canceled run undoes what it made.
import { parseRbdSpec } from '../engine/io/rbd';
import { createRbdSnapshot, isPolicyRbdSnapshot, listRbdSnapshots, managedRbdSnapshotName, removeRbdSnapshot } from '../engine/io/rbd-snapshots';
import { VersionState } from '../engine/meta/schema';
import { parseHints } from '../engine/pipeline/hints';
import type { Policy } from '../../src-shared/api/policy';
import type { Job } from '../../src-shared/api/types';
import type { ServiceContext } from './context';
import { submitBackup, type BackupChanges } from './jobs';
import { commandOutput, runCommand } from './shell';

/** The location of snapshot `name` of an `rbd:POOL/IMAGE[?conf=..&id=..]` source. */
export function rbdSnapshotLocation(source: string, name: string): string {
  const at = source.indexOf('?');
  return at < 0 ? `${source}@${name}` : `${source.slice(0, at)}@${name}${source.slice(at)}`;
}

/** Submits the backup job of one run of a backup policy, at clock time `now`. */
export function submitPolicyBackup(ctx: ServiceContext, policy: Policy, now: number): Job {
  const repo = ctx.requireRepo();
  const env = { BLOCKVAULT_POLICY: policy.name, BLOCKVAULT_REPO: repo.path, BLOCKVAULT_SOURCE: policy.source! };
  type Log = (m: string, l?: 'info' | 'warn' | 'error') => void;
  const hook = async (what: 'pre' | 'post', command: string | undefined, log: Log, signal: AbortSignal, extra: Record<string, string> = {}): Promise<void> => {
    if (!command) return;
    log(`${what} command: ${command}`);
    const output = await runCommand(command, { ...env, ...extra }, '', signal);
    if (output) log(`${what} command output: ${output}`);
  };
  const base = policy.incremental === false ? undefined : repo.meta.latestValidVersion(policy.name);
  const from = base && base.state === VersionState.valid ? base : undefined;
  // RBD snapshots: this run reads the snapshot it makes; the image's spec keeps conf and id.
  const image = policy.rbdSnapshots ? parseRbdSpec(policy.source!) : null;
  const snapshot = image ? managedRbdSnapshotName(policy.name, now) : undefined;
  const where = image ? `${image.pool}/${image.image}` : '';
  let created = false;
  let succeeded = false;
  // with a dirty bitmap: an incremental reads only what it marks; every run (the first one
  // too, which creates it) starts it afresh for the next run
  const bitmap = policy.bitmap ? { bitmap: policy.bitmap, rotateBitmap: true } : {};
  return submitBackup(ctx, {
    source: snapshot ? rbdSnapshotLocation(policy.source!, snapshot) : policy.source!,
    name: policy.name,
    snapshot: snapshot ?? policy.snapshot,
    tags: policy.tags,
    from: from?.uid,
    ...bitmap,
  }, {
    // Always a before hook: the source is checked inside the job, so a failure is in the history.
    before: async (log, signal) => {
      await hook('pre', policy.pre, log, signal);
      const changes: BackupChanges = {};
      if (image && snapshot) {
        createRbdSnapshot(image, snapshot);
        created = true;
        log(`created snapshot ${where}@${snapshot}`);
        if (from) {
          const baseImage = from.source.startsWith('rbd:') ? parseRbdSpec(from.source) : null;
          const sameImage = baseImage !== null && baseImage.pool === image.pool && baseImage.image === image.image;
          const exists = sameImage && isPolicyRbdSnapshot(from.snapshot, policy.name) && listRbdSnapshots(image).includes(from.snapshot);
          if (exists) {
            changes.fromSnap = from.snapshot;
            log(`changes since the base version ${from.uid}: rbd diff --from-snap ${from.snapshot}`);
          } else {
            log(`the base version ${from.uid} was read from ${sameImage ? (from.snapshot ? `snapshot ${from.snapshot}, which no longer exists` : 'no snapshot') : `another source (${from.source})`}: this run reads the whole image (unchanged blocks are deduplicated)`, 'warn');
          }
        }
      }
      if (policy.hintsCommand) {
        if (!from) log('no valid base version: a full backup, the hints command is not run');
        else {
          log(`hints command: ${policy.hintsCommand}`);
          const { stdout, stderr } = await commandOutput(policy.hintsCommand, {
            ...env,
            BLOCKVAULT_BASE_UID: from.uid,
            BLOCKVAULT_BASE_DATE: new Date(from.date).toISOString(),
            BLOCKVAULT_BASE_SNAPSHOT: from.snapshot,
            BLOCKVAULT_BASE_SOURCE: from.source,
          }, signal);
          if (stderr.trim()) log(`hints command said: ${stderr.trim()}`);
          changes.hints = parseHints(stdout, 'from the hints command');
          log(`hints command: ${changes.hints.length} changed extent(s) since ${from.uid}`);
        }
      }
      return changes;
    },
    after: async (log, signal, uid) => {
      succeeded = true;
      if (image && snapshot) {
        // Of this policy's snapshots only the one just read stays: the next run's --from-snap
        // (another policy's on the same image are its own).
        try {
          for (const name of listRbdSnapshots(image)) {
            if (name === snapshot || !isPolicyRbdSnapshot(name, policy.name)) continue;
            removeRbdSnapshot(image, name);
            log(`removed the older snapshot ${where}@${name}`);
          }
        } catch (error) {
          log(`older snapshots of ${where} stay (the next run removes them): ${(error as Error).message}`, 'warn');
        }
      }
      await hook('post', policy.post, log, signal, { BLOCKVAULT_VERSION: uid });
    },
    failed: async (log) => {
      if (!image || !snapshot || !created || succeeded) return;
      removeRbdSnapshot(image, snapshot);
      log(`removed the snapshot ${where}@${snapshot} this run made (it did not finish)`);
    },
    params: { policy: policy.name },
  });
}

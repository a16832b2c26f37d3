// RBD snapshots that Blockvault makes for a policy. Nouns: a *managed snapshot* is one named
// `blockvault-<policy>-YYYYMMDDTHHMMSSZ` (the policy's name as a snapshot name can hold it, and
// the snapshot's UTC creation time); only those are ever created or removed here, so snapshots
// an admin or another tool made are never touched, and each policy removes only its own (two
// policies on one image keep each other's). `blockvault-YYYYMMDDTHHMMSSZ` (no policy part)
// is what releases before per-policy names made: the policy of that image takes it as its own.
import { createHash } from 'node:crypto';
import { EngineError } from '../errors';
import { formatRbdSpec, rbd, type RbdSpec } from './rbd';

const TIME = '\\d{8}T\\d{6}Z';
const LEGACY = new RegExp(`^blockvault-${TIME}$`);
const ANY_MANAGED = new RegExp(`^blockvault-(?:[A-Za-z0-9._-]+-)?${TIME}$`);

/** A policy's name as it appears in its snapshots' names: letters, digits, ".", "_", "-" (others, or a long name, get a short hash). */
export function rbdSnapshotTag(policy: string): string {
  const plain = policy.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 48);
  return plain === policy ? plain : `${plain}_${createHash('sha256').update(policy).digest('hex').slice(0, 8)}`;
}

function escape(text: string): string {
  return text.replace(/[.]/g, '\\.');
}

/** Whether Blockvault made this snapshot (for any policy). */
export function isManagedRbdSnapshot(name: string): boolean {
  return ANY_MANAGED.test(name);
}

/** Whether this snapshot is the policy's own (or from before per-policy names). */
export function isPolicyRbdSnapshot(name: string, policy: string): boolean {
  return LEGACY.test(name) || new RegExp(`^blockvault-${escape(rbdSnapshotTag(policy))}-${TIME}$`).test(name);
}

/** The policy's snapshot name for a moment: `blockvault-vm2-20250303T010000Z`. */
export function managedRbdSnapshotName(policy: string, at: number): string {
  return `blockvault-${rbdSnapshotTag(policy)}-${new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`;
}

function imageOf(spec: RbdSpec): string {
  return `${spec.pool}/${spec.image}`;
}

/** Every snapshot name of the image (managed or not), oldest first. */
export function listRbdSnapshots(spec: RbdSpec): string[] {
  const what = `listing the snapshots of ${formatRbdSpec({ ...spec, snapshot: undefined })}`;
  const text = rbd(spec, ['snap', 'ls', '--format=json', imageOf(spec)], what);
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    throw new EngineError('IO_ERROR', `${what}: rbd printed no JSON`);
  }
  if (!Array.isArray(entries)) throw new EngineError('IO_ERROR', `${what}: rbd printed no list`);
  return entries
    .filter((e): e is { id: number; name: string } => typeof (e as { name?: unknown })?.name === 'string')
    .sort((a, b) => a.id - b.id)
    .map((e) => e.name);
}

/** Creates a managed snapshot; refuses a name that is not one, or one that exists. */
export function createRbdSnapshot(spec: RbdSpec, name: string): void {
  if (!isManagedRbdSnapshot(name)) throw new EngineError('INVALID_ARGUMENT', `${name} is not a Blockvault snapshot name`);
  rbd(spec, ['snap', 'create', '--no-progress', `${imageOf(spec)}@${name}`], `creating snapshot ${imageOf(spec)}@${name}`);
}

/** Removes a managed snapshot (never any other). */
export function removeRbdSnapshot(spec: RbdSpec, name: string): void {
  if (!isManagedRbdSnapshot(name)) throw new EngineError('INVALID_ARGUMENT', `${name} was not made by Blockvault; it is left alone`);
  rbd(spec, ['snap', 'rm', '--no-progress', `${imageOf(spec)}@${name}`], `removing snapshot ${imageOf(spec)}@${name}`);
}

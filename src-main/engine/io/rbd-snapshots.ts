// RBD snapshots that Blockvault makes for a policy. Nouns: a *managed snapshot* is one named
// `blockvault-YYYYMMDDTHHMMSSZ` (its UTC creation time); only those are ever created or
// removed here, so snapshots an admin or another tool made are never touched.
import { EngineError } from '../errors';
import { formatRbdSpec, rbd, type RbdSpec } from './rbd';

const MANAGED = /^blockvault-\d{8}T\d{6}Z$/;

export function isManagedRbdSnapshot(name: string): boolean {
  return MANAGED.test(name);
}

/** The managed snapshot name for a moment: `blockvault-20250303T010000Z`. */
export function managedRbdSnapshotName(at: number): string {
  return `blockvault-${new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`;
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

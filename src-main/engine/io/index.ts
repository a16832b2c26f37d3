// Opening sources and targets by their location string: `-` (stdin for a backup, stdout for
// a restore), a kind named by a prefix (schemes.ts), or a path: a regular file or block device
// (with its O_DIRECT fast path: workers open it themselves from its spec) or a FIFO (a stream).
import { statSync } from 'node:fs';
import { EngineError } from '../errors';
import { FileSource, FileTarget } from './file';
import { isQcow2File, openQcow2Location } from './qcow2';
import type { Source, SourceOptions, Target, TargetOptions } from './port';
import { SCHEMES, type IoScheme } from './schemes';
import { fifoSource, stdinSource, stdoutTarget } from './stream';

export type { Source, Target, SourceOptions, TargetOptions, IoSpec, Extent, AllocationExtent } from './port';
export { inspectTarget } from './file';

/** The location string meaning stdin (backup) or stdout (restore). */
export const STREAM_LOCATION = '-';

function schemeOf(location: string): IoScheme | undefined {
  return SCHEMES.find((scheme) => scheme.prefixes.some((prefix) => location.startsWith(prefix)));
}

export async function openSource(location: string, options: SourceOptions = {}): Promise<Source> {
  if (location === STREAM_LOCATION) return stdinSource();
  const scheme = schemeOf(location);
  if (scheme) {
    if (!scheme.openSource) throw new EngineError('INVALID_ARGUMENT', `${scheme.title} cannot be backed up: ${location}`);
    return scheme.openSource(location, options);
  }
  let stats;
  try {
    stats = statSync(location); // stat does not open: it never waits on a FIFO
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EngineError('NOT_FOUND', `source ${location} does not exist`);
    throw new EngineError('IO_ERROR', `cannot open source ${location}: ${(error as Error).message}`, { cause: error });
  }
  if (stats.isFIFO()) return fifoSource(location);
  if (!stats.isFile() && !stats.isBlockDevice()) throw new EngineError('INVALID_ARGUMENT', `source ${location} is neither a regular file, a block device nor a FIFO`);
  if ((options.bitmap || options.fromSnap) && !stats.isFile()) throw new EngineError('INVALID_ARGUMENT', `--bitmap and --from-snap need a qcow2, NBD or RBD source; ${location} is a ${stats.isBlockDevice() ? 'block device' : 'file'}`);
  // A qcow2 given as a path is its guest disk; the container file itself only with --raw.
  if (stats.isFile() && !options.raw && isQcow2File(location)) return openQcow2Location(location, options);
  if (options.bitmap || options.fromSnap) throw new EngineError('INVALID_ARGUMENT', `--bitmap and --from-snap need a qcow2, NBD or RBD source; ${location} is a raw file`);
  return FileSource.open(location);
}

export async function openTarget(location: string, options: TargetOptions): Promise<Target> {
  if (location === STREAM_LOCATION) return stdoutTarget();
  const scheme = schemeOf(location);
  if (scheme) {
    if (!scheme.openTarget) throw new EngineError('INVALID_ARGUMENT', `${scheme.title} cannot be restored to: ${location}`);
    return scheme.openTarget(location, options);
  }
  return FileTarget.open(location, options);
}

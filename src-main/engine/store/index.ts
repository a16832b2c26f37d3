// Opening stores: the one place that turns a StoreSpec into an ObjectStore. The repository
// opens its store here, and so does every worker thread (from the spec in its settings), so
// nothing else needs to know which kinds of store exist.
import { EngineError } from '../errors';
import { FolderStore } from './folder';
import type { ObjectStore, StoreSpec } from './port';

export type { ObjectStore, StoreEntry, StoreSpec, ByteRange } from './port';
export { objectKey, objectDigest, manifestKey, OBJECT_PREFIX, MANIFEST_PREFIX, REPOSITORY_PREFIX } from './port';

export function openStore(spec: StoreSpec): ObjectStore {
  switch (spec.kind) {
    case 'folder':
      return new FolderStore(spec);
    case 's3':
      // The s3 room adds engine/store/s3.ts and returns its store (wrapped in the retry decorator) here.
      throw new EngineError('FORMAT_UNSUPPORTED', `S3 stores are not supported by this build (s3://${spec.bucket}/${spec.prefix})`);
  }
}

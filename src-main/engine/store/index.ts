// Opening stores: the one place that turns a StoreSpec into an ObjectStore. The repository
// opens its store here, and so does every worker thread (from the spec in its settings), so
// nothing else needs to know which kinds of store exist.
import { FolderStore } from './folder';
import type { StoreSpec } from './port';
import { RetryingStore } from './retry';
import { S3Store } from './s3';

export type { ObjectStore, StoreEntry, StoreSpec, ByteRange } from './port';
export { objectKey, objectDigest, manifestKey, OBJECT_PREFIX, MANIFEST_PREFIX, REPOSITORY_PREFIX } from './port';

/** The store a spec describes, inside the one retry decorator (see retry.ts). */
export function openStore(spec: StoreSpec): RetryingStore {
  switch (spec.kind) {
    case 'folder':
      return new RetryingStore(new FolderStore(spec));
    case 's3':
      return new RetryingStore(new S3Store(spec));
  }
}

// What the services offer before any repository can be opened: rebuilding a repository's
// metadata from its store, and restoring one version from its manifest alone, for a folder
// repository or an S3 one (its connection as the contract gives it, secrets resolved here).
// The CLI reaches them here, as it reaches every other operation through the services.
import type { S3ConnectionArgs } from '../../src-shared/api/contract';
import type { RestoreResult } from '../../src-shared/model';
import type { Credentials } from '../engine/codec/keys';
import { recoverRepository as recoverFromStore, restoreWithoutDatabase as restoreFromStore, type RecoverResult, type StoreWhere } from '../engine/recover';
import { isS3Location } from '../engine/store/location';
import { s3SpecOf } from './repository';

export type { Credentials } from '../engine/codec/keys';

async function storeWhere(path: string, s3: S3ConnectionArgs | undefined): Promise<StoreWhere> {
  return isS3Location(path) ? s3SpecOf(path, s3) : path;
}

/** Rebuilds metadata.sqlite (a folder repository's, or an S3 repository's local cache) from the store. */
export async function recoverRepository(path: string, credentials: Credentials = {}, signal?: AbortSignal, s3?: S3ConnectionArgs): Promise<RecoverResult> {
  return recoverFromStore(await storeWhere(path, s3), credentials, signal);
}

/** Restores one version from its manifest and the objects in the store; no database is opened. */
export async function restoreWithoutDatabase(
  path: string,
  uid: string,
  target: string,
  options: { credentials?: Credentials; force?: boolean; signal?: AbortSignal; s3?: S3ConnectionArgs } = {},
): Promise<RestoreResult> {
  return restoreFromStore(await storeWhere(path, options.s3), uid, target, options);
}

// Copy service: `startCopy` checks the versions and opens the destination at once (a wrong
// destination, key or block size fails the call, not a job later), then runs the copy as a
// job of the current repository; the destination is closed when the job ends.
import type { Api } from '../../src-shared/api/contract';
import { humanBytes, humanDuration } from '../../src-shared/api/format';
import { readFileSync } from 'node:fs';
import type { Credentials } from '../engine/codec/keys';
import { EngineError } from '../engine/errors';
import { VersionState } from '../engine/meta/schema';
import { checkCopyable, copyVersions } from '../engine/pipeline/copy';
import { Repository } from '../engine/repository';
import { isS3Location } from '../engine/store/location';
import { addRetryCounts, describeRetryCounts, takeRetryCounts } from '../engine/store/retry';
import type { ServiceContext } from './context';
import { s3SpecOf } from './repository';

type CopyApi = Pick<Api, 'startCopy'>;

function destinationCredentials(passphrase: string | undefined, keyFile: string | undefined): Credentials {
  if (keyFile === undefined) return passphrase === undefined ? {} : { passphrase };
  try {
    return { keyFile: readFileSync(keyFile) };
  } catch (error) {
    throw new EngineError('NOT_FOUND', `cannot read key file ${keyFile}: ${(error as Error).message}`);
  }
}

export function copyServices(ctx: ServiceContext): CopyApi {
  return {
    async startCopy({ uids, all, name, to, toS3, toPassphrase, toKeyFile }) {
      const repo = ctx.requireRepo();
      const chosen = uids ?? repo.meta.listVersions(name !== undefined ? { name } : {}).filter((v) => v.state === VersionState.valid).map((v) => v.uid);
      if (chosen.length === 0) throw new EngineError('NOT_FOUND', name !== undefined ? `no valid version named ${name}` : 'the repository has no valid versions');
      if (to === repo.path) throw new EngineError('INVALID_ARGUMENT', 'source and destination are the same repository');
      const credentials = destinationCredentials(toPassphrase, toKeyFile);
      const destination = isS3Location(to) ? await Repository.openS3(await s3SpecOf(to, toS3), credentials, { onNotice: ctx.options.note }) : Repository.open(to, credentials);
      try {
        checkCopyable(repo, destination);
        for (const uid of chosen) {
          const version = repo.meta.requireVersion(uid);
          if (version.state !== VersionState.valid) throw new EngineError('INVALID_ARGUMENT', `version ${uid} is ${version.state === VersionState.invalid ? 'invalid' : 'incomplete'}; only valid versions are copied`);
        }
      } catch (error) {
        destination.close();
        throw error;
      }
      return ctx.jobs.submit({
        kind: 'copy',
        title: `Copy ${chosen.length === 1 ? chosen[0].slice(0, 8) : `${chosen.length} versions`} to ${destination.path}`,
        params: { uids: chosen, all: Boolean(all), name: name ?? null, to: destination.path },
        run: async ({ signal, onProgress, log }) => {
          try {
            log(`copying ${chosen.length} version(s) from ${repo.store.location} to ${destination.store.location}${destination.keys ? ' (objects encrypted again under its key)' : ''}`);
            takeRetryCounts(repo.store);
            const result = await copyVersions(repo, destination, { uids: chosen, signal, onProgress });
            const retries = addRetryCounts(takeRetryCounts(repo.store), takeRetryCounts(destination.store));
            if (retries.retries || retries.exhausted) log(`store requests: ${describeRetryCounts(retries)}`, 'warn');
            for (const v of result.versions) {
              log(`${v.uid}: ${v.outcome === 'present' ? 'already there' : `copied: ${v.objectsTransferred} objects transferred (${humanBytes(v.bytesTransferred)}), ${v.objectsPresent} already there`}`);
            }
            log(`done in ${humanDuration(result.durationMs / 1000)}`);
            return { kind: 'copy', value: { ...result, destination: destination.path, retries } };
          } finally {
            destination.close();
          }
        },
      });
    },
  };
}

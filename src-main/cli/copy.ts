// `blockvault copy UID... --to REPO` (or --all, or --name NAME): copies versions of the open
// repository into another one (folder or s3://), as a job. The destination's S3 connection
// comes from --to-endpoint, --to-region, --to-path-style, --to-s3-credentials, --to-s3-profile,
// else from the global S3 options; an encrypted destination opens with --to-key-file FILE,
// --to-passphrase-file FILE or BLOCKVAULT_TO_PASSPHRASE.
import { resolve } from 'node:path';
import type { S3ConnectionArgs } from '../../src-shared/api/contract';
import type { Job } from '../../src-shared/api/types';
import { humanBytes, humanDuration } from '../../src-shared/api/format';
import type { CopyResult } from '../../src-shared/model';
import { EngineError } from '../services';
import type { Command } from './commands';
import { readPassphraseFile } from './credentials';
import { repositoryPath, s3Connection } from './s3';

function destinationConnection(values: Record<string, unknown>): S3ConnectionArgs | undefined {
  const own = s3Connection({
    endpoint: values['to-endpoint'], region: values['to-region'], 'path-style': values['to-path-style'],
    's3-credentials': values['to-s3-credentials'], 's3-profile': values['to-s3-profile'],
  });
  return own ?? s3Connection(values);
}

function text(values: Record<string, unknown>, key: string): string | undefined {
  return typeof values[key] === 'string' ? (values[key] as string) : undefined;
}

export const copyCommand: Command = {
  usage: 'copy UID... | --all | --name NAME --to PATH|s3://BUCKET/PREFIX [--to-endpoint URL] [--to-region R] [--to-path-style] [--to-s3-credentials FILE] [--to-s3-profile NAME] [--to-key-file F | --to-passphrase-file F] [--json]',
  summary: 'copy versions with their metadata into another repository (only the objects it lacks; every object verified)',
  options: {
    to: { type: 'string' }, all: { type: 'boolean' }, name: { type: 'string', short: 'n' }, json: { type: 'boolean' },
    'to-endpoint': { type: 'string' }, 'to-region': { type: 'string' }, 'to-path-style': { type: 'boolean' },
    'to-s3-credentials': { type: 'string' }, 'to-s3-profile': { type: 'string' },
    'to-key-file': { type: 'string' }, 'to-passphrase-file': { type: 'string' },
  },
  args: [0, Infinity],
  async run(ctx) {
    const to = text(ctx.values, 'to');
    if (!to) throw new EngineError('INVALID_ARGUMENT', 'copy needs --to PATH or --to s3://BUCKET/PREFIX');
    const name = text(ctx.values, 'name');
    const all = ctx.values.all === true;
    const choices = [ctx.positionals.length > 0, all, name !== undefined].filter(Boolean).length;
    if (choices !== 1) throw new EngineError('INVALID_ARGUMENT', 'name the versions to copy (UID...), or --all, or --name NAME: exactly one of them');
    const keyFile = text(ctx.values, 'to-key-file');
    const passphraseFile = text(ctx.values, 'to-passphrase-file');
    const toPassphrase = passphraseFile !== undefined ? readPassphraseFile(passphraseFile) : keyFile === undefined ? process.env.BLOCKVAULT_TO_PASSPHRASE : undefined;
    const job: Job = await ctx.job('copy', (api) => api.startCopy({
      ...(all ? { all: true } : name !== undefined ? { name } : { uids: ctx.positionals }),
      to: repositoryPath(to),
      toS3: destinationConnection(ctx.values),
      ...(keyFile !== undefined ? { toKeyFile: resolve(keyFile) } : {}),
      ...(toPassphrase !== undefined ? { toPassphrase } : {}),
    }));
    if (job.result?.kind !== 'copy') throw new EngineError('INTERNAL', `job ${job.id} returned no copy result`);
    const result: CopyResult = job.result.value;
    for (const v of result.versions) {
      ctx.err(`${v.uid}: ${v.outcome === 'present' ? 'already in the destination' : `${v.objectsTransferred} objects copied (${humanBytes(v.bytesTransferred)}), ${v.objectsPresent} already there`}`);
    }
    ctx.err(`copied ${result.versions.length} version(s) to ${result.destination} in ${humanDuration(result.durationMs / 1000)}: ${result.objectsTransferred} objects, ${humanBytes(result.bytesTransferred)}`);
    if (ctx.values.json) ctx.out(JSON.stringify(result, null, 2));
  },
};

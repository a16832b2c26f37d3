// `recover` and `restore --without-database`: the two commands that work from the store alone
// (engine/recover.ts), when metadata.sqlite or blockvault.json is lost or damaged. They do not
// go through the services: those need an open repository, which is what is missing here.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { EngineError, recoverRepository, restoreWithoutDatabase, toEngineError, type StoreCredentials as EngineCredentials } from '../services';
import { humanBytes, humanDuration } from '../../src-shared/api/format';
import type { Command, CommandContext } from './commands';
import { openCredentials } from './credentials';
import { repositoryPath, s3Connection } from './s3';

function option(ctx: CommandContext, key: string): string | undefined {
  const value = ctx.values[key];
  return typeof value === 'string' ? value : undefined;
}

async function askCredentials(ctx: CommandContext): Promise<EngineCredentials> {
  const credentials = await openCredentials({ keyFile: option(ctx, 'key-file'), passphraseFile: option(ctx, 'passphrase-file') });
  return credentials.keyFile ? { keyFile: readFileSync(credentials.keyFile) } : { passphrase: credentials.passphrase };
}

/** Runs `body` without credentials first; an encrypted repository then asks for them. */
async function withCredentials<T>(ctx: CommandContext, body: (credentials: EngineCredentials) => Promise<T>): Promise<T> {
  const given = option(ctx, 'key-file') !== undefined || option(ctx, 'passphrase-file') !== undefined || process.env.BLOCKVAULT_PASSPHRASE !== undefined;
  if (given) return body(await askCredentials(ctx));
  try {
    return await body({});
  } catch (error) {
    if (toEngineError(error).code !== 'WRONG_KEY') throw error;
    return body(await askCredentials(ctx));
  }
}

export const recoverCommand: Command = {
  usage: 'recover PATH|s3://BUCKET/PREFIX [--json]',
  summary: 'rebuild metadata.sqlite (and a lost blockvault.json; for S3 the local cache) from the store alone; the old database is moved aside',
  options: { json: { type: 'boolean' } },
  args: [1, 1],
  async run(ctx) {
    const result = await withCredentials(ctx, (credentials) => recoverRepository(repositoryPath(ctx.positionals[0]), credentials, ctx.signal, s3Connection(ctx.values)));
    if (ctx.values.json) { ctx.out(JSON.stringify(result, null, 2)); return; }
    if (result.movedAside) ctx.err(`the old database was moved to ${basename(result.movedAside)}`);
    if (result.configFileRestored) ctx.err('blockvault.json was written again from the settings in the store');
    ctx.out(`recovered ${result.versions.length} version(s) into ${result.path}${result.invalid.length ? `; ${result.invalid.length} reference objects missing from the store and are invalid: ${result.invalid.join(', ')}` : ''}`);
    for (const damaged of result.damagedManifests) ctx.err(`warning: ${damaged.key} skipped: ${damaged.reason}`);
    ctx.err(`note: ${result.lost}. Run "blockvault scrub --all --deep" to check the data.`);
    return result.damagedManifests.length ? 1 : 0;
  },
};

/** The body of `restore UID TARGET --without-database`. */
export async function restoreWithoutDatabaseCommand(ctx: CommandContext, target: string, force: boolean): Promise<void> {
  const path = option(ctx, 'repo') ?? process.env.BLOCKVAULT_REPO;
  if (!path) throw new EngineError('INVALID_ARGUMENT', 'no repository: pass --repo PATH or set BLOCKVAULT_REPO');
  const result = await withCredentials(ctx, (credentials) => restoreWithoutDatabase(repositoryPath(path), ctx.positionals[0], target, { credentials, force, signal: ctx.signal, s3: s3Connection(ctx.values) }));
  if (ctx.values.json) ctx.out(JSON.stringify(result, null, 2));
  else ctx.out(`restored ${result.uid} to ${result.target} from its manifest: ${humanBytes(result.bytes)}, ${result.blocksVerified} blocks verified, ${result.blocksSparse} sparse, in ${humanDuration(result.durationMs / 1000)}`);
}

// S3 options of the command line (global: they apply to every s3:// repository a command
// names): --endpoint URL, --region R, --path-style, --s3-credentials FILE, --s3-profile NAME.
// What they leave open comes from the environment (see engine/store/location.ts).
import { resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { S3ConnectionArgs } from '../../src-shared/api/contract';

export const S3_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'path-style': { type: 'boolean' },
  's3-credentials': { type: 'string' },
  's3-profile': { type: 'string' },
};

/** Options of S3_OPTIONS that take a value (the command finder skips their values). */
export const S3_VALUE_OPTIONS = ['--endpoint', '--region', '--s3-credentials', '--s3-profile'];

export const S3_HELP = '--endpoint URL, --region R, --path-style, --s3-credentials FILE, --s3-profile NAME (for s3:// repositories)';

/** A repository as the contract wants it: s3:// as given, a folder path made absolute. */
export function repositoryPath(text: string): string {
  return /^s3:\/\//i.test(text) ? text : resolve(text);
}

/** The S3 connection the flags give (undefined when they give nothing). */
export function s3Connection(values: Record<string, unknown>): S3ConnectionArgs | undefined {
  const text = (key: string): string | undefined => (typeof values[key] === 'string' ? (values[key] as string) : undefined);
  const file = text('s3-credentials');
  const connection: S3ConnectionArgs = {
    endpoint: text('endpoint'),
    region: text('region'),
    pathStyle: values['path-style'] === true ? true : undefined,
    credentialsFile: file === undefined ? undefined : resolve(file),
    profile: text('s3-profile'),
  };
  const given = Object.fromEntries(Object.entries(connection).filter(([, v]) => v !== undefined)) as S3ConnectionArgs;
  return Object.keys(given).length ? given : undefined;
}

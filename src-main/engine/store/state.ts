// The local state of repositories whose store is not a folder (S3): their SQLite metadata is a
// cache kept in the user's state folder, one folder per repository id:
//   $XDG_STATE_HOME/blockvault/repositories/<id>/metadata.sqlite   (default ~/.local/state)
//   $XDG_STATE_HOME/blockvault/repositories/<id>/location.json     where the repository is (no secrets)
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../errors';

export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'blockvault');
}

/** The cache folder of a repository, by its id (a UUID). */
export function repositoryStateDir(id: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new EngineError('NOT_A_REPOSITORY', `repository id "${id}" is not a UUID`);
  return join(stateRoot(env), 'repositories', id);
}

/** Creates the cache folder (owner only) and notes the location it belongs to. */
export function prepareStateDir(id: string, location: string): string {
  const dir = repositoryStateDir(id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'location.json'), `${JSON.stringify({ location, seen: new Date().toISOString() })}\n`, { mode: 0o600 });
  return dir;
}

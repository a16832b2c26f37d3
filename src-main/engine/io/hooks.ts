// Hooks around a backup: `--pre CMD` runs before the source is opened (an LVM snapshot,
// fsfreeze, an RBD snapshot) and `--post CMD` after the backup, also when it failed or was
// canceled. A hook is a shell command line; its output goes line by line to the job log;
// a non-zero exit fails the hook (a failed pre hook means no backup).
import { spawn } from 'node:child_process';
import { EngineError } from '../errors';

export async function runHook(what: 'pre' | 'post', command: string, log: (line: string) => void, signal?: AbortSignal): Promise<void> {
  log(`${what} hook: ${command}`);
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], signal: what === 'pre' ? signal : undefined });
  const forward = (stream: NodeJS.ReadableStream) => {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) log(`${what}: ${line}`);
    });
    stream.on('end', () => { if (rest) log(`${what}: ${rest}`); });
  };
  forward(child.stdout!);
  forward(child.stderr!);
  const status = await new Promise<string | null>((resolve) => {
    child.once('error', (error) => resolve((error as NodeJS.ErrnoException).code === 'ABORT_ERR' ? 'canceled' : error.message));
    child.once('close', (code, sig) => resolve(code === 0 ? null : sig ? `signal ${sig}` : `status ${code}`));
  });
  if (status === 'canceled') throw new EngineError('CANCELED', `${what} hook canceled`);
  if (status !== null) throw new EngineError('IO_ERROR', `${what} hook ${JSON.stringify(command)} failed (${status})`);
}

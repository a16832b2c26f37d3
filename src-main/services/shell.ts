// Shell commands of policies: pre/post hooks, notifications and hints commands. Each runs in
// its own process group (a cancel stops its children too: sleep, rsync, ssh ...).
import { spawn } from 'node:child_process';
import { EngineError } from '../engine/errors';

/** Output of a hook command kept in the job log. */
const MAX_OUTPUT = 4000;

/** A hints command's stdout is a JSON list of extents; more than this is refused. */
const MAX_HINTS_BYTES = 256 * 1024 * 1024;

interface Outcome { stdout: string; stderr: string }

function shell(command: string, env: Record<string, string>, input: string, signal: AbortSignal | undefined, stdoutLimit: number, strict: boolean): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new EngineError('CANCELED', `command canceled: ${command}`));
      return;
    }
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stop = (): void => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    signal?.addEventListener('abort', stop, { once: true });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let overflow = false;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes <= stdoutLimit) stdout.push(chunk);
      else overflow = true;
    });
    child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < MAX_OUTPUT) stderr += chunk.toString('utf8'); });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('error', (error) => {
      signal?.removeEventListener('abort', stop);
      reject(error);
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', stop);
      const out = Buffer.concat(stdout).toString('utf8');
      const said = (stderr.trim() || out.trim()).slice(0, 500);
      if (signal?.aborted) reject(new EngineError('CANCELED', `command canceled: ${command}`));
      else if (code !== 0) reject(new EngineError('INTERNAL', `command "${command}" ${killedBy ? `was killed by ${killedBy}` : `exited with ${code}`}${said ? `: ${said}` : ''}`));
      else if (overflow && strict) reject(new EngineError('INVALID_ARGUMENT', `command "${command}" printed more than ${stdoutLimit} bytes`));
      else resolve({ stdout: out, stderr });
    });
  });
}

/**
 * Runs a shell command (a pre/post hook or a notification) with `input` on stdin; resolves
 * with its output (stdout, then stderr, cut short), rejects when it exits non-zero or
 * `signal` fires.
 */
export async function runCommand(command: string, env: Record<string, string>, input: string, signal?: AbortSignal): Promise<string> {
  const { stdout, stderr } = await shell(command, env, input, signal, MAX_OUTPUT, false);
  return `${stdout}${stderr}`.slice(0, MAX_OUTPUT).trim();
}

/** Runs a command for what it prints: all of stdout (up to 256 MiB) and stderr (cut short). */
export function commandOutput(command: string, env: Record<string, string>, signal?: AbortSignal): Promise<Outcome> {
  return shell(command, env, '', signal, MAX_HINTS_BYTES, true);
}

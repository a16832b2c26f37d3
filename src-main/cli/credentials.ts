// Passphrases and key files for encrypted repositories. Sources, in order: --key-file,
// --passphrase-file, the environment (BLOCKVAULT_PASSPHRASE; BLOCKVAULT_NEW_PASSPHRASE for a
// new one), then a prompt without echo on a terminal. A passphrase is never logged or stored.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EngineError } from '../services';

/** What the contract takes: a passphrase, or the absolute path of a key file. */
export interface Credentials {
  passphrase?: string;
  keyFile?: string;
}

function readSecretFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new EngineError('NOT_FOUND', `cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** A passphrase file holds the passphrase on its first line. */
export function readPassphraseFile(path: string): string {
  return readSecretFile(path, 'passphrase file').toString('utf8').split(/\r?\n/)[0];
}

/** Reads a line from the terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return Promise.reject(new EngineError('WRONG_KEY', 'a passphrase is needed but there is no terminal to ask: set BLOCKVAULT_PASSPHRASE or use --passphrase-file'));
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    let text = '';
    const done = (error: Error | null): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done(null);
        if (char === '\u0003') return done(new EngineError('CANCELED', 'canceled at the passphrase prompt'));
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else text += char;
      }
    };
    input.on('data', onData);
  });
}

export interface CredentialOptions {
  keyFile?: string;
  passphraseFile?: string;
}

/** Credentials to open an existing encrypted repository. */
export async function openCredentials(options: CredentialOptions): Promise<Credentials> {
  if (options.keyFile) return { keyFile: resolve(options.keyFile) };
  if (options.passphraseFile) return { passphrase: readPassphraseFile(options.passphraseFile) };
  const env = process.env.BLOCKVAULT_PASSPHRASE;
  if (env !== undefined) return { passphrase: env };
  return { passphrase: await promptHidden('Repository passphrase: ') };
}

/** Credentials for a new key: asked twice on a terminal. */
export async function newCredentials(options: { keyFile?: string; passphraseFile?: string; env: string }): Promise<Credentials> {
  if (options.keyFile) return { keyFile: resolve(options.keyFile) };
  if (options.passphraseFile) return { passphrase: readPassphraseFile(options.passphraseFile) };
  const env = process.env[options.env];
  if (env !== undefined) return { passphrase: env };
  const first = await promptHidden('New passphrase: ');
  const second = await promptHidden('Repeat the new passphrase: ');
  if (first !== second) throw new EngineError('INVALID_ARGUMENT', 'the passphrases differ');
  return { passphrase: first };
}

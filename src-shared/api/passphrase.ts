// Passphrases of encrypted repositories: the minimum length every shell enforces and a rough
// strength estimate for hints (the GUI's create form, the CLI). Pure: the engine re-exports
// both, so the renderer and the engine judge a passphrase the same way.

export const MIN_PASSPHRASE_LENGTH = 8;

/** Longest passphrase any boundary accepts (a bound, not a recommendation). */
export const MAX_PASSPHRASE_LENGTH = 1024;

export type PassphraseVerdict = 'weak' | 'fair' | 'strong';

/** A rough strength estimate for a passphrase, for hints in the GUI and CLI. */
export function passphraseStrength(passphrase: string): { bits: number; verdict: PassphraseVerdict } {
  let pool = 0;
  if (/[a-z]/.test(passphrase)) pool += 26;
  if (/[A-Z]/.test(passphrase)) pool += 26;
  if (/[0-9]/.test(passphrase)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(passphrase)) pool += 33;
  const unique = new Set(passphrase).size;
  const bits = Math.round(Math.min(passphrase.length, unique * 2) * Math.log2(Math.max(pool, 2)));
  return { bits, verdict: bits < 50 ? 'weak' : bits < 80 ? 'fair' : 'strong' };
}

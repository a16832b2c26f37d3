// Keys of an encrypted repository. The *master key* (32 random bytes) never leaves memory
// unwrapped; each *key slot* in blockvault.json holds it wrapped (AES-256-GCM) under a key
// derived from a passphrase (scrypt) or from a key file (HKDF-SHA256). Adding, removing or
// re-wrapping a slot never touches data. *Subkeys* derived from the master key encrypt
// objects, name them (HMAC-SHA256, so the store does not reveal plaintext digests) and
// encrypt metadata exports.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { EngineError } from '../errors';
import { MIN_PASSPHRASE_LENGTH } from '../../../src-shared/api/passphrase';
import { KEY_WRAP_AAD, SCRYPT_DEFAULTS } from '../format';

/** Shared with the renderer: the same minimum and strength estimate everywhere. */
export { MIN_PASSPHRASE_LENGTH, passphraseStrength } from '../../../src-shared/api/passphrase';

export interface ScryptParameters { algorithm: 'scrypt'; N: number; r: number; p: number; salt: string }
export interface HkdfParameters { algorithm: 'hkdf-sha256'; salt: string }

export interface KeySlot {
  id: string;
  kind: 'passphrase' | 'keyfile';
  created: string;
  kdf: ScryptParameters | HkdfParameters;
  /** base64: 12-byte nonce */
  nonce: string;
  /** base64: wrapped master key followed by the 16-byte GCM tag */
  wrapped: string;
}

export interface Credentials {
  passphrase?: string;
  /** contents of a key file */
  keyFile?: Buffer;
}

export interface SubKeys {
  /** AES-256-GCM key for objects */
  data: Buffer;
  /** HMAC-SHA256 key that names objects */
  name: Buffer;
  /** AES-256-GCM key for metadata exports */
  meta: Buffer;
}

export const MIN_KEY_FILE_BYTES = 32;

function deriveKek(slot: Pick<KeySlot, 'kind' | 'kdf'>, credentials: Credentials): Buffer | null {
  const salt = Buffer.from(slot.kdf.salt, 'base64');
  if (slot.kind === 'passphrase') {
    if (credentials.passphrase === undefined || slot.kdf.algorithm !== 'scrypt') return null;
    const { N, r, p } = slot.kdf;
    return scryptSync(credentials.passphrase.normalize('NFC'), salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  }
  if (credentials.keyFile === undefined) return null;
  return Buffer.from(hkdfSync('sha256', credentials.keyFile, salt, 'blockvault key file v1', 32));
}

function checkCredentials(credentials: Credentials): void {
  if (credentials.passphrase !== undefined && credentials.passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new EngineError('INVALID_ARGUMENT', `a passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  if (credentials.keyFile !== undefined && credentials.keyFile.length < MIN_KEY_FILE_BYTES) {
    throw new EngineError('INVALID_ARGUMENT', `a key file needs at least ${MIN_KEY_FILE_BYTES} bytes (generate one with "key add --key-file F --generate")`);
  }
  if (credentials.passphrase === undefined && credentials.keyFile === undefined) {
    throw new EngineError('INVALID_ARGUMENT', 'an encrypted repository needs a passphrase or a key file');
  }
}

/** Wraps the master key into a new slot for one credential (passphrase wins if both given). */
export function wrapMasterKey(master: Buffer, credentials: Credentials, id = randomBytes(4).toString('hex')): KeySlot {
  checkCredentials(credentials);
  const kind: KeySlot['kind'] = credentials.passphrase !== undefined ? 'passphrase' : 'keyfile';
  const salt = randomBytes(16).toString('base64');
  const kdf: KeySlot['kdf'] = kind === 'passphrase' ? { algorithm: 'scrypt', ...SCRYPT_DEFAULTS, salt } : { algorithm: 'hkdf-sha256', salt };
  const kek = deriveKek({ kind, kdf }, kind === 'passphrase' ? { passphrase: credentials.passphrase } : { keyFile: credentials.keyFile })!;
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(`${KEY_WRAP_AAD}:${id}`));
  const wrapped = Buffer.concat([cipher.update(master), cipher.final(), cipher.getAuthTag()]);
  return { id, kind, created: new Date().toISOString(), kdf, nonce: nonce.toString('base64'), wrapped: wrapped.toString('base64') };
}

/** Tries every slot the credentials fit; returns the master key and the slot that opened it. */
export function unwrapMasterKey(slots: readonly KeySlot[], credentials: Credentials): { master: Buffer; slot: KeySlot } {
  if (credentials.passphrase === undefined && credentials.keyFile === undefined) {
    throw new EngineError('WRONG_KEY', 'the repository is encrypted: give its passphrase (BLOCKVAULT_PASSPHRASE, --passphrase-file or the prompt) or a key file (--key-file)');
  }
  for (const slot of slots) {
    const kek = deriveKek(slot, credentials);
    if (!kek) continue;
    const data = Buffer.from(slot.wrapped, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(slot.nonce, 'base64'));
      decipher.setAAD(Buffer.from(`${KEY_WRAP_AAD}:${slot.id}`));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const master = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
      return { master, slot };
    } catch {
      // not this slot
    }
  }
  throw new EngineError('WRONG_KEY', credentials.passphrase !== undefined ? 'wrong passphrase: no key of this repository opens with it' : 'wrong key file: no key of this repository opens with it');
}

export function deriveSubKeys(master: Buffer, repositoryId: string): SubKeys {
  const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', master, Buffer.from(repositoryId), info, 32));
  return { data: derive('blockvault object encryption v1'), name: derive('blockvault object names v1'), meta: derive('blockvault metadata v1') };
}

export function newMasterKey(): Buffer {
  return randomBytes(32);
}

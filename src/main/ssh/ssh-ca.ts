import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { authorizedKeyLine, SshWriter } from './ssh-wire.js';

/**
 * Step 3 of IssueJoinTicket (join-protocol.md §4): the emergency SSH CA, an
 * Ed25519 key whose RFC 8032 seed is the first 32 bytes of the KMS data key
 * `ca_emergency_ssh`. The CA is a deterministic function of the master
 * secret, so the key object is derived once per seed value and cached.
 */

export const SSH_ED25519 = 'ssh-ed25519';
export const ED25519_SEED_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;

export interface SshCa {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** SSH wire form: `string "ssh-ed25519"`, `string <32-byte key>`. */
  readonly publicKeyBlob: Uint8Array;
  /** `ssh-ed25519 <base64 of the blob>\n` (authorized_keys form, no comment). */
  authorizedKeyLine(): string;
  /** Raw 64-byte Ed25519 signature of `data`. */
  sign(data: Uint8Array): Uint8Array;
}

/** PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410 §7) up to the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const CACHE_LIMIT = 4;
/** SHA-256 of the seed → CA. Never holds the seed itself. */
const cache = new Map<string, SshCa>();

class Ed25519SshCa implements SshCa {
  readonly publicKey: Uint8Array;
  readonly publicKeyBlob: Uint8Array;
  private readonly line: string;
  private readonly privateKey: KeyObject;

  constructor(privateKey: KeyObject) {
    this.privateKey = privateKey;
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    this.publicKey = new Uint8Array(spki.subarray(spki.length - 32));
    this.publicKeyBlob = new SshWriter().string(SSH_ED25519).string(this.publicKey).finish();
    this.line = authorizedKeyLine(SSH_ED25519, this.publicKeyBlob);
  }

  authorizedKeyLine(): string {
    return this.line;
  }

  sign(data: Uint8Array): Uint8Array {
    return sign(null, data, this.privateKey);
  }
}

/**
 * The CA for a KMS seed. Only the first 32 bytes are used (Go reads the seed
 * with io.ReadFull from the data); shorter data fails with Go's io.ReadFull
 * texts `EOF` (no bytes) or `unexpected EOF`, to which the ticket logic adds
 * `generating ssh emergency CA key: `.
 */
export function sshCaFromSeed(seed: Uint8Array): SshCa {
  if (seed.length === 0) throw new JoinServiceError(ErrorCode.SshCaSeedInvalid, 'EOF');
  if (seed.length < ED25519_SEED_SIZE) throw new JoinServiceError(ErrorCode.SshCaSeedInvalid, 'unexpected EOF');
  const s = seed.subarray(0, ED25519_SEED_SIZE);
  const id = createHash('sha256').update(s).digest('base64');
  const hit = cache.get(id);
  if (hit) return hit;

  const der = Buffer.alloc(ED25519_PKCS8_PREFIX.length + ED25519_SEED_SIZE);
  ED25519_PKCS8_PREFIX.copy(der);
  der.set(s, ED25519_PKCS8_PREFIX.length);
  let ca: SshCa;
  try {
    ca = new Ed25519SshCa(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  } finally {
    der.fill(0);
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(id, ca);
  return ca;
}

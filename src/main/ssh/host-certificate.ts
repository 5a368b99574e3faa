import { randomFillSync } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import type { SshPublicKey } from './host-public-key.js';
import { ED25519_SIGNATURE_SIZE, SSH_ED25519, type SshCa } from './ssh-ca.js';
import { authorizedKeyLine } from './ssh-wire.js';

/**
 * Step 6 of IssueJoinTicket (join-protocol.md §4): an OpenSSH host certificate
 * (PROTOCOL.certkeys) for the Step 5 host key, signed by the Step 3 CA:
 *
 *   string  certificate type name
 *   string  nonce (32 random bytes)
 *   ...     host key, type-specific part
 *   uint64  serial = 0
 *   uint32  type = 2 (host)
 *   string  key id = principals[0]
 *   string  valid principals (a `string` per principal, in order, duplicates kept)
 *   uint64  valid after = now (Unix seconds)
 *   uint64  valid before = 0xFFFFFFFFFFFFFFFF (forever)
 *   string  critical options = ""
 *   string  extensions = ""
 *   string  reserved = ""
 *   string  signature key = CA public-key blob
 *   string  signature = string "ssh-ed25519", string <64-byte signature>
 *
 * The signature covers everything before the final `signature` field.
 */

export const SSH_CERT_TYPE_HOST = 2;
export const CERT_TIME_INFINITY = 0xffffffffffffffffn;
export const CERT_NONCE_SIZE = 32;

export interface HostCertificateRequest {
  ca: SshCa;
  hostKey: SshPublicKey;
  /** Valid principals, in order; the first is also the key ID. Must not be empty. */
  principals: readonly string[];
  /** Valid after = floor(now / 1 s). */
  now: Date;
  /** 32 bytes; random when omitted (tests pass a fixed nonce). */
  nonce?: Uint8Array;
}

export interface HostCertificate {
  /** The certificate in SSH wire form. */
  blob: Uint8Array;
  /** `<certificate type> <base64 of blob>\n` (authorized_keys form, no comment). */
  line: string;
}

/** string "ssh-ed25519" + string <64 bytes>, as a `string` field: 4 + (4 + 11) + (4 + 64). */
const SIGNATURE_FIELD_SIZE = 4 + 4 + SSH_ED25519.length + 4 + ED25519_SIGNATURE_SIZE;

/**
 * Nonces come from a pool refilled with one randomFillSync call per 128
 * certificates: a randomBytes(32) call alone costs about 2 µs, more than the
 * rest of the encoding.
 */
const NONCE_POOL_SIZE = 128 * CERT_NONCE_SIZE;
const noncePool = Buffer.alloc(NONCE_POOL_SIZE);
let noncePoolOffset = NONCE_POOL_SIZE;

function freshNonce(): Uint8Array {
  if (noncePoolOffset === NONCE_POOL_SIZE) {
    randomFillSync(noncePool);
    noncePoolOffset = 0;
  }
  const n = noncePool.subarray(noncePoolOffset, noncePoolOffset + CERT_NONCE_SIZE);
  noncePoolOffset += CERT_NONCE_SIZE;
  return n;
}

export function signHostCertificate(req: HostCertificateRequest): HostCertificate {
  const { ca, hostKey, principals, now } = req;
  if (principals.length === 0) throw new JoinServiceError(ErrorCode.Internal, 'ssh: host certificate needs at least one principal');
  const nonce = req.nonce ?? freshNonce();
  if (nonce.length !== CERT_NONCE_SIZE) throw new JoinServiceError(ErrorCode.Internal, `ssh: certificate nonce must be ${CERT_NONCE_SIZE} bytes`);
  const ms = now.getTime();
  if (!Number.isFinite(ms)) throw new JoinServiceError(ErrorCode.Internal, 'ssh: invalid certificate time');
  // Go: uint64(time.Now().Unix()); Unix() rounds towards minus infinity.
  const validAfter = BigInt.asUintN(64, BigInt(Math.floor(ms / 1000)));

  const type = hostKey.certificateType;
  const principalBytes = principals.map((p) => Buffer.from(p, 'utf8'));
  const principalsLength = principalBytes.reduce((n, p) => n + 4 + p.length, 0);
  const keyId = principalBytes[0]!;
  const signedLength =
    4 + type.length + // type (ASCII)
    4 + CERT_NONCE_SIZE +
    hostKey.keyData.length +
    8 + // serial
    4 + // type
    4 + keyId.length +
    4 + principalsLength +
    8 + // valid after
    8 + // valid before
    4 + 4 + 4 + // critical options, extensions, reserved
    4 + ca.publicKeyBlob.length;
  const blob = Buffer.alloc(signedLength + SIGNATURE_FIELD_SIZE);

  let pos = blob.writeUInt32BE(type.length, 0);
  pos += blob.write(type, pos, 'latin1');
  pos = blob.writeUInt32BE(CERT_NONCE_SIZE, pos);
  blob.set(nonce, pos);
  pos += CERT_NONCE_SIZE;
  blob.set(hostKey.keyData, pos);
  pos += hostKey.keyData.length;
  pos = blob.writeBigUInt64BE(0n, pos); // serial
  pos = blob.writeUInt32BE(SSH_CERT_TYPE_HOST, pos);
  pos = blob.writeUInt32BE(keyId.length, pos);
  blob.set(keyId, pos);
  pos += keyId.length;
  pos = blob.writeUInt32BE(principalsLength, pos);
  for (const p of principalBytes) {
    pos = blob.writeUInt32BE(p.length, pos);
    blob.set(p, pos);
    pos += p.length;
  }
  pos = blob.writeBigUInt64BE(validAfter, pos);
  pos = blob.writeBigUInt64BE(CERT_TIME_INFINITY, pos);
  pos += 12; // critical options, extensions, reserved: three empty strings (zero lengths, already zero)
  pos = blob.writeUInt32BE(ca.publicKeyBlob.length, pos);
  blob.set(ca.publicKeyBlob, pos);
  pos += ca.publicKeyBlob.length;
  if (pos !== signedLength) throw new JoinServiceError(ErrorCode.Internal, 'ssh: certificate encoding length mismatch');

  const signature = ca.sign(blob.subarray(0, signedLength));
  if (signature.length !== ED25519_SIGNATURE_SIZE) throw new JoinServiceError(ErrorCode.Internal, 'ssh: unexpected CA signature size');
  pos = blob.writeUInt32BE(SIGNATURE_FIELD_SIZE - 4, pos);
  pos = blob.writeUInt32BE(SSH_ED25519.length, pos);
  pos += blob.write(SSH_ED25519, pos, 'latin1');
  pos = blob.writeUInt32BE(ED25519_SIGNATURE_SIZE, pos);
  blob.set(signature, pos);

  return { blob, line: authorizedKeyLine(type, blob) };
}

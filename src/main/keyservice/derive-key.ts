import { hkdfSync } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';

/** The key service adds this prefix to every key ID (join-protocol.md §3.1). */
export const DEK_PREFIX = 'key-';
const MAX_HKDF_SHA256_LENGTH = 255 * 32;

/**
 * HKDF-SHA256(IKM = master secret, salt = master salt, info = "key-" + keyId, L = length),
 * as Constellation's cluster KMS derives data keys. A ~10 µs operation: fine on the main thread.
 */
export function deriveDataKey(masterSecret: Uint8Array, masterSalt: Uint8Array, keyId: string, length: number): Buffer {
  if (length === 0) throw new JoinServiceError(ErrorCode.InvalidArgument, "can't derive key with length zero");
  if (keyId === '') throw new JoinServiceError(ErrorCode.InvalidArgument, 'no data key ID specified');
  if (!Number.isInteger(length) || length < 0 || length > MAX_HKDF_SHA256_LENGTH) {
    throw new JoinServiceError(ErrorCode.Internal, `hkdf: requested key length ${length} too large`);
  }
  return Buffer.from(hkdfSync('sha256', masterSecret, masterSalt, Buffer.from(DEK_PREFIX + keyId, 'utf8'), length));
}

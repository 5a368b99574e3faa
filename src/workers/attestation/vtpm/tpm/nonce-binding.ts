/**
 * Nonce binding (tpm-attestation.md §3):
 *
 *   extraData = SHA-256(UserData ‖ nonce)
 *   tpmNonce  = SHA-256(InstanceInfo ‖ extraData)
 *
 * null/absent UserData and InstanceInfo count as empty; InstanceInfo is hashed
 * as the exact bytes the envelope carried.
 */
import { hash } from 'node:crypto';

export function nonceBinding(
  userData: Uint8Array | null,
  nonce: Uint8Array,
  instanceInfo: Uint8Array | null,
): { extraData: Uint8Array; tpmNonce: Uint8Array } {
  const extraData = hash('sha256', userData && userData.length > 0 ? Buffer.concat([userData, nonce]) : nonce, 'buffer');
  const tpmNonce = hash('sha256', instanceInfo && instanceInfo.length > 0 ? Buffer.concat([instanceInfo, extraData]) : extraData, 'buffer');
  return { extraData, tpmNonce };
}

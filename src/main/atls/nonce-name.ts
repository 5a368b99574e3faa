import { commonNameOnly } from '../../shared/der/encode.js';

/** base64 of a 32-byte nonce: always 44 characters (one `=`). */
export const NONCE_B64_LENGTH = 44;
const PLACEHOLDER = 'A'.repeat(NONCE_B64_LENGTH);

/**
 * The DER `Name` CN=base64(serverNonce) of atls.md §5.2 (57 bytes): the only
 * entry of the CertificateRequest's acceptable-CA list. Built with the same
 * encoder as the nonce certificate's subject (certificate-builder.ts).
 */
export function nonceName(nonce: Uint8Array): Buffer {
  if (nonce.length !== 32) throw new Error(`server nonce must be 32 bytes, got ${nonce.length}`);
  return Buffer.from(commonNameOnly(Buffer.from(nonce).toString('base64')));
}

/**
 * The same Name with a placeholder CN and the offset of its 44 value bytes: the
 * template the native nonce CA fills per ClientHello (native/nonce_ca.c).
 */
export const NONCE_NAME_TEMPLATE: { der: Buffer; cnOffset: number } = (() => {
  const der = Buffer.from(commonNameOnly(PLACEHOLDER));
  const cnOffset = der.length - NONCE_B64_LENGTH;
  if (der.subarray(cnOffset).toString('latin1') !== PLACEHOLDER || der.indexOf(PLACEHOLDER, 0, 'latin1') !== cnOffset) {
    throw new Error('nonce name template: the CN value is not the last 44 bytes');
  }
  return { der, cnOffset };
})();

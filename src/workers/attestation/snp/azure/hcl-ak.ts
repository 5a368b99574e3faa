/**
 * Azure's HCL attestation-key check (sev-snp-attestation.md §3.4,
 * Constellation's `azure.HCLAkValidator.Validate`): the TPM AK of an
 * azure-sev-snp node is trusted because the paravisor (HCL) put its public key
 * into the runtime data whose SHA-256 the SNP report's REPORT_DATA[0:32]
 * carries.
 *
 * Steps and Go's texts (the validator wraps them as `validating HCLAkPub: …`):
 *   1. parse the runtime data (Go encoding/json rules, runtime-data.ts)
 *      → `unmarshalling json: …`;
 *   2. REPORT_DATA shorter than 32 bytes → `reportData has unexpected size: N`;
 *   3. SHA-256(runtime data) ≠ REPORT_DATA[0:32] → `unexpected runtimeData digest in TPM`
 *      (bytes 32–63 are not checked, as in Go);
 *   4. no keys → `did not receive any keys in runtime data`;
 *   5. the key (below); `n` decoded with base64.RawURLEncoding
 *      (`decoding modulus string: illegal base64 data at input byte N`) and
 *      compared byte for byte with the TPM modulus as carried
 *      → `unexpected modulus value in TPM`;
 *   6. `e` decoded the same way (`decoding exponent string: …`), copied into a
 *      zeroed 4-byte buffer and read **little-endian** (goHclExponent: "AQAB"
 *      → 01 00 01 00 → 65537); accepted when (65537 and the TPM exponent
 *      field is 0, the TPM's encoding of the default) or equal to the TPM
 *      field, else `unexpected N value in TPM` (sic, Go's text).
 *
 * Key selection — a deliberate difference from Go, which takes `keys[0]`
 * without looking at the kid: when any key carries a `kid`, the key with kid
 * "HCLAkPub" is the AK (none → `runtime data has no key with kid "HCLAkPub"`);
 * only when no key carries a kid at all is `keys[0]` used, as Go does. The
 * HCL lists the AK first and names it HCLAkPub, so honest data passes both
 * rules; the kid rule additionally refuses runtime data that lists another
 * key (e.g. the EK, "HCLEkPub") first.
 *
 * Another difference: the AK must be an RSA key (`attestation key is not an
 * RSA key`); Go dereferences the missing RSA parameters of an ECC AK and
 * panics.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { findHclKey, goHclExponent, goRawUrlBase64Decode, HCL_AK_KID, parseHclRuntimeData, type HclJwk, type HclRuntimeData } from './runtime-data.js';

/** The TPM AK's RSA parameters as TPMT_PUBLIC carries them (go-tpm's tpm2.RSAParams). */
export interface TpmRsaParameters {
  /** Big-endian modulus as carried in TPM2B (leading zeros kept). */
  modulus: Uint8Array;
  /** The exponent field; 0 means the default 65537. */
  exponentRaw: number;
}

export const DEFAULT_RSA_EXPONENT = 65537;

function reject(message: string, check: string): never {
  throw new JoinServiceError(ErrorCode.AttestationRejected, message, { check });
}

/**
 * The AK entry of the runtime data (see the module comment): the key with
 * kid HCLAkPub when any key has a kid, else keys[0]. Throws with Go's text
 * for an empty key list.
 */
export function selectHclAkKey(data: HclRuntimeData): { key: HclJwk; selectedBy: 'kid' | 'first' } {
  if (data.keys.length < 1) reject('did not receive any keys in runtime data', 'hcl-ak-keys');
  if (data.keys.some((k) => k.kid !== undefined)) {
    const key = findHclKey(data, HCL_AK_KID);
    if (!key) {
      const kids = data.keys.map((k) => (k.kid === undefined ? '<none>' : JSON.stringify(k.kid.slice(0, 32)))).join(', ');
      reject(`runtime data has no key with kid ${JSON.stringify(HCL_AK_KID)} (kids: ${kids})`, 'hcl-ak-kid');
    }
    return { key, selectedBy: 'kid' };
  }
  return { key: data.keys[0]!, selectedBy: 'first' };
}

/**
 * Validates the TPM AK against the runtime data bound by REPORT_DATA.
 * `runtimeData` are the exact bytes of InstanceInfo.Azure.RuntimeData (null:
 * empty); `reportData` the report's 64-byte REPORT_DATA; `ak` the RSA
 * parameters of `ak_pub` (null for a non-RSA AK). Throws
 * JoinServiceError(AttestationRejected / AttestationMalformed) with the texts
 * of the module comment (without `validating HCLAkPub: `).
 */
export function validateHclAk(runtimeData: Uint8Array | null, reportData: Uint8Array, ak: TpmRsaParameters | null): { selectedBy: 'kid' | 'first' } {
  const raw = runtimeData ?? new Uint8Array(0);
  let parsed: HclRuntimeData;
  try {
    parsed = parseHclRuntimeData(raw);
  } catch (err) {
    const e = err instanceof JoinServiceError ? err : new JoinServiceError(ErrorCode.AttestationMalformed, String(err));
    const reason = e.message.replace(/^Azure HCL runtime data: /, '').replace(/^unmarshalling json: /, '');
    throw new JoinServiceError(ErrorCode.AttestationMalformed, `unmarshalling json: ${reason}`, { ...e.details, check: 'hcl-ak-runtime-data' }, { cause: err });
  }

  const sum = createHash('sha256').update(raw).digest();
  if (reportData.length < sum.length) reject(`reportData has unexpected size: ${reportData.length}`, 'hcl-ak-report-data');
  if (!sum.equals(reportData.subarray(0, sum.length))) reject('unexpected runtimeData digest in TPM', 'hcl-ak-digest');

  const { key, selectedBy } = selectHclAkKey(parsed);
  if (ak === null) reject('attestation key is not an RSA key', 'hcl-ak-type');

  const n = goRawUrlBase64Decode(key.n);
  if ('corruptAt' in n) reject(`decoding modulus string: illegal base64 data at input byte ${n.corruptAt}`, 'hcl-ak-modulus');
  if (!Buffer.from(n.bytes).equals(ak.modulus)) reject('unexpected modulus value in TPM', 'hcl-ak-modulus');

  const e = goRawUrlBase64Decode(key.e);
  if ('corruptAt' in e) reject(`decoding exponent string: illegal base64 data at input byte ${e.corruptAt}`, 'hcl-ak-exponent');
  const exponent = goHclExponent(e.bytes);
  if (!((exponent === DEFAULT_RSA_EXPONENT && ak.exponentRaw === 0) || exponent === ak.exponentRaw)) reject('unexpected N value in TPM', 'hcl-ak-exponent');
  return { selectedBy };
}

/**
 * One whole aTLS client-certificate verification (atls.md §6), run in a
 * verification worker: structural certificate checks, then the configured
 * variant's attestation document (the first extension with its OID) checked
 * against the server nonce, then user data = SHA-256(SPKI).
 *
 * Never throws: every failure becomes `{ ok: false, error }` with a typed
 * ErrorCode; unexpected exceptions become ErrorCode.Internal with a message
 * that reveals nothing of the input.
 */
import { timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCode, JoinServiceError, type SerializedError } from '../shared/errors.js';
import { isVariantName, variantOid } from '../shared/variants.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyResult, type VerifyTask, type VerifyTimings } from '../shared/worker-protocol.js';
import { ValidatorCache } from './attestation/validator-cache.js';
import { checkCertificate } from './certificate/check-certificate.js';
import type { ParsedCertificate } from './certificate/parse-certificate.js';

const validators = new ValidatorCache();

type Step = 'task' | 'validator' | 'certificate' | 'attestation';

export async function verifyCertificate(task: VerifyTask): Promise<VerifyResult> {
  const timings: VerifyTimings = { certificateUs: 0, attestationUs: 0 };
  let step: Step = 'task';
  try {
    checkTask(task);

    step = 'validator';
    let t0 = performance.now();
    const validator = await validators.get(task.variant, task.config);
    timings.attestationUs += elapsedUs(t0);

    step = 'certificate';
    t0 = performance.now();
    const { certificate, spkiHash } = checkCertificate(task.certificate, task.nowMs);
    timings.certificateUs = elapsedUs(t0);

    step = 'attestation';
    t0 = performance.now();
    const document = findAttestationDocument(certificate, variantOid(task.variant));
    const outcome = await validator.validate(document, task.nonce);
    if (!bytesEqual(outcome.userData, spkiHash)) {
      throw new JoinServiceError(ErrorCode.AttestationUserDataMismatch, 'certificate hash does not match user data', {
        expectedUserDataHex: hex(spkiHash),
        actualUserDataHex: hex(outcome.userData),
      });
    }
    timings.attestationUs += elapsedUs(t0);
    return {
      v: VERIFY_PROTOCOL_VERSION,
      ok: true,
      peer: { variant: task.variant, userDataHex: hex(outcome.userData), measurements: outcome.measurements, warnings: outcome.warnings },
      timings,
    };
  } catch (err) {
    return { v: VERIFY_PROTOCOL_VERSION, ok: false, error: serialize(err, step), timings };
  }
}

function checkTask(task: VerifyTask): void {
  const t = task as Partial<Record<keyof VerifyTask, unknown>> | null;
  const protocolError = (what: string): JoinServiceError => new JoinServiceError(ErrorCode.PoolProtocol, `invalid verification task: ${what}`);
  if (typeof t !== 'object' || t === null) throw protocolError('not an object');
  if (t.v !== VERIFY_PROTOCOL_VERSION) {
    throw new JoinServiceError(ErrorCode.PoolProtocol, `verification task has protocol version ${String(t.v)}, worker speaks ${VERIFY_PROTOCOL_VERSION}`);
  }
  if (t.kind !== 'verify-certificate') throw protocolError(`unknown kind ${JSON.stringify(t.kind)}`);
  if (!(t.certificate instanceof Uint8Array)) throw protocolError('certificate is not bytes');
  if (!(t.nonce instanceof Uint8Array)) throw protocolError('nonce is not bytes');
  if (typeof t.variant !== 'string' || !isVariantName(t.variant)) throw protocolError(`unknown variant ${JSON.stringify(t.variant)}`);
  const config = t.config as { generation?: unknown; text?: unknown } | null | undefined;
  if (typeof config !== 'object' || config === null || !Number.isSafeInteger(config.generation) || typeof config.text !== 'string') {
    throw protocolError('config must be { generation: integer, text: string }');
  }
  if (typeof t.nowMs !== 'number' || !Number.isFinite(t.nowMs)) throw protocolError('nowMs is not a finite number');
}

/** atls.md §6.2 step 5/6: the first extension with the variant's OID, in certificate order. */
function findAttestationDocument(cert: ParsedCertificate, oid: string): Uint8Array {
  const ext = cert.extensions.find((e) => e.oid === oid);
  if (ext) return ext.value;
  const oids = cert.extensions.map((e) => e.oid);
  throw new JoinServiceError(
    ErrorCode.AttestationMissing,
    `certificate does not contain compatible attestation documents: got extension OIDs ${goStringSliceGoSyntax(oids)}`,
    { expectedOid: oid, extensionOids: oids },
  );
}

/** Go's %#v of a []string of dotted OIDs (no characters that need escaping). */
export function goStringSliceGoSyntax(items: readonly string[]): string {
  if (items.length === 0) return '[]string(nil)';
  return `[]string{${items.map((s) => `"${s}"`).join(', ')}}`;
}

function serialize(err: unknown, step: Step): SerializedError {
  if (err instanceof JoinServiceError) return err.toJSON();
  const name = err instanceof Error ? err.name : typeof err;
  return { code: ErrorCode.Internal, message: `internal error during ${step} verification`, details: { errorName: name } };
}

function elapsedUs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

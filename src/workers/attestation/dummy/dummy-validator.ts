/**
 * The `dummy` variant: Go's atls.FakeValidator (atls.md §9.1). It provides no
 * security — the document just states user data and nonce — and exists for
 * tests. The attestation config's measurements are ignored.
 */
import { timingSafeEqual } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../shared/errors.js';
import { checkGoJson } from '../../../shared/go-json/go-json.js';
import type { AttestationValidator, ValidationOutcome, ValidatorFactory } from '../validator.js';
import { decodeFakeAttestationDoc } from './fake-attestation-doc.js';

export const createDummyValidator: ValidatorFactory = (configText) => {
  requireJsonObject(configText);
  return new DummyValidator();
};

class DummyValidator implements AttestationValidator {
  readonly variant = 'dummy' as const;

  async validate(document: Uint8Array, nonce: Uint8Array): Promise<ValidationOutcome> {
    const doc = decodeFakeAttestationDoc(document);
    if (!bytesEqual(doc.nonce, nonce)) {
      // Go's text, labels swapped as in FakeValidator: "expected" is the document's nonce.
      throw new JoinServiceError(
        ErrorCode.AttestationNonceMismatch,
        `invalid nonce: expected ${hex(doc.nonce)}, got ${hex(nonce)}`,
        { variant: 'dummy' },
      );
    }
    return { userData: doc.userData, measurements: {}, warnings: [] };
  }
}

/** The dummy config carries only measurements, which are ignored; it must still be one JSON object. */
function requireJsonObject(configText: string): void {
  const bytes = Buffer.from(configText, 'utf8');
  try {
    checkGoJson(bytes);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config for variant "dummy" is not valid JSON: ${(err as Error).message}`);
  }
  const first = bytes.find((c) => c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d);
  if (first !== 0x7b) throw new JoinServiceError(ErrorCode.ConfigInvalid, 'attestation config for variant "dummy" must be a JSON object');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && (a.length === 0 || timingSafeEqual(a, b));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

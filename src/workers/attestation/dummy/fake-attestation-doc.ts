/**
 * Go's atls.FakeAttestationDoc (internal/atls/atls.go) and its decoding with
 * json.Unmarshal: `{"UserData": <[]byte>, "Nonce": <[]byte>}` (atls.md §9.1).
 */
import { ErrorCode, JoinServiceError } from '../../../shared/errors.js';
import { parseGoJson } from '../../../shared/go-json/go-json.js';
import { byteSliceBytes, goBytesField, unmarshalGoStruct } from '../../../shared/go-json/go-json-decode.js';

export interface FakeAttestationDoc {
  userData: Uint8Array;
  nonce: Uint8Array;
}

const SPEC = {
  goType: 'atls.FakeAttestationDoc',
  structName: 'FakeAttestationDoc',
  fields: { UserData: goBytesField, Nonce: goBytesField },
};

/** Decodes the document; any Go decode error becomes AttestationMalformed with Go's text. */
export function decodeFakeAttestationDoc(document: Uint8Array): FakeAttestationDoc {
  try {
    const doc = unmarshalGoStruct(parseGoJson(document), SPEC);
    return { userData: byteSliceBytes(doc.UserData), nonce: byteSliceBytes(doc.Nonce) };
  } catch (err) {
    if (err instanceof JoinServiceError) throw err;
    throw new JoinServiceError(ErrorCode.AttestationMalformed, (err as Error).message, { variant: 'dummy' });
  }
}

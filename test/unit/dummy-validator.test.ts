import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { createDummyValidator } from '../../src/workers/attestation/dummy/dummy-validator.js';
import { decodeFakeAttestationDoc } from '../../src/workers/attestation/dummy/fake-attestation-doc.js';
import { fakeDocument, NONCE, prng } from './support/test-certificates.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const doc = (s: string) => Buffer.from(s, 'utf8');
const validator = createDummyValidator('{}');

async function rejection(document: Uint8Array, nonce: Uint8Array = NONCE): Promise<JoinServiceError> {
  try {
    await validator.validate(document, nonce);
  } catch (err) {
    assert.ok(err instanceof JoinServiceError);
    return err;
  }
  assert.fail('validation passed');
}

describe('dummy validator (Go atls.FakeValidator)', () => {
  it('decodes the spec example document', () => {
    const d = decodeFakeAttestationDoc(doc('{"UserData":"AQID","Nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}'));
    assert.equal(hex(d.userData), '010203');
    assert.equal(hex(d.nonce), hex(NONCE));
  });

  it('returns the user data when the nonce matches', async () => {
    const out = await validator.validate(fakeDocument(Uint8Array.of(9, 8, 7), NONCE), NONCE);
    assert.equal(hex(out.userData), '090807');
    assert.deepEqual(out.measurements, {});
    assert.deepEqual(out.warnings, []);
  });

  it('rejects a wrong nonce with Go’s (label-swapped) message', async () => {
    const other = Uint8Array.from({ length: 32 }, () => 0xab);
    const err = await rejection(fakeDocument(Uint8Array.of(1), other));
    assert.equal(err.code, ErrorCode.AttestationNonceMismatch);
    assert.equal(err.message, `invalid nonce: expected ${'ab'.repeat(32)}, got ${hex(NONCE)}`);
  });

  it('treats a missing or null nonce as empty', async () => {
    assert.equal((await rejection(doc('{"UserData":"AQ=="}'))).message, `invalid nonce: expected , got ${hex(NONCE)}`);
    assert.equal((await rejection(doc('null'))).message, `invalid nonce: expected , got ${hex(NONCE)}`);
    const out = await validator.validate(doc('{"UserData":"AQ==","Nonce":null}'), new Uint8Array(0));
    assert.equal(hex(out.userData), '01');
    const none = await validator.validate(doc('null'), new Uint8Array(0));
    assert.equal(none.userData.length, 0);
  });

  it('matches keys case-insensitively and ignores unknown keys', async () => {
    const b64 = Buffer.from(NONCE).toString('base64');
    const out = await validator.validate(doc(`{"extra":[1,{"a":null}],"userdata":"AQID","NONCE":"${b64}"}`), NONCE);
    assert.equal(hex(out.userData), '010203');
  });

  it('rejects malformed documents with Go’s decode errors', async () => {
    const cases: [string, string][] = [
      ['garbage', "invalid character 'g' looking for beginning of value"],
      ['', 'unexpected end of JSON input'],
      ['{"UserData":"AQID"', 'unexpected end of JSON input'],
      ['[1,2]', 'json: cannot unmarshal array into Go value of type atls.FakeAttestationDoc'],
      ['"AQID"', 'json: cannot unmarshal string into Go value of type atls.FakeAttestationDoc'],
      ['{"Nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}', 'illegal base64 data at input byte 40'],
      ['{"UserData":"AQI"}', 'illegal base64 data at input byte 0'],
      ['{"UserData":"AQ-D"}', 'illegal base64 data at input byte 2'],
      ['{"UserData":12}', 'json: cannot unmarshal number into Go struct field FakeAttestationDoc.UserData of type []uint8'],
    ];
    for (const [input, message] of cases) {
      const err = await rejection(doc(input));
      assert.equal(err.code, ErrorCode.AttestationMalformed, input);
      assert.equal(err.message, message, input);
    }
  });

  it('accepts what Go’s non-strict base64 accepts', async () => {
    const out = await validator.validate(doc('{"UserData":"AQJ=","Nonce":""}'), new Uint8Array(0));
    assert.equal(hex(out.userData), '0102');
    const wrapped = await validator.validate(doc('{"UserData":"AQ\\r\\nID","Nonce":""}'), new Uint8Array(0));
    assert.equal(hex(wrapped.userData), '010203');
  });
});

describe('dummy validator on hostile input', () => {
  it('fails closed with a typed error on random and mutated documents', async () => {
    const rnd = prng(99);
    const good = fakeDocument(Uint8Array.of(1, 2, 3), NONCE);
    const alphabet = Buffer.from('{}[]",:0123456789.eE+-tfnrulsa\\/AQ= \n');
    const inputs: Uint8Array[] = [];
    for (let i = 0; i < 1500; i++) {
      const m = Uint8Array.from(good);
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      inputs.push(m, good.subarray(0, Math.floor(rnd() * good.length)));
      inputs.push(Uint8Array.from({ length: Math.floor(rnd() * 40) }, () => alphabet[Math.floor(rnd() * alphabet.length)]!));
    }
    inputs.push(Buffer.from('['.repeat(20000)), Buffer.from('{"Nonce":' + '['.repeat(9990) + ']'.repeat(9990) + '}'));
    for (const input of inputs) {
      try {
        await validator.validate(input, NONCE);
      } catch (err) {
        assert.ok(err instanceof JoinServiceError, `unexpected ${String(err)}`);
        assert.ok([ErrorCode.AttestationMalformed, ErrorCode.AttestationNonceMismatch].includes(err.code as never), err.code);
      }
    }
  });
});

describe('dummy validator config', () => {
  it('accepts any JSON object and ignores measurements', () => {
    createDummyValidator('{}');
    createDummyValidator(' {"measurements":{"4":{"expected":"00","warnOnly":true}}} ');
  });

  it('rejects a config that is not a JSON object', () => {
    for (const text of ['', 'null', '[]', '"x"', '{', '{"a":1}x']) {
      assert.throws(
        () => createDummyValidator(text),
        (err: unknown) => err instanceof JoinServiceError && err.code === ErrorCode.ConfigInvalid,
        JSON.stringify(text),
      );
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { ServerIdentity } from '../../src/main/atls/server-identity.js';
import { readElement, readSingle, Tag, children } from '../../src/shared/der/decode.js';

// atls.md §5.2: the DN for nonce bytes 00..1f, byte for byte.
const SPEC_DN_HEX =
  '3037313530330603550403132c41414543417751464267634943516f4c4441304f4478415245684d554652595847426b61477877644868383d';

test('the nonce certificate carries CN=base64(nonce) as subject, exactly the DN Go clients decode', () => {
  const id = new ServerIdentity();
  const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
  const der = id.nonceCertificate(nonce);
  const cert = readSingle(der, Tag.Sequence);
  const tbs = readElement(der, cert.contentStart, cert.end);
  const fields = children(tbs);
  // [0] version, serial, sigAlg, issuer, validity, subject, spki
  const subject = fields[5]!;
  assert.equal(Buffer.from(der.subarray(subject.start, subject.end)).toString('hex'), SPEC_DN_HEX);
  const x = new X509Certificate(Buffer.from(der));
  assert.equal(BigInt('0x' + x.serialNumber), 0n);
  assert.ok(x.verify(x.publicKey), 'signed by the server key');
});

test('every nonce gets its own certificate; wrong nonce sizes are refused', () => {
  const id = new ServerIdentity();
  const a = new X509Certificate(Buffer.from(id.nonceCertificate(new Uint8Array(32).fill(1))));
  const b = new X509Certificate(Buffer.from(id.nonceCertificate(new Uint8Array(32).fill(2))));
  assert.notEqual(a.subject, b.subject);
  assert.throws(() => id.nonceCertificate(new Uint8Array(16)), /32 bytes/);
});

test('the server certificate is an aTLS certificate without extensions', () => {
  const id = new ServerIdentity();
  const x = new X509Certificate(id.defaultCredentials().cert);
  assert.equal(x.subject, 'CN=Constellation');
  assert.equal(x.issuer, 'CN=Constellation');
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(x.infoAccess, undefined);
  const validFor = Date.parse(x.validTo) - Date.parse(x.validFrom);
  assert.equal(validFor, 4 * 60 * 60 * 1000);
});

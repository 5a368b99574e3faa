import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import * as der from '../../src/shared/der/encode.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { checkCertificate, MAX_CERTIFICATE_BYTES } from '../../src/workers/certificate/check-certificate.js';
import { parseCertificate } from '../../src/workers/certificate/parse-certificate.js';
import { buildCertificate, HOUR_MS, NOW_MS, prng, sigAlg, testKey, type TestCertificateOptions } from './support/test-certificates.js';

function rejects(der: Uint8Array, code: string, message?: string | RegExp, nowMs = NOW_MS): JoinServiceError {
  let caught: unknown;
  try {
    checkCertificate(der, nowMs);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JoinServiceError, `expected a JoinServiceError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message) assert.match(caught.message, message);
  return caught;
}

function accepts(o: TestCertificateOptions = {}, nowMs = NOW_MS): ReturnType<typeof checkCertificate> {
  return checkCertificate(buildCertificate(o), nowMs);
}

const ext = (oid: string, value: Uint8Array, critical = false) => ({ oid, value, critical });
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ekuValue = (...oids: string[]) => der.sequence(...oids.map((o) => der.oid(o)));

describe('checkCertificate: a good aTLS certificate', () => {
  it('accepts a Go-shaped P-256 certificate and hashes its SPKI', () => {
    const key = testKey('p256');
    const { certificate, spkiHash } = accepts({ key });
    assert.deepEqual(Buffer.from(spkiHash), createHash('sha256').update(key.spki).digest());
    assert.equal(certificate.version, 3);
    assert.equal(certificate.publicKey.curve, 'P-256');
    assert.deepEqual(certificate.extensions, []);
  });

  it('accepts RSA PKCS#1 v1.5, RSA-PSS, Ed25519 and P-384 certificates', () => {
    accepts({ key: testKey('rsa') });
    accepts({ key: testKey('rsa'), sig: sigAlg.rsaPkcs1('sha512') });
    accepts({ key: testKey('rsa'), sig: sigAlg.rsaPss('sha256') });
    accepts({ key: testKey('rsa'), sig: sigAlg.rsaPss('sha384') });
    accepts({ key: testKey('ed25519') });
    accepts({ key: testKey('p384') });
    accepts({ key: testKey('p256'), sig: sigAlg.ecdsa('sha512') });
  });

  it('keeps extensions in certificate order', () => {
    const { certificate } = accepts({ extensions: [ext('1.2.3.4', hex('01')), ext('1.3.9900.1.1', hex('7b7d'))] });
    assert.deepEqual(
      certificate.extensions.map((e) => e.oid),
      ['1.2.3.4', '1.3.9900.1.1'],
    );
  });
});

describe('checkCertificate: validity window (x509.Verify)', () => {
  const notBefore = NOW_MS - HOUR_MS;
  const notAfter = NOW_MS + HOUR_MS;
  const cert = buildCertificate({ notBefore, notAfter });

  it('accepts both boundary instants (inclusive)', () => {
    checkCertificate(cert, notBefore);
    checkCertificate(cert, notAfter);
  });

  it('rejects an expired certificate with Go’s message', () => {
    rejects(
      cert,
      ErrorCode.CertValidity,
      'x509: certificate has expired or is not yet valid: current time 2025-06-01T13:00:01Z is after 2025-06-01T13:00:00Z',
      notAfter + 1000,
    );
    rejects(cert, ErrorCode.CertValidity, /is after/, notAfter + 1);
  });

  it('rejects a certificate that is not yet valid', () => {
    rejects(
      cert,
      ErrorCode.CertValidity,
      'x509: certificate has expired or is not yet valid: current time 2025-06-01T10:59:59Z is before 2025-06-01T11:00:00Z',
      notBefore - 1000,
    );
  });

  it('parses GeneralizedTime, zone offsets and minute-precision UTCTime like Go', () => {
    const gt = (s: string) => der.tlv(0x18, Buffer.from(s, 'latin1'));
    const ut = (s: string) => der.tlv(0x17, Buffer.from(s, 'latin1'));
    const c1 = parseCertificate(buildCertificate({ validity: der.sequence(gt('20250601100000Z'), gt('20501231235959Z')) }));
    assert.equal(c1.notBefore.ms, Date.UTC(2025, 5, 1, 10));
    assert.equal(c1.notAfter.ms, Date.UTC(2050, 11, 31, 23, 59, 59));
    const c2 = parseCertificate(buildCertificate({ validity: der.sequence(ut('250601120000+0200'), ut('2506011300Z')) }));
    assert.equal(c2.notBefore.ms, Date.UTC(2025, 5, 1, 10));
    assert.equal(c2.notAfter.ms, Date.UTC(2025, 5, 1, 13));
    const c3 = parseCertificate(buildCertificate({ validity: der.sequence(ut('500101000000Z'), ut('491231235959Z')) }));
    assert.equal(c3.notBefore.ms, Date.UTC(1950, 0, 1));
    assert.equal(c3.notAfter.ms, Date.UTC(2049, 11, 31, 23, 59, 59));
    rejects(
      buildCertificate({ validity: der.sequence(ut('250601120000+0200'), ut('250601130000Z')) }),
      ErrorCode.CertValidity,
      'x509: certificate has expired or is not yet valid: current time 2025-06-01T09:00:00Z is before 2025-06-01T12:00:00+02:00',
      Date.UTC(2025, 5, 1, 9),
    );
  });

  it('rejects time encodings Go rejects', () => {
    const ut = (s: string) => der.tlv(0x17, Buffer.from(s, 'latin1'));
    const gt = (s: string) => der.tlv(0x18, Buffer.from(s, 'latin1'));
    const good = ut('250601130000Z');
    for (const bad of [ut('250601120000+0000'), ut('250230120000Z'), ut('250601240000Z'), ut('25060112000Z'), ut('250601120000')]) {
      rejects(buildCertificate({ validity: der.sequence(bad, good) }), ErrorCode.CertParse, 'x509: malformed UTCTime');
    }
    for (const bad of [gt('20250601120000.5Z'), gt('202506011200Z'), gt('20240230120000Z')]) {
      rejects(buildCertificate({ validity: der.sequence(bad, good) }), ErrorCode.CertParse, 'x509: malformed GeneralizedTime');
    }
    rejects(buildCertificate({ validity: der.sequence(der.integer(1), good) }), ErrorCode.CertParse, 'x509: unsupported time format');
    // A leap day is fine.
    parseCertificate(buildCertificate({ validity: der.sequence(ut('240229120000Z'), good) }));
  });
});

describe('checkCertificate: critical extensions (x509.Verify)', () => {
  it('rejects an unknown critical extension', () => {
    const e = rejects(buildCertificate({ extensions: [ext('1.2.3.4', hex('0500'), true)] }), ErrorCode.CertCriticalExtension, 'x509: unhandled critical extension');
    assert.deepEqual(e.details, { extensionOids: ['1.2.3.4'] });
  });

  it('rejects a critical attestation extension (Go does not handle it)', () => {
    rejects(buildCertificate({ extensions: [ext('1.3.9900.1.1', hex('7b7d'), true)] }), ErrorCode.CertCriticalExtension);
  });

  it('ignores unknown non-critical extensions', () => {
    accepts({ extensions: [ext('1.2.3.4', hex('ffff'))] });
  });

  it('accepts critical extensions Go handles', () => {
    accepts({
      extensions: [
        ext('2.5.29.15', hex('03020780'), true), // keyUsage digitalSignature
        ext('2.5.29.19', hex('3000'), true), // basicConstraints CA=false
        ext('2.5.29.37', ekuValue(SERVER_AUTH), true),
        ext('2.5.29.17', der.sequence(der.tlv(0x82, Buffer.from('node.example'))), true), // SAN dNSName
        ext('2.5.29.32', der.sequence(der.sequence(der.oid('2.5.29.32.0'))), true), // anyPolicy
        ext('2.5.29.36', der.sequence(der.tlv(0x80, Uint8Array.of(0))), true), // policyConstraints
        ext('2.5.29.54', der.integer(0), true), // inhibitAnyPolicy
        ext('2.5.29.33', der.sequence(der.sequence(der.oid('1.2.3'), der.oid('1.2.4'))), true), // policyMappings
        ext('2.5.29.31', der.sequence(der.sequence(der.tlv(0xa0, der.tlv(0xa0, der.tlv(0x86, Buffer.from('http://crl')))))), true),
        ext('2.5.29.30', der.sequence(der.tlv(0xa0, der.sequence(der.tlv(0x82, Buffer.from('example.com'))))), true),
      ],
    });
  });

  it('treats a critical SAN without names Go parses as unhandled', () => {
    const otherNameOnly = der.sequence(der.tlv(0xa0, der.oid('1.2.3'), der.explicit(0, der.utf8String('x'))));
    rejects(buildCertificate({ extensions: [ext('2.5.29.17', otherNameOnly, true)] }), ErrorCode.CertCriticalExtension);
    accepts({ extensions: [ext('2.5.29.17', otherNameOnly)] });
    accepts({ extensions: [ext('2.5.29.17', der.sequence(der.tlv(0x87, Uint8Array.of(10, 0, 0, 1))), true)] });
  });

  it('treats critical name constraints with unsupported name forms as unhandled', () => {
    const dirName = der.sequence(der.tlv(0xa0, der.sequence(der.tlv(0xa4, der.commonNameOnly('x')))));
    rejects(buildCertificate({ extensions: [ext('2.5.29.30', dirName, true)] }), ErrorCode.CertCriticalExtension);
  });

  it('rejects extensions Go forbids to be critical with Go’s parse errors', () => {
    rejects(buildCertificate({ extensions: [ext('2.5.29.14', der.octetString(hex('01')), true)] }), ErrorCode.CertParse, 'x509: subject key identifier incorrectly marked critical');
    rejects(buildCertificate({ extensions: [ext('2.5.29.35', der.sequence(), true)] }), ErrorCode.CertParse, 'x509: authority key identifier incorrectly marked critical');
    rejects(buildCertificate({ extensions: [ext('1.3.6.1.5.5.7.1.1', der.sequence(), true)] }), ErrorCode.CertParse, 'x509: authority info access incorrectly marked critical');
  });

  it('rejects malformed values of handled extensions as Go does', () => {
    const cases: [string, Uint8Array, string][] = [
      ['2.5.29.15', hex('0500'), 'x509: invalid key usage'],
      ['2.5.29.19', hex('0500'), 'x509: invalid basic constraints'],
      ['2.5.29.19', hex('30030201ff'), 'x509: invalid basic constraints'], // negative pathLen
      ['2.5.29.37', der.sequence(der.integer(1)), 'x509: invalid extended key usages'],
      ['2.5.29.17', hex('0500'), 'x509: invalid subject alternative names'],
      ['2.5.29.17', der.sequence(der.tlv(0x87, Uint8Array.of(1, 2, 3))), 'x509: cannot parse IP address of length 3'],
      ['2.5.29.17', der.sequence(der.tlv(0x82, Uint8Array.of(0xc3, 0xa9))), 'x509: SAN dNSName is malformed'],
      [
        '2.5.29.17',
        der.sequence(der.tlv(0x86, Buffer.from('http://a\nb/'))),
        'x509: cannot parse URI "http://a\\nb/": parse "http://a\\nb/": net/url: invalid control character in URL',
      ],
      ['2.5.29.17', der.sequence(der.tlv(0x86, Buffer.from('https://a..b/x'))), 'x509: cannot parse URI "https://a..b/x": invalid domain'],
      ['2.5.29.30', der.sequence(), 'x509: empty name constraints extension'],
      ['2.5.29.32', der.sequence(der.sequence(der.oid('1.2.3')), der.sequence(der.oid('1.2.3'))), 'x509: invalid certificate policies'],
      ['2.5.29.14', hex('0500'), 'x509: invalid subject key identifier'],
      ['2.5.29.54', hex('0500'), 'x509: invalid inhibit any policy extension'],
    ];
    for (const [oid, value, message] of cases) {
      rejects(buildCertificate({ extensions: [ext(oid, value)] }), ErrorCode.CertParse, message);
    }
  });

  it('rejects duplicate extensions', () => {
    rejects(
      buildCertificate({ extensions: [ext('1.2.3.4', hex('01')), ext('1.2.3.4', hex('02'))] }),
      ErrorCode.CertParse,
      'x509: certificate contains duplicate extension with OID "1.2.3.4"',
    );
  });
});

describe('checkCertificate: extended key usage (x509.Verify, default usage serverAuth)', () => {
  it('accepts no EKU, serverAuth, anyExtendedKeyUsage and an empty EKU list', () => {
    accepts();
    accepts({ extensions: [ext('2.5.29.37', ekuValue(CLIENT_AUTH, SERVER_AUTH))] });
    accepts({ extensions: [ext('2.5.29.37', ekuValue('2.5.29.37.0'))] });
    accepts({ extensions: [ext('2.5.29.37', ekuValue())] });
  });

  it('rejects an EKU without serverAuth or any', () => {
    const e = rejects(
      buildCertificate({ extensions: [ext('2.5.29.37', ekuValue(CLIENT_AUTH))] }),
      ErrorCode.CertKeyUsage,
      'x509: certificate specifies an incompatible key usage',
    );
    assert.deepEqual(e.details, { extKeyUsage: [CLIENT_AUTH] });
    rejects(buildCertificate({ extensions: [ext('2.5.29.37', ekuValue('1.2.3.4'))] }), ErrorCode.CertKeyUsage);
  });
});

describe('checkCertificate: self-signature (defence in depth)', () => {
  it('rejects a signature by another key', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    rejects(buildCertificate({ signingKey: other }), ErrorCode.CertSignature, 'certificate self-signature (ecdsa-with-SHA256) does not verify');
  });

  it('rejects a corrupted signature', () => {
    rejects(
      buildCertificate({ mangleSignature: (s) => Uint8Array.from(s, (b, i) => (i === s.length - 1 ? b ^ 1 : b)) }),
      ErrorCode.CertSignature,
    );
    rejects(buildCertificate({ key: testKey('ed25519'), mangleSignature: (s) => Uint8Array.from(s, (b, i) => (i === 0 ? b ^ 1 : b)) }), ErrorCode.CertSignature);
    rejects(buildCertificate({ key: testKey('rsa'), mangleSignature: (s) => Uint8Array.from(s, (b, i) => (i === 9 ? b ^ 1 : b)) }), ErrorCode.CertSignature);
  });

  it('rejects unsupported or mismatching signature algorithms', () => {
    rejects(buildCertificate({ sig: sigAlg.other('1.2.840.113549.1.1.5') }), ErrorCode.CertSignature, 'unsupported certificate signature algorithm 1.2.840.113549.1.1.5');
    rejects(buildCertificate({ key: testKey('rsa'), sig: sigAlg.ecdsa() }), ErrorCode.CertSignature, /does not match the rsa public key/);
    rejects(buildCertificate({ key: testKey('rsa'), sig: sigAlg.rsaPss('sha256', 20) }), ErrorCode.CertSignature, 'unsupported RSA-PSS parameters');
  });

  it('rejects ECDSA signature identifiers with parameters', () => {
    const withNull = { algorithmIdentifier: der.sequence(der.oid('1.2.840.10045.4.3.2'), hex('0500')), sign: sigAlg.ecdsa().sign };
    rejects(buildCertificate({ sig: withNull }), ErrorCode.CertSignature, /unexpected parameters/);
  });
});

describe('checkCertificate: key types (crypto/tls)', () => {
  const spkiOf = (pair: { publicKey: { export(o: { format: 'der'; type: 'spki' }): Buffer } }) =>
    pair.publicKey.export({ format: 'der', type: 'spki' });

  it('rejects an X25519 key', () => {
    const spki = spkiOf(generateKeyPairSync('x25519'));
    rejects(buildCertificate({ spki }), ErrorCode.CertKeyType, 'tls: client certificate contains an unsupported public key of type *ecdh.PublicKey');
  });

  it('rejects a DSA key', () => {
    const spki = spkiOf(generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 }));
    rejects(buildCertificate({ spki }), ErrorCode.CertKeyType, 'tls: client certificate contains an unsupported public key of type *dsa.PublicKey');
  });

  it('rejects an unknown key algorithm', () => {
    const spki = der.sequence(der.sequence(der.oid('1.2.3.4.5')), der.bitString(hex('0102')));
    const e = rejects(buildCertificate({ spki }), ErrorCode.CertKeyType, 'tls: client certificate contains an unsupported public key of type <nil>');
    assert.deepEqual(e.details, { keyAlgorithmOid: '1.2.3.4.5' });
  });

  it('rejects an unsupported curve, a compressed point and a point off the curve', () => {
    const p256 = testKey('p256').spki;
    const point = p256.subarray(p256.length - 65);
    const spkiWith = (curveOid: string, pt: Uint8Array) =>
      der.sequence(der.sequence(der.oid('1.2.840.10045.2.1'), der.oid(curveOid)), der.bitString(pt));
    rejects(buildCertificate({ spki: spkiWith('1.3.132.0.10', point) }), ErrorCode.CertParse, 'x509: unsupported elliptic curve');
    const compressed = Uint8Array.of(0x02 | (point[64]! & 1), ...point.subarray(1, 33));
    rejects(buildCertificate({ spki: spkiWith('1.2.840.10045.3.1.7', compressed) }), ErrorCode.CertParse, 'x509: failed to unmarshal elliptic curve point');
    const offCurve = Uint8Array.from(point, (b, i) => (i === 64 ? b ^ 1 : b));
    rejects(buildCertificate({ spki: spkiWith('1.2.840.10045.3.1.7', offCurve) }), ErrorCode.CertParse, 'x509: failed to unmarshal elliptic curve point');
  });

  it('rejects a SubjectPublicKeyInfo that is not what Go would re-marshal', () => {
    const p256 = testKey('p256').spki;
    const withTrailer = der.tlv(0x30, p256.subarray(2), der.integer(0));
    rejects(buildCertificate({ spki: withTrailer }), ErrorCode.CertParse, /not in canonical DER form/);
  });

  it('rejects RSA keys below 1024 bits (Go refuses them in the handshake)', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 768 });
    const key = { kind: 'rsa' as const, privateKey: pair.privateKey, spki: pair.publicKey.export({ format: 'der', type: 'spki' }) };
    const e = rejects(buildCertificate({ key }), ErrorCode.CertKeyType, /768-bit keys are insecure/);
    assert.deepEqual(e.details, { rsaBits: 768 });
  });

  it('rejects an RSA key without NULL parameters', () => {
    const rsa = testKey('rsa').spki;
    // 30 82 01 22 | 30 0d 06 09 <rsaEncryption> 05 00 | 03 82 01 0f …: keep the BIT STRING, drop the NULL.
    const bitString = rsa.subarray(19);
    const spki = der.sequence(der.sequence(der.oid('1.2.840.113549.1.1.1')), bitString);
    rejects(buildCertificate({ key: testKey('rsa'), spki }), ErrorCode.CertParse, 'x509: RSA key missing NULL parameters');
  });
});

describe('parseCertificate: structure (x509.ParseCertificate)', () => {
  it('rejects garbage, empty input and trailing bytes', () => {
    rejects(new Uint8Array(0), ErrorCode.CertParse, 'x509: malformed certificate');
    rejects(hex('deadbeef'), ErrorCode.CertParse, 'x509: malformed certificate');
    const good = buildCertificate();
    rejects(Uint8Array.of(...good, 0), ErrorCode.CertParse, 'x509: trailing data');
  });

  it('rejects mismatching inner and outer signature algorithms', () => {
    rejects(buildCertificate({ outerSigAlg: der.sequence(der.oid('1.2.840.10045.4.3.3')) }), ErrorCode.CertParse, "x509: inner and outer signature algorithm identifiers don't match");
  });

  it('rejects a negative serial number and accepts serial 0', () => {
    rejects(buildCertificate({ serialElement: hex('0201ff') }), ErrorCode.CertParse, 'x509: negative serial number');
    rejects(buildCertificate({ serialElement: hex('02020001') }), ErrorCode.CertParse, 'x509: malformed serial number');
    accepts({ serial: Uint8Array.of(0) });
  });

  it('accepts v1 certificates (then without extensions)', () => {
    const { certificate } = accepts({ version: 1 });
    assert.equal(certificate.version, 1);
  });

  it('rejects an invalid version', () => {
    const cert = buildCertificate();
    // The version INTEGER is the 6th byte: a0 03 02 01 <02>.
    const i = Buffer.from(cert).indexOf(Buffer.from('a003020102', 'hex'));
    const bad = Uint8Array.from(cert, (b, k) => (k === i + 4 ? 3 : b));
    rejects(bad, ErrorCode.CertParse, 'x509: invalid version');
  });

  it('rejects oversized input', () => {
    rejects(new Uint8Array(MAX_CERTIFICATE_BYTES + 1), ErrorCode.CertParse, /limit/);
  });

  it('rejects a Name with an invalid PrintableString', () => {
    rejects(buildCertificate({ commonName: 'a@b' }), ErrorCode.CertParse, 'x509: invalid RDNSequence: invalid attribute value: invalid PrintableString');
  });

  it('never throws anything but a certificate error on truncated or mutated input', () => {
    const good = buildCertificate({
      extensions: [ext('2.5.29.37', ekuValue(SERVER_AUTH)), ext('2.5.29.17', der.sequence(der.tlv(0x82, Buffer.from('a.b')))), ext('1.3.9900.1.1', hex('7b7d'))],
    });
    const allowed = new Set<string>([
      ErrorCode.CertParse,
      ErrorCode.CertValidity,
      ErrorCode.CertCriticalExtension,
      ErrorCode.CertKeyUsage,
      ErrorCode.CertKeyType,
      ErrorCode.CertSignature,
    ]);
    const attempt = (input: Uint8Array): void => {
      try {
        checkCertificate(input, NOW_MS);
      } catch (err) {
        assert.ok(err instanceof JoinServiceError, `unexpected ${String(err)}`);
        assert.ok(allowed.has(err.code), err.code);
      }
    };
    for (let n = 0; n < good.length; n++) attempt(good.subarray(0, n));
    const rnd = prng(42);
    for (let round = 0; round < 3000; round++) {
      const m = Uint8Array.from(good);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      attempt(m);
    }
    for (let round = 0; round < 200; round++) attempt(Uint8Array.from({ length: Math.floor(rnd() * 600) }, () => Math.floor(rnd() * 256)));
    // Oversized length fields.
    attempt(hex('3084ffffffff'));
    attempt(hex('30850100000000'));
    attempt(hex('3080'));
  });
});

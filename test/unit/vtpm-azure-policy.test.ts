/**
 * `azure-trustedlaunch` trusted-AK policy (tpm-attestation.md §11.3, §14 G5):
 * a test PKI (root → intermediate → AK certificate, built here) exercises Go's
 * x509.Certificate.Verify semantics with pinned time and injected anchors,
 * every refusal with Go's text, the InstanceInfo decoding, the AK/key checks,
 * the shipped AME root (expired since 2026-05-24) and the operator hint. A
 * real AMD certificate chain from /work/shared/vectors (RSA-PSS signatures)
 * checks the chain verifier on material made by someone else.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as der from '../../src/shared/der/encode.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { decodeAllPem, encodePem } from '../../src/shared/pem.js';
import { CertificatePool, ChainVerifyError, verifyCertificateChain } from '../../src/workers/attestation/vtpm/azure/ak-certificate-chain.js';
import { AME_ROOT_DER, AME_ROOT_NOT_AFTER, AME_ROOT_NOT_BEFORE, AME_ROOT_PEM } from '../../src/workers/attestation/vtpm/azure/ame-root.js';
import { createAzureTrustedLaunchPolicy, trustedRootsFromPem } from '../../src/workers/attestation/vtpm/azure/azure-trustedlaunch-policy.js';
import { analyseCertificate } from '../../src/workers/attestation/vtpm/azure/chain-certificate.js';
import type { VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import { algorithmIdentifier, encodeExtension, freshKey, name, OID, san, signWith, type KeyPair, type SigAlg, type TestExtension } from './support/kubelet-pki.js';

// ---- time ------------------------------------------------------------------------------

const DAY = 24 * 60 * 60 * 1000;
/** "Today" for these tests. */
const NOW = new Date(Date.UTC(2026, 11, 4, 12, 0, 0));
const now = (): Date => NOW;
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// ---- keys (generated once per process) -------------------------------------------------

const rootKey = freshKey('rsa');
const caKey = freshKey('rsa');
const akKey = freshKey('rsa');
const otherRsaKey = freshKey('rsa');
const p384Key = freshKey('p384');
const p256Key = freshKey('p256');
const rsa512Key = freshKey('rsa512');

// ---- a small certificate builder -------------------------------------------------------

interface CertSpec {
  subject: Uint8Array;
  issuer: Uint8Array;
  /** The certified key. */
  key: KeyPair;
  /** The issuer's private key. */
  signer: KeyObject;
  sigAlg?: SigAlg;
  serial?: number;
  notBefore?: number;
  notAfter?: number;
  version?: 1 | 3;
  extensions?: TestExtension[];
  mangleSignature?: (sig: Uint8Array) => Uint8Array;
}

function certificate(s: CertSpec): Uint8Array {
  const sigAlg = s.sigAlg ?? 'rsa-sha256';
  const parts: Uint8Array[] = [];
  if ((s.version ?? 3) === 3) parts.push(der.explicit(0, der.integer(2)));
  parts.push(
    der.integer(s.serial ?? 1),
    algorithmIdentifier(sigAlg),
    s.issuer,
    der.sequence(der.time(s.notBefore ?? NOW.getTime() - 30 * DAY), der.time(s.notAfter ?? NOW.getTime() + 365 * DAY)),
    s.subject,
    s.key.spki,
  );
  if (s.extensions?.length) parts.push(der.explicit(3, der.sequence(...s.extensions.map(encodeExtension))));
  const tbs = der.sequence(...parts);
  let sig = signWith(sigAlg, tbs, s.signer);
  if (s.mangleSignature) sig = s.mangleSignature(sig);
  return der.sequence(tbs, algorithmIdentifier(sigAlg), der.bitString(sig));
}

const ext = {
  basicConstraints(isCA: boolean, pathLen?: number, critical = true): TestExtension {
    return {
      oid: '2.5.29.19',
      critical,
      value: der.sequence(...(isCA ? [der.boolean(true)] : []), ...(pathLen === undefined ? [] : [der.integer(pathLen)])),
    };
  },
  /** keyUsage from bit numbers (0 digitalSignature … 5 keyCertSign, 6 cRLSign). */
  keyUsage(...bits: number[]): TestExtension {
    const top = Math.max(...bits);
    const bytes = new Uint8Array((top >> 3) + 1);
    for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
    const unused = 7 - (top & 7);
    return { oid: '2.5.29.15', critical: true, value: der.tlv(0x03, Uint8Array.of(unused), bytes) };
  },
  subjectKeyId(id: Uint8Array): TestExtension {
    return { oid: '2.5.29.14', value: der.octetString(id) };
  },
  authorityKeyId(id: Uint8Array): TestExtension {
    return { oid: '2.5.29.35', value: der.sequence(der.tlv(0x80, id)) };
  },
  /** A SAN holding only a directoryName (what TPM certificates carry). */
  directoryNameSan(critical: boolean): TestExtension {
    const dn = name([{ oid: '2.23.133.2.1', value: 'id:4D534654', tag: 0x0c }]);
    return { oid: '2.5.29.17', critical, value: der.sequence(der.tlv(0xa4, dn)) };
  },
  dnsSan(critical: boolean, ...dns: string[]): TestExtension {
    return { oid: '2.5.29.17', critical, value: san({ dns }) };
  },
  permittedDns(domain: string): TestExtension {
    return {
      oid: '2.5.29.30',
      critical: true,
      value: der.sequence(der.tlv(0xa0, der.sequence(der.tlv(0x82, Buffer.from(domain, 'latin1'))))),
    };
  },
  requireExplicitPolicy(n: number): TestExtension {
    return { oid: '2.5.29.36', critical: true, value: der.sequence(der.tlv(0x80, Uint8Array.of(n))) };
  },
  private(critical: boolean): TestExtension {
    return { oid: '1.3.6.1.4.1.311.99.1', critical, value: der.octetString(Uint8Array.of(1)) };
  },
};

const keyId = (k: KeyPair): Uint8Array => createHash('sha1').update(k.spki).digest();

const ROOT_NAME = name([{ oid: OID.CN, value: 'Test vTPM Root CA' }]);
const CA_NAME = name([{ oid: OID.O, value: 'Test Azure' }], [{ oid: OID.CN, value: 'Test Virtual TPM CA 03' }]);
const LEAF_NAME = name([{ oid: OID.CN, value: 'test-vm-ak' }]);

interface Pki {
  root: Uint8Array;
  ca: Uint8Array;
  leaf: Uint8Array;
}

interface PkiOptions {
  root?: Partial<CertSpec>;
  ca?: Partial<CertSpec>;
  leaf?: Partial<CertSpec>;
}

/** root (pathLen 1, like the AME root) → CA (pathLen 0) → AK certificate for `akKey`. */
function pki(o: PkiOptions = {}): Pki {
  const root = certificate({
    subject: ROOT_NAME,
    issuer: ROOT_NAME,
    key: rootKey,
    signer: rootKey.privateKey,
    serial: 100,
    notBefore: NOW.getTime() - 1000 * DAY,
    notAfter: NOW.getTime() + 3000 * DAY,
    extensions: [ext.keyUsage(0, 5, 6), ext.basicConstraints(true, 1), ext.subjectKeyId(keyId(rootKey))],
    ...o.root,
  });
  const ca = certificate({
    subject: CA_NAME,
    issuer: ROOT_NAME,
    key: caKey,
    signer: rootKey.privateKey,
    serial: 200,
    notBefore: NOW.getTime() - 300 * DAY,
    notAfter: NOW.getTime() + 700 * DAY,
    extensions: [
      ext.keyUsage(0, 5, 6),
      ext.basicConstraints(true, 0),
      ext.subjectKeyId(keyId(caKey)),
      ext.authorityKeyId(keyId(rootKey)),
    ],
    ...o.ca,
  });
  const leaf = certificate({
    subject: LEAF_NAME,
    issuer: CA_NAME,
    key: akKey,
    signer: caKey.privateKey,
    serial: 300,
    extensions: [ext.keyUsage(0), ext.directoryNameSan(false), ext.authorityKeyId(keyId(caKey))],
    ...o.leaf,
  });
  return { root, ca, leaf };
}

// ---- TPM and document ------------------------------------------------------------------

/** TPMT_PUBLIC of an RSA-2048 restricted signing key (RSASSA/SHA-256, exponent 0 = 65537). */
function rsaAkPub(k: KeyPair, exponent = 0): Uint8Array {
  const n = Buffer.from(k.publicKey.export({ format: 'jwk' }).n!, 'base64url');
  const b = Buffer.alloc(2 + 2 + 4 + 2 + 2 + 4 + 2 + 4 + 2 + n.length);
  let o = 0;
  o = b.writeUInt16BE(0x0001, o); // TPM_ALG_RSA
  o = b.writeUInt16BE(0x000b, o); // nameAlg SHA-256
  o = b.writeUInt32BE(0x00050072, o); // fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign
  o = b.writeUInt16BE(0, o); // authPolicy (empty)
  o = b.writeUInt16BE(0x0010, o); // symmetric NULL
  o = b.writeUInt16BE(0x0014, o); // scheme RSASSA
  o = b.writeUInt16BE(0x000b, o); // hash SHA-256
  o = b.writeUInt16BE(2048, o); // keyBits
  o = b.writeUInt32BE(exponent, o);
  o = b.writeUInt16BE(n.length, o);
  n.copy(b, o);
  return new Uint8Array(b);
}

/** TPMT_PUBLIC of an ECC P-256 signing key (ECDSA/SHA-256, KDF NULL). */
function eccAkPub(k: KeyPair): Uint8Array {
  const jwk = k.publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  const y = Buffer.from(jwk.y!, 'base64url');
  // type ECC, nameAlg SHA-256, attributes, empty authPolicy, symmetric NULL, scheme ECDSA/SHA-256, curve P-256, kdf NULL
  const head = Buffer.from('0023' + '000b' + '00050072' + '0000' + '0010' + '0018000b' + '0003' + '0010', 'hex');
  const u16 = (v: number) => Buffer.from([v >> 8, v & 0xff]);
  return new Uint8Array(Buffer.concat([head, u16(x.length), x, u16(y.length), y]));
}

function instanceInfo(akCert: Uint8Array, ca: Uint8Array): Uint8Array {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  return Buffer.from(`{"AkCert":"${b64(akCert)}","CA":"${b64(ca)}"}`);
}

function doc(info: Uint8Array | string | null, akPub: Uint8Array = rsaAkPub(akKey)): VtpmDocument {
  return {
    attestation: { akPub, quotes: [], eventLog: new Uint8Array(0), akCert: new Uint8Array(0), intermediateCerts: [], teeAttestation: 'absent' },
    instanceInfo: typeof info === 'string' ? Buffer.from(info) : info,
    userData: null,
  };
}

function policyFor(p: Pki, extraRoots: Uint8Array[] = []) {
  return createAzureTrustedLaunchPolicy({ trustedRoots: [p.root, ...extraRoots], now });
}

async function rejects(promise: Promise<unknown>, message: string | RegExp, code?: ErrorCode): Promise<JoinServiceError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JoinServiceError, `expected a JoinServiceError, got ${String(caught)}`);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  if (code) assert.equal(caught.code, code);
  return caught;
}

const VERIFY = 'verifying attestation key certificate: ';
const unknownAuthority = (hint: string, cert: string) =>
  `${VERIFY}x509: certificate signed by unknown authority (possibly because of ${JSON.stringify(hint)} while trying to verify candidate authority certificate ${JSON.stringify(cert)})`;
const flip = (sig: Uint8Array): Uint8Array => {
  const c = new Uint8Array(sig);
  c[c.length - 1]! ^= 1;
  return c;
};

// ---- tests --------------------------------------------------------------------------------

describe('azure-trustedlaunch: accepted documents', () => {
  it('trusts the AK certificate key when the chain verifies against an injected root at a pinned time', async () => {
    const p = pki();
    const spki = await policyFor(p).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(32));
    assert.ok(spki instanceof Uint8Array);
    assert.deepEqual(Buffer.from(spki as Uint8Array), Buffer.from(akKey.spki));
    // The returned SPKI is the same key as ak_pub (what the pipeline then compares).
    assert.deepEqual(createPublicKey({ key: Buffer.from(spki as Uint8Array), format: 'der', type: 'spki' }).export({ format: 'jwk' }), akKey.publicKey.export({ format: 'jwk' }));
  });

  it('cvmCheck does nothing', async () => {
    const p = pki();
    await policyFor(p).cvmCheck(doc(null), { hash: 11, platform: { scrtmVersionId: new Uint8Array(0), technology: 0 }, secureBoot: { enabled: false }, verifiedEvents: 0 });
  });

  it('accepts an explicit exponent 65537 in ak_pub and case-insensitive InstanceInfo keys (Go decoder)', async () => {
    const p = pki();
    const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
    const info = `{"akcert":"${b64(p.leaf)}","ca":"${b64(p.ca)}","unknown":1}`;
    await policyFor(p).trustedAk(doc(info, rsaAkPub(akKey, 65537)), new Uint8Array(0));
  });

  it('accepts RSA-PSS, SHA-384/512 and ECDSA signatures in the chain', async () => {
    const ecRoot = certificate({
      subject: ROOT_NAME,
      issuer: ROOT_NAME,
      key: p384Key,
      signer: p384Key.privateKey,
      sigAlg: 'ecdsa-sha384',
      extensions: [ext.basicConstraints(true, 1), ext.keyUsage(5)],
    });
    const p = pki({ ca: { signer: p384Key.privateKey, sigAlg: 'ecdsa-sha384' }, leaf: { sigAlg: 'rsa-pss-sha256' } });
    await createAzureTrustedLaunchPolicy({ trustedRoots: [ecRoot], now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
    const q = pki({ ca: { sigAlg: 'rsa-sha512' }, leaf: { sigAlg: 'rsa-sha384' } });
    await policyFor(q).trustedAk(doc(instanceInfo(q.leaf, q.ca)), new Uint8Array(0));
  });

  it('accepts a leaf signed directly by an anchor (Go considers roots before intermediates)', async () => {
    const p = pki({ leaf: { issuer: ROOT_NAME, signer: rootKey.privateKey } });
    await policyFor(p).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });

  it('accepts a leaf that is itself an anchor (Go: the roots contain the leaf)', async () => {
    const p = pki();
    await createAzureTrustedLaunchPolicy({ trustedRoots: [p.leaf], now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });

  it('accepts a chain whose anchor is not self-signed (the intermediate configured as anchor)', async () => {
    const p = pki();
    await createAzureTrustedLaunchPolicy({ trustedRoots: [p.ca], now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });

  it('accepts when one of two same-named anchors is expired and the other valid', async () => {
    const p = pki();
    const expiredTwin = certificate({
      subject: ROOT_NAME,
      issuer: ROOT_NAME,
      key: rootKey,
      signer: rootKey.privateKey,
      serial: 101,
      notBefore: NOW.getTime() - 4000 * DAY,
      notAfter: NOW.getTime() - DAY,
      extensions: [ext.basicConstraints(true, 1), ext.subjectKeyId(keyId(rootKey))],
    });
    await createAzureTrustedLaunchPolicy({ trustedRoots: [expiredTwin, p.root], now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });

  it('accepts a critical SAN that names a DNS host (Go handles it) and non-critical unknown extensions', async () => {
    const p = pki({ leaf: { extensions: [ext.dnsSan(true, 'vm.example'), ext.private(false)] } });
    await policyFor(p).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });

  it('accepts name constraints on the CA when the leaf carries no names they apply to (Go ignores directoryName SANs)', async () => {
    const p = pki({
      ca: { extensions: [ext.basicConstraints(true, 0), ext.keyUsage(5), ext.permittedDns('example.com')] },
    });
    await policyFor(p).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });

  it('validity bounds are inclusive (Go rejects only before notBefore and after notAfter)', async () => {
    const p = pki({ leaf: { notAfter: NOW.getTime() } });
    await policyFor(p).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0));
  });
});

describe('azure-trustedlaunch: the shipped AME root (Appendix B) and the configurable anchors', () => {
  it('embeds the AME root Go embeds, parsed with the Go-compatible parser', () => {
    assert.equal(createHash('sha256').update(AME_ROOT_DER).digest('hex'), 'ea76599d86897382aa519ff2bc0fa6b9c15d60da2ebe53e72139cd317b0797ed');
    const ame = analyseCertificate(AME_ROOT_DER);
    assert.equal(Buffer.from(ame.commonName).toString(), 'ameroot');
    assert.equal(ame.parsed.notBefore.ms, AME_ROOT_NOT_BEFORE.getTime());
    assert.equal(ame.parsed.notAfter.ms, AME_ROOT_NOT_AFTER.getTime());
    assert.equal(AME_ROOT_NOT_AFTER.toISOString(), '2026-05-24T22:57:03.000Z');
    assert.deepEqual(ame.basicConstraints, { valid: true, isCA: true, maxPathLen: 1n });
    assert.deepEqual(trustedRootsFromPem([AME_ROOT_PEM]), [AME_ROOT_DER]);
  });

  it('reports the default anchor as expired today', () => {
    const anchors = createAzureTrustedLaunchPolicy({ now }).trustAnchors();
    assert.deepEqual(anchors, [
      {
        name: 'ameroot',
        sha256: 'ea76599d86897382aa519ff2bc0fa6b9c15d60da2ebe53e72139cd317b0797ed',
        notBefore: '2016-05-24T22:52:54Z',
        notAfter: '2026-05-24T22:57:03Z',
        isDefaultAmeRoot: true,
        status: 'expired',
      },
    ]);
    const before = createAzureTrustedLaunchPolicy({ now: () => new Date('2026-05-24T22:57:03Z') }).trustAnchors();
    assert.equal(before[0]!.status, 'valid');
  });

  it('with the default anchors every document is rejected today, naming the expired root and the configuration', async () => {
    const p = pki();
    const err = await rejects(
      createAzureTrustedLaunchPolicy({ now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0)),
      /^verifying attestation key certificate: x509: certificate signed by unknown authority \[no configured trust anchor is currently valid: AME root \(DC=GBL, DC=AME, CN=ameroot\), the default shipped for parity with Constellation expired at 2026-05-24T22:57:03Z; configure the current Azure vTPM root certificates in the azure-trustedlaunch attestation config member "trustedRootCertificates" \(see docs\/attestation\.md\)\]$/,
      ErrorCode.AttestationRejected,
    );
    assert.deepEqual(err.details?.invalidTrustAnchors, ['ameroot (expired 2026-05-24T22:57:03Z)']);
  });

  it('a chain that reaches the AME root name is rejected too (its signature cannot verify: wrong key)', async () => {
    const ameName = new Uint8Array(analyseCertificate(AME_ROOT_DER).rawSubject);
    const p = pki({ ca: { issuer: ameName } });
    await rejects(
      createAzureTrustedLaunchPolicy({ now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0)),
      /^verifying attestation key certificate: x509: certificate signed by unknown authority \(possibly because of "crypto\/rsa: verification error" while trying to verify candidate authority certificate "ameroot"\) \[no configured trust anchor/,
    );
  });

  it('before the AME expiry the default anchors give Go\'s plain unknown-authority error', async () => {
    const p = pki({ root: {}, ca: {}, leaf: { notBefore: Date.UTC(2026, 0, 1), notAfter: Date.UTC(2027, 0, 1) } });
    await rejects(
      createAzureTrustedLaunchPolicy({ now: () => new Date(Date.UTC(2026, 4, 1)) }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0)),
      `${VERIFY}x509: certificate signed by unknown authority`,
    );
  });

  it('an expired configured root gives Go\'s expiry text plus the operator hint', async () => {
    const rootNotAfter = NOW.getTime() - 10 * DAY;
    const p = pki({ root: { notAfter: rootNotAfter } });
    const err = await rejects(
      policyFor(p).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0)),
      `${VERIFY}x509: certificate has expired or is not yet valid: current time 2026-12-04T12:00:00Z is after ${rfc3339(rootNotAfter)}` +
        ` [no configured trust anchor is currently valid: "Test vTPM Root CA" (SHA-256 ${createHash('sha256').update(p.root).digest('hex')}) expired at ${rfc3339(rootNotAfter)};` +
        ' configure the current Azure vTPM root certificates in the azure-trustedlaunch attestation config member "trustedRootCertificates" (see docs/attestation.md)]',
    );
    assert.equal(err.details?.failure, 'candidate-invalid');
  });

  it('parses anchors from PEM configuration and refuses unusable configuration', () => {
    const p = pki();
    const pem = encodePem('CERTIFICATE', p.root) + encodePem('CERTIFICATE', p.ca);
    assert.deepEqual(trustedRootsFromPem([pem, AME_ROOT_PEM]).map((d) => Buffer.from(d)), [Buffer.from(p.root), Buffer.from(p.ca), Buffer.from(AME_ROOT_DER)]);
    const config = (f: () => unknown, re: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof JoinServiceError && e.code === ErrorCode.ConfigInvalid && re.test(e.message));
    config(() => trustedRootsFromPem(['not pem']), /trustedRootCertificates\[0\] contains no PEM block/);
    config(() => trustedRootsFromPem([encodePem('PUBLIC KEY', akKey.spki)]), /contains a "PUBLIC KEY" PEM block, expected CERTIFICATE/);
    config(() => createAzureTrustedLaunchPolicy({ trustedRoots: [] }), /no trust anchors configured/);
    config(() => createAzureTrustedLaunchPolicy({ trustedRoots: [Uint8Array.of(1, 2, 3)] }), /^azure-trustedlaunch: trust anchor 0: x509: malformed certificate$/);
    assert.equal(decodeAllPem(AME_ROOT_PEM).length, 1);
  });
});

describe('azure-trustedlaunch: chain failures (Go x509 Verify texts)', () => {
  const check = async (p: Pki, message: string | RegExp, roots?: Uint8Array[]) =>
    rejects(
      createAzureTrustedLaunchPolicy({ trustedRoots: roots ?? [p.root], now }).trustedAk(doc(instanceInfo(p.leaf, p.ca)), new Uint8Array(0)),
      message,
      ErrorCode.AttestationRejected,
    );

  it('unknown authority: the chain ends at a root that is not an anchor', async () => {
    const p = pki();
    const other = certificate({
      subject: name([{ oid: OID.CN, value: 'Other Root' }]),
      issuer: name([{ oid: OID.CN, value: 'Other Root' }]),
      key: otherRsaKey,
      signer: otherRsaKey.privateKey,
      extensions: [ext.basicConstraints(true)],
    });
    await check(p, `${VERIFY}x509: certificate signed by unknown authority`, [other]);
  });

  it('expired leaf', async () => {
    const notAfter = NOW.getTime() - 1000;
    await check(pki({ leaf: { notAfter } }), `${VERIFY}x509: certificate has expired or is not yet valid: current time 2026-12-04T12:00:00Z is after ${rfc3339(notAfter)}`);
  });

  it('leaf not yet valid', async () => {
    const notBefore = NOW.getTime() + 1000;
    await check(pki({ leaf: { notBefore } }), `${VERIFY}x509: certificate has expired or is not yet valid: current time 2026-12-04T12:00:00Z is before ${rfc3339(notBefore)}`);
  });

  it('expired CA (Go returns the candidate\'s validity error itself)', async () => {
    const notAfter = NOW.getTime() - DAY;
    await check(pki({ ca: { notAfter } }), `${VERIFY}x509: certificate has expired or is not yet valid: current time 2026-12-04T12:00:00Z is after ${rfc3339(notAfter)}`);
  });

  it('CA not yet valid', async () => {
    const notBefore = NOW.getTime() + DAY;
    await check(pki({ ca: { notBefore } }), `${VERIFY}x509: certificate has expired or is not yet valid: current time 2026-12-04T12:00:00Z is before ${rfc3339(notBefore)}`);
  });

  it('CA whose basicConstraints say cA FALSE', async () => {
    const p = pki({ ca: { extensions: [ext.basicConstraints(false), ext.keyUsage(5)] } });
    await check(p, unknownAuthority('x509: invalid signature: parent certificate cannot sign this kind of certificate', 'Test Virtual TPM CA 03'));
  });

  it('v3 CA without basicConstraints', async () => {
    const p = pki({ ca: { extensions: [ext.keyUsage(5)] } });
    await check(p, unknownAuthority('x509: invalid signature: parent certificate cannot sign this kind of certificate', 'Test Virtual TPM CA 03'));
  });

  it('v1 CA (no extensions): signature accepted, but not authorized to sign', async () => {
    await check(pki({ ca: { version: 1, extensions: [] } }), `${VERIFY}x509: certificate is not authorized to sign other certificates`);
  });

  it('CA whose keyUsage lacks keyCertSign', async () => {
    const p = pki({ ca: { extensions: [ext.basicConstraints(true, 0), ext.keyUsage(0)] } });
    await check(p, unknownAuthority('x509: invalid signature: parent certificate cannot sign this kind of certificate', 'Test Virtual TPM CA 03'));
  });

  it('root path length exceeded (root pathLen 0 with one intermediate)', async () => {
    const p = pki({ root: { extensions: [ext.basicConstraints(true, 0)] } });
    await check(p, `${VERIFY}x509: too many intermediates for path length constraint`);
  });

  it('SHA-1 signed AK certificate', async () => {
    await check(pki({ leaf: { sigAlg: 'rsa-sha1' } }), unknownAuthority('x509: cannot verify signature: insecure algorithm SHA1-RSA', 'Test Virtual TPM CA 03'));
  });

  it('SHA-1 signed CA (ECDSA) and MD5', async () => {
    const ecRoot = certificate({ subject: ROOT_NAME, issuer: ROOT_NAME, key: p384Key, signer: p384Key.privateKey, sigAlg: 'ecdsa-sha384', extensions: [ext.basicConstraints(true)] });
    const p = pki({ ca: { signer: p384Key.privateKey, sigAlg: 'ecdsa-sha1' } });
    await check(p, unknownAuthority('x509: cannot verify signature: insecure algorithm ECDSA-SHA1', 'Test vTPM Root CA'), [ecRoot]);
    await check(pki({ leaf: { sigAlg: 'rsa-md5' } }), unknownAuthority('x509: cannot verify signature: insecure algorithm MD5-RSA', 'Test Virtual TPM CA 03'));
  });

  it('bad signatures: RSA on the AK certificate, RSA on the CA, ECDSA', async () => {
    await check(pki({ leaf: { mangleSignature: flip } }), unknownAuthority('crypto/rsa: verification error', 'Test Virtual TPM CA 03'));
    await check(pki({ ca: { mangleSignature: flip } }), unknownAuthority('crypto/rsa: verification error', 'Test vTPM Root CA'));
    const ecRoot = certificate({ subject: ROOT_NAME, issuer: ROOT_NAME, key: p256Key, signer: p256Key.privateKey, sigAlg: 'ecdsa-sha256', extensions: [ext.basicConstraints(true)] });
    const p = pki({ ca: { signer: p256Key.privateKey, sigAlg: 'ecdsa-sha256', mangleSignature: () => signWith('ecdsa-sha256', Uint8Array.of(1), p256Key.privateKey) } });
    await check(p, unknownAuthority('x509: ECDSA verification failure', 'Test vTPM Root CA'), [ecRoot]);
  });

  it('CA signed by a different key than the anchor\'s', async () => {
    await check(pki({ ca: { signer: otherRsaKey.privateKey } }), unknownAuthority('crypto/rsa: verification error', 'Test vTPM Root CA'));
  });

  it('signature algorithm and issuer key type disagree', async () => {
    const p = pki({ leaf: { sigAlg: 'ecdsa-sha256', signer: p256Key.privateKey } });
    await check(p, unknownAuthority('x509: signature algorithm specifies an ECDSA public key, but have public key of type *rsa.PublicKey', 'Test Virtual TPM CA 03'));
  });

  it('an issuer RSA key below 1024 bits (Go 1.24 crypto/rsa)', async () => {
    const p = pki({ ca: { key: rsa512Key }, leaf: { signer: rsa512Key.privateKey } });
    await check(p, unknownAuthority('crypto/rsa: 512-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)', 'Test Virtual TPM CA 03'));
  });

  it('unhandled critical extensions: a critical SAN without DNS/email/IP/URI names, a private critical extension', async () => {
    await check(pki({ leaf: { extensions: [ext.directoryNameSan(true)] } }), `${VERIFY}x509: unhandled critical extension`);
    await check(pki({ leaf: { extensions: [ext.private(true)] } }), `${VERIFY}x509: unhandled critical extension`);
    await check(
      pki({ ca: { extensions: [ext.basicConstraints(true, 0), ext.keyUsage(5), ext.private(true)] } }),
      `${VERIFY}x509: unhandled critical extension`,
    );
    await check(
      pki({ root: { extensions: [ext.basicConstraints(true, 1), ext.private(true)] } }),
      `${VERIFY}x509: unhandled critical extension`,
    );
  });

  it('names the hint certificate by O, then by serial, when it has no CN (UnknownAuthorityError)', async () => {
    const orgOnly = name([{ oid: OID.O, value: 'Org Only CA' }]);
    await check(
      pki({ ca: { subject: orgOnly, extensions: [ext.basicConstraints(false)] }, leaf: { issuer: orgOnly } }),
      unknownAuthority('x509: invalid signature: parent certificate cannot sign this kind of certificate', 'Org Only CA'),
    );
    const dcOnly = name([{ oid: OID.DC, value: 'test', tag: 0x16 }]);
    await check(
      pki({ ca: { subject: dcOnly, serial: 4242, extensions: [ext.basicConstraints(false)] }, leaf: { issuer: dcOnly } }),
      unknownAuthority('x509: invalid signature: parent certificate cannot sign this kind of certificate', 'serial:4242'),
    );
  });

  it('deviation: name constraints that would have to be evaluated are refused', async () => {
    const p = pki({
      ca: { extensions: [ext.basicConstraints(true, 0), ext.keyUsage(5), ext.permittedDns('example.com')] },
      leaf: { extensions: [ext.dnsSan(false, 'vm.example.com')] },
    });
    await check(
      p,
      `${VERIFY}x509: name constraints of "Test Virtual TPM CA 03" are not evaluated by this verifier (certificates below it carry rfc822Name, dNSName, URI or iPAddress names)`,
    );
  });

  it('deviation: requireExplicitPolicy on the CA is refused', async () => {
    const p = pki({ ca: { extensions: [ext.basicConstraints(true, 0), ext.keyUsage(5), ext.requireExplicitPolicy(0)] } });
    await check(p, `${VERIFY}x509: no valid chains built: certificate policy constraints and mappings are not evaluated by this verifier`);
  });
});

describe('azure-trustedlaunch: attestation key and InstanceInfo', () => {
  const p = pki();
  const policy = policyFor(p);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

  it('AK that is not RSA', async () => {
    await rejects(policy.trustedAk(doc(instanceInfo(p.leaf, p.ca), eccAkPub(p256Key)), new Uint8Array(0)), 'attestation key is not an RSA key', ErrorCode.AttestationRejected);
  });

  it('AK that differs from the certificate key (modulus, exponent)', async () => {
    await rejects(
      policy.trustedAk(doc(instanceInfo(p.leaf, p.ca), rsaAkPub(otherRsaKey)), new Uint8Array(0)),
      'certificate public key does not match attestation key',
      ErrorCode.AttestationRejected,
    );
    await rejects(policy.trustedAk(doc(instanceInfo(p.leaf, p.ca), rsaAkPub(akKey, 3)), new Uint8Array(0)), 'certificate public key does not match attestation key');
  });

  it('AK certificate with a non-RSA key never matches', async () => {
    const q = pki({ leaf: { key: p256Key } });
    await rejects(policyFor(q).trustedAk(doc(instanceInfo(q.leaf, q.ca)), new Uint8Array(0)), 'certificate public key does not match attestation key');
  });

  it('ak_pub that does not decode, or yields no key (checked after the chain, as in Go)', async () => {
    await rejects(policy.trustedAk(doc(instanceInfo(p.leaf, p.ca), new Uint8Array(0)), new Uint8Array(0)), 'decoding attestation key public area: decoding TPMT_PUBLIC: EOF', ErrorCode.AttestationMalformed);
    await rejects(policy.trustedAk(doc(instanceInfo(p.leaf, p.ca), rsaAkPub(akKey).subarray(0, 20)), new Uint8Array(0)), /^decoding attestation key public area: /);
    // KEYEDHASH public area: decodes, but Key() has no verification key.
    const keyedHash = Buffer.from('0008000b00040000000000100000', 'hex');
    await rejects(policy.trustedAk(doc(instanceInfo(p.leaf, p.ca), keyedHash), new Uint8Array(0)), /^getting public key: unsupported public key type 0x/);
    await rejects(policy.trustedAk(doc('{}', keyedHash), new Uint8Array(0)), 'parsing attestation key certificate: x509: malformed certificate');
  });

  it('bad InstanceInfo JSON (Go encoding/json texts)', async () => {
    const bad = async (info: string | null, message: string) =>
      rejects(policy.trustedAk(doc(info), new Uint8Array(0)), `unmarshaling attestation key signer info: ${message}`, ErrorCode.AttestationMalformed);
    await bad(null, 'unexpected end of JSON input');
    await bad('', 'unexpected end of JSON input');
    await bad('{"AkCert":', 'unexpected end of JSON input');
    await bad('nope', "invalid character 'o' in literal null (expecting 'u')");
    await bad('[]', 'json: cannot unmarshal array into Go value of type trustedlaunch.akSigner');
    await bad('{"AkCert":1}', 'json: cannot unmarshal number into Go struct field akSigner.AkCert of type []uint8');
    await bad('{"AkCert":"!!!!"}', 'illegal base64 data at input byte 0');
  });

  it('missing members and garbage DER', async () => {
    const bad = async (info: string, message: string) => rejects(policy.trustedAk(doc(info), new Uint8Array(0)), message, ErrorCode.AttestationMalformed);
    await bad('{}', 'parsing attestation key certificate: x509: malformed certificate');
    await bad('null', 'parsing attestation key certificate: x509: malformed certificate');
    await bad(`{"AkCert":"${b64(p.leaf)}"}`, 'parsing attestation key CA certificate: x509: malformed certificate');
    await bad(`{"AkCert":"${b64(p.leaf)}","CA":null}`, 'parsing attestation key CA certificate: x509: malformed certificate');
    await bad(`{"AkCert":"${b64(Uint8Array.of(0x30, 0x03, 1, 2, 3))}","CA":"${b64(p.ca)}"}`, 'parsing attestation key certificate: x509: malformed tbs certificate');
    await bad(`{"AkCert":"${b64(Buffer.concat([p.leaf, Uint8Array.of(0)]))}","CA":"${b64(p.ca)}"}`, 'parsing attestation key certificate: x509: trailing data');
    await bad(`{"AkCert":"${b64(p.leaf)}","CA":"${b64(Buffer.from('garbage'))}"}`, 'parsing attestation key CA certificate: x509: malformed certificate');
  });

  it('the CA from InstanceInfo must be the issuer: another CA does not help', async () => {
    const other = pki({ ca: { key: otherRsaKey, subject: name([{ oid: OID.CN, value: 'Unrelated CA' }]) } });
    await rejects(policy.trustedAk(doc(instanceInfo(p.leaf, other.ca)), new Uint8Array(0)), `${VERIFY}x509: certificate signed by unknown authority`);
  });
});

describe('chain verifier on a real AMD SEV-SNP chain (shared vectors: RSA-PSS/SHA-384, VCEK → ASK → ARK)', () => {
  const dir = '/work/shared/vectors/constellation/internal/attestation/snp/testdata';
  const available = existsSync(`${dir}/vcek.pem`) && existsSync(`${dir}/certchain.pem`);
  const pem = (f: string) => decodeAllPem(readFileSync(`${dir}/${f}`, 'latin1')).map((b) => new Uint8Array(b.bytes));

  it('verifies inside the validity window and reports expiry outside it', { skip: !available && 'vectors not present' }, () => {
    const [vcek] = pem('vcek.pem');
    const [ask, ark] = pem('certchain.pem');
    const leaf = analyseCertificate(vcek!);
    const opts = (t: Date) => ({ roots: new CertificatePool([analyseCertificate(ark!)]), intermediates: new CertificatePool([analyseCertificate(ask!)]), now: t });
    const chains = verifyCertificateChain(leaf, opts(new Date('2025-06-01T00:00:00Z')));
    assert.deepEqual(
      chains.map((c) => c.map((x) => Buffer.from(x.commonName).toString())),
      [['SEV-VCEK', 'SEV-Milan', 'ARK-Milan']],
    );
    assert.throws(
      () => verifyCertificateChain(leaf, opts(new Date('2031-01-01T00:00:00Z'))),
      (e: unknown) => e instanceof ChainVerifyError && e.message === 'x509: certificate has expired or is not yet valid: current time 2031-01-01T00:00:00Z is after 2030-08-30T12:15:24Z',
    );
    // The ASK is no anchor: an ARK-only intermediate pool cannot reach it.
    assert.throws(
      () => verifyCertificateChain(leaf, { ...opts(new Date('2025-06-01T00:00:00Z')), intermediates: new CertificatePool() }),
      (e: unknown) => e instanceof ChainVerifyError && e.message === 'x509: certificate signed by unknown authority',
    );
  });
});

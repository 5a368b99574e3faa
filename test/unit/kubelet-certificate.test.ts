/**
 * IssueJoinTicket step 10 (+12) in the worker: the kubelet client certificate
 * (join-protocol.md §4). Issued certificates are checked field by field with
 * the Go-compatible parser, verified with node:crypto and — when the
 * `openssl` binary exists — with `openssl verify`; openssl also serves as an
 * independent producer of CSRs and of a kubeadm-like CA. Every refusal is
 * checked against Go's exact error text (verified against Go's
 * x509.ParseCertificateRequest / CheckSignature / CreateCertificate).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Piscina } from 'piscina';
import { children, content, readSingle, Tag, whole } from '../../src/shared/der/decode.js';
import * as der from '../../src/shared/der/encode.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { decodePem, encodePem } from '../../src/shared/pem.js';
import {
  VERIFY_PROTOCOL_VERSION,
  type IssueKubeletCertificateResult,
  type IssueKubeletCertificateTask,
  type WorkerTask,
} from '../../src/shared/worker-protocol.js';
import { parseCertificate, type ParsedCertificate } from '../../src/workers/certificate/parse-certificate.js';
import { caFileClock, caParseCounters, clearCaCache } from '../../src/workers/signing/ca-files.js';
import { goQuote } from '../../src/workers/signing/go-quote.js';
import { issueKubeletCertificate } from '../../src/workers/signing/issue-kubelet-certificate.js';
import runTask from '../../src/workers/worker-entry.js';
import {
  algorithmIdentifier,
  buildCsr,
  extensionRequest,
  flipLastByte,
  freshKey,
  ip,
  key,
  keyPem,
  makeCa,
  name,
  nodeName,
  OID,
  OID_EXTENSION_REQUEST,
  OID_SAN,
  san,
  signWith,
  STRING_TAG,
  writeCaFiles,
  type KeyFormat,
  type KeyKind,
  type TestCa,
} from './support/kubelet-pki.js';

const HOUR_MS = 60 * 60 * 1000;
/** Whole seconds, so validity comparisons are exact. */
const NOW_MS = Math.floor(Date.now() / 1000) * 1000;
const GO_ZERO_PARAMS =
  '{optional:false explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false}';

const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;

let tmpRoot: string;
let dirCounter = 0;

before(async () => {
  tmpRoot = await mkdtemp(path.join(tmpdir(), 'kubelet-cert-test-'));
});
after(async () => {
  await rm(tmpRoot, { recursive: true, force: true });
});

async function pkiDir(ca: TestCa, format: KeyFormat): Promise<string> {
  const dir = path.join(tmpRoot, `pki-${dirCounter++}`);
  await writeCaFiles(dir, ca, format);
  return dir;
}

function task(csr: Uint8Array, dir: string, over: Partial<IssueKubeletCertificateTask> = {}): IssueKubeletCertificateTask {
  return { v: VERIFY_PROTOCOL_VERSION, kind: 'issue-kubelet-certificate', csr, pkiDir: dir, nowMs: NOW_MS, ...over };
}

type Success = Extract<IssueKubeletCertificateResult, { ok: true }>;

async function issue(csr: Uint8Array, dir: string, over: Partial<IssueKubeletCertificateTask> = {}): Promise<Success> {
  const r = await issueKubeletCertificate(task(csr, dir, over));
  assert.equal(r.v, VERIFY_PROTOCOL_VERSION);
  if (!r.ok) assert.fail(`issuance failed: ${r.error.code} ${r.error.message}`);
  assert.ok(r.timings.totalUs >= 0);
  return r;
}

async function refuse(csr: Uint8Array, dir: string, code: ErrorCode, message: string): Promise<void> {
  const r = await issueKubeletCertificate(task(csr, dir));
  assert.equal(r.ok, false, 'issuance unexpectedly succeeded');
  if (r.ok) return;
  assert.equal(r.error.message, message);
  assert.equal(r.error.code, code);
}

function certDer(pem: string): Uint8Array {
  const found = decodePem(pem);
  assert.ok(found, 'no PEM block');
  return new Uint8Array(found.block.bytes);
}

interface Inspected {
  parsed: ParsedCertificate;
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
  signatureAlgorithm: Uint8Array;
  x509: X509Certificate;
}

function inspect(pem: string): Inspected {
  const d = certDer(pem);
  const parsed = parseCertificate(d);
  const [tbs, sigAlg] = children(readSingle(d, Tag.Sequence));
  const f = children(tbs!);
  return {
    parsed,
    serial: content(f[1]!),
    issuer: whole(f[3]!),
    subject: whole(f[5]!),
    spki: whole(f[6]!),
    signatureAlgorithm: whole(sigAlg!),
    x509: new X509Certificate(Buffer.from(d)),
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const SIGNATURE_ALGORITHM_OF_CA: Record<string, string> = {
  rsa: '1.2.840.113549.1.1.11',
  p224: '1.2.840.10045.4.3.2',
  p256: '1.2.840.10045.4.3.2',
  p384: '1.2.840.10045.4.3.3',
  p521: '1.2.840.10045.4.3.4',
  ed25519: '1.3.101.112',
};

/** Everything step 10.5's template table says, for one issued certificate. */
function checkTemplate(pem: string, ca: TestCa, csrSpki: Uint8Array, o: { ips?: Uint8Array[]; subject?: Uint8Array } = {}): Inspected {
  const c = inspect(pem);
  // Verifies against the CA (node:crypto).
  const caCert = new X509Certificate(Buffer.from(ca.certificate));
  assert.equal(c.x509.verify(createPublicKey(ca.key.privateKey)), true, 'signature does not verify with the CA key');
  assert.equal(c.x509.checkIssued(caCert), true);
  assert.equal(c.x509.ca, false);
  // v3, issuer = CA subject bytes, subject, public key.
  assert.equal(c.parsed.version, 3);
  assert.equal(hex(c.issuer), hex(ca.rawSubject));
  assert.equal(hex(c.subject), hex(o.subject ?? nodeName()));
  assert.equal(hex(c.spki), hex(csrSpki));
  // Serial: a positive INTEGER of at most 128 bits.
  assert.ok(c.serial.length >= 1 && c.serial.length <= 17);
  assert.equal(c.serial[0]! & 0x80, 0, 'serial is negative');
  if (c.serial.length === 17) assert.equal(c.serial[0], 0);
  // Validity.
  assert.equal(c.parsed.notBefore.ms, NOW_MS - 2 * HOUR_MS);
  assert.equal(c.parsed.notAfter.ms, NOW_MS + 8760 * HOUR_MS);
  // Signature algorithm from the CA key, inner = outer.
  assert.equal(c.parsed.signatureAlgorithm.oid, SIGNATURE_ALGORITHM_OF_CA[ca.key.kind]);
  assert.equal(hex(c.signatureAlgorithm), hex(algorithmIdentifier(ca.key.kind === 'rsa' ? 'rsa-sha256' : ca.key.kind === 'ed25519' ? 'ed25519' : ca.key.kind === 'p384' ? 'ecdsa-sha384' : ca.key.kind === 'p521' ? 'ecdsa-sha512' : 'ecdsa-sha256')));
  // Extensions, in Go's order, with exact values.
  const expected: Array<[string, boolean, string]> = [
    ['2.5.29.15', true, '030205a0'],
    ['2.5.29.37', false, hex(der.sequence(der.oid('1.3.6.1.5.5.7.3.2'), der.oid('1.3.6.1.5.5.7.3.1')))],
    ['2.5.29.19', true, '3000'],
  ];
  if (ca.subjectKeyId) expected.push(['2.5.29.35', false, hex(der.sequence(der.tlv(0x80, ca.subjectKeyId)))]);
  if (o.ips?.length) expected.push(['2.5.29.17', false, hex(san({ ips: o.ips }))]);
  assert.deepEqual(
    c.parsed.extensions.map((e) => [e.oid, e.critical, hex(e.value)]),
    expected,
  );
  assert.equal(c.parsed.extensions.find((e) => e.oid === '2.5.29.14'), undefined, 'no subjectKeyIdentifier');
  assert.deepEqual(c.x509.keyUsage, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1']);
  return c;
}

const PEM_SHAPE = /^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/;

function opensslVerify(caFile: string, certPem: string, file: string): Promise<string> {
  return writeFile(file, certPem).then(() => execFileSync('openssl', ['verify', '-CAfile', caFile, file], { encoding: 'utf8' }).trim());
}

describe('kubelet certificate issuance', () => {
  const caCases: Array<{ kind: KeyKind; format: KeyFormat; what: string }> = [
    { kind: 'rsa', format: 'pkcs1', what: 'RSA-2048 CA as kubeadm writes it (RSA PRIVATE KEY, SKI)' },
    { kind: 'p256', format: 'sec1', what: 'ECDSA P-256 CA in SEC 1 (EC PRIVATE KEY)' },
    { kind: 'p256', format: 'pkcs8', what: 'ECDSA P-256 CA in PKCS #8' },
    { kind: 'p384', format: 'pkcs8', what: 'ECDSA P-384 CA (ecdsa-with-SHA384)' },
    { kind: 'p521', format: 'sec1', what: 'ECDSA P-521 CA (ecdsa-with-SHA512)' },
    { kind: 'p224', format: 'sec1', what: 'ECDSA P-224 CA (ecdsa-with-SHA256, as Go)' },
    { kind: 'ed25519', format: 'pkcs8', what: 'Ed25519 CA in PKCS #8' },
  ];
  for (const { kind, format, what } of caCases) {
    it(`signs with a ${what}`, async () => {
      const ca = makeCa(kind);
      const dir = await pkiDir(ca, format);
      const ips = [ip('10.0.0.5'), ip('fd00::17')];
      const csr = buildCsr({ extensions: [{ oid: OID_SAN, value: san({ dns: ['worker-1.example'], ips }) }] });
      const r = await issue(csr, dir);
      assert.match(r.certificatePem, PEM_SHAPE);
      assert.equal(r.nodeName, 'worker-1');
      checkTemplate(r.certificatePem, ca, key('p256').spki, { ips });
      if (HAVE_OPENSSL) assert.match(await opensslVerify(path.join(dir, 'ca.crt'), r.certificatePem, path.join(dir, 'kubelet.crt')), /: OK$/);
    });
  }

  it('omits the authorityKeyIdentifier when the CA certificate has no SKI', async () => {
    const ca = makeCa('p256', { subjectKeyId: false, fresh: true });
    const r = await issue(buildCsr(), await pkiDir(ca, 'sec1'));
    const c = checkTemplate(r.certificatePem, ca, key('p256').spki);
    assert.equal(c.parsed.extensions.find((e) => e.oid === '2.5.29.35'), undefined);
  });

  it('carries the CSR public key of every key type, signed with SHA-1, SHA-2, PSS or Ed25519', async () => {
    const ca = makeCa('rsa');
    const dir = await pkiDir(ca, 'pkcs1');
    const cases: Array<{ k: KeyKind; alg?: Parameters<typeof buildCsr>[0] extends infer O ? (O extends { sigAlg?: infer A } ? A : never) : never }> = [
      { k: 'rsa' },
      { k: 'rsa', alg: 'rsa-sha1' },
      { k: 'rsa', alg: 'rsa-sha512' },
      { k: 'rsa', alg: 'rsa-pss-sha256' },
      { k: 'p256', alg: 'ecdsa-sha1' },
      { k: 'p384' },
      { k: 'p521', alg: 'ecdsa-sha256' },
      { k: 'p224' },
      { k: 'ed25519' },
    ];
    for (const { k, alg } of cases) {
      const r = await issue(buildCsr({ key: key(k), ...(alg ? { sigAlg: alg } : {}) }), dir);
      checkTemplate(r.certificatePem, ca, key(k).spki);
    }
  });

  it('puts only the IP addresses of the requested SAN into the certificate', async () => {
    const ca = makeCa('p256');
    const dir = await pkiDir(ca, 'sec1');
    // DNS names, e-mail addresses and URIs only: no SAN at all.
    let r = await issue(buildCsr({ extensions: [{ oid: OID_SAN, value: san({ dns: ['a.example'], emails: ['a@example.com'], uris: ['https://x.example/'] }) }] }), dir);
    let c = checkTemplate(r.certificatePem, ca, key('p256').spki);
    assert.equal(c.x509.subjectAltName, undefined);
    // Order kept; an IPv4-mapped IPv6 address is written as 4 bytes (net.IP.To4).
    r = await issue(
      buildCsr({ extensions: [{ oid: OID_SAN, value: san({ ips: [ip('192.168.178.1'), ip('::ffff:10.9.8.7'), ip('2001:db8::1')], dns: ['x'] }) }] }),
      dir,
    );
    c = checkTemplate(r.certificatePem, ca, key('p256').spki, { ips: [ip('192.168.178.1'), ip('10.9.8.7'), ip('2001:db8::1')] });
    assert.equal(c.x509.subjectAltName, 'IP Address:192.168.178.1, IP Address:10.9.8.7, IP Address:2001:DB8:0:0:0:0:0:1');
    // Attributes that do not parse are ignored; the extensionRequest after them still counts.
    r = await issue(
      buildCsr({ rawAttributes: [der.integer(7), der.sequence(der.oid('1.2.3.4'), der.set())], extensions: [{ oid: OID_SAN, value: san({ ips: [ip('1.2.3.4')] }) }] }),
      dir,
    );
    checkTemplate(r.certificatePem, ca, key('p256').spki, { ips: [ip('1.2.3.4')] });
  });

  it("re-encodes the subject from pkix.Name's standard attributes in Go's order", async () => {
    const ca = makeCa('p256');
    const dir = await pkiDir(ca, 'sec1');
    const subject = name(
      [
        { oid: OID.EMAIL, value: 'ops@example.com', tag: STRING_TAG.ia5 },
        { oid: OID.C, value: 'DE' },
      ],
      [
        { oid: OID.OU, value: 'zeta' },
        { oid: OID.OU, value: 'a*b' },
        { oid: OID.OU, value: 'Bär', tag: STRING_TAG.utf8 },
      ],
      [{ oid: OID.O, value: 'system:nodes', tag: STRING_TAG.utf8 }],
      [{ oid: OID.CN, value: 'system:node:first' }],
      [{ oid: OID.L, value: 'Bochum', tag: STRING_TAG.bmp }],
      [{ oid: OID.CN, value: 'system:node:worker-7' }],
      [{ oid: OID.SERIAL_NUMBER, value: '42' }],
      [{ oid: OID.DC, value: 'example', tag: STRING_TAG.ia5 }],
      // An O whose value is not a string (INTEGER 5) and an empty RDN: both ignored by Go.
      [{ oid: OID.O, value: Uint8Array.of(5), tag: 0x02 }],
      [],
    );
    const r = await issue(buildCsr({ subject }), dir);
    // Last CN wins; the e-mail and DC attributes and the INTEGER O are dropped; one RDN per type,
    // several OUs in one multi-valued RDN sorted as DER SET OF; '*' and
    // non-ASCII values become UTF8String, the rest PrintableString.
    const ou = [der.sequence(der.oid(OID.OU), der.printableString('zeta')), der.sequence(der.oid(OID.OU), der.utf8String('a*b')), der.sequence(der.oid(OID.OU), der.utf8String('Bär'))].sort(
      (a, b) => Buffer.compare(a, b),
    );
    const expected = der.sequence(
      der.set(der.sequence(der.oid(OID.C), der.printableString('DE'))),
      der.set(der.sequence(der.oid(OID.L), der.printableString('Bochum'))),
      der.set(der.sequence(der.oid(OID.O), der.printableString('system:nodes'))),
      der.set(...ou),
      der.set(der.sequence(der.oid(OID.CN), der.printableString('system:node:worker-7'))),
      der.set(der.sequence(der.oid(OID.SERIAL_NUMBER), der.printableString('42'))),
    );
    checkTemplate(r.certificatePem, ca, key('p256').spki, { subject: expected });
    assert.equal(r.nodeName, 'worker-7');
  });

  it('returns the node name of a UTF-8 common name (step 12)', async () => {
    const dir = await pkiDir(makeCa('p256'), 'sec1');
    const r = await issue(buildCsr({ subject: name([{ oid: OID.O, value: 'system:nodes' }], [{ oid: OID.CN, value: 'system:node:knoten-ä', tag: STRING_TAG.utf8 }]) }), dir);
    assert.equal(r.nodeName, 'knoten-ä');
  });

  it('draws a fresh random serial each time', async () => {
    const dir = await pkiDir(makeCa('p256'), 'sec1');
    const serials = new Set<string>();
    for (let i = 0; i < 20; i++) serials.add(hex(inspect((await issue(buildCsr(), dir)).certificatePem).serial));
    assert.equal(serials.size, 20);
  });
});

describe('kubelet certificate refusals (Go error texts)', () => {
  let dir: string;
  before(async () => {
    dir = await pkiDir(makeCa('rsa'), 'pkcs1');
  });
  const csr = (o: Parameters<typeof buildCsr>[0] = {}): Uint8Array => buildCsr(o);
  const R = ErrorCode.KubeletCsrRejected;

  it('bad CSR signatures', async () => {
    await refuse(csr({ mangleSignature: flipLastByte }), dir, R, 'x509: ECDSA verification failure');
    await refuse(csr({ key: key('rsa'), mangleSignature: flipLastByte }), dir, R, 'crypto/rsa: verification error');
    await refuse(csr({ key: key('rsa'), mangleSignature: (s) => s.subarray(1) }), dir, R, 'crypto/rsa: verification error');
    await refuse(csr({ key: key('ed25519'), mangleSignature: flipLastByte }), dir, R, 'x509: Ed25519 verification failure');
    await refuse(csr({ signingKey: freshKey('p256').privateKey }), dir, R, 'x509: ECDSA verification failure');
  });

  it('refuses MD5, unknown and mismatched signature algorithms; accepts SHA-1', async () => {
    await refuse(csr({ key: key('rsa'), sigAlg: 'rsa-md5' }), dir, R, 'x509: cannot verify signature: insecure algorithm MD5-RSA');
    await refuse(csr({ algorithmIdentifier: der.sequence(der.oid('1.2.3.4')) }), dir, R, 'x509: cannot verify signature: algorithm unimplemented');
    await refuse(
      csr({ key: key('rsa'), algorithmIdentifier: der.sequence(der.oid('1.2.840.113549.1.1.2'), Uint8Array.of(5, 0)) }),
      dir,
      R,
      'x509: cannot verify signature: algorithm unimplemented',
    );
    await refuse(
      csr({ key: key('rsa'), algorithmIdentifier: algorithmIdentifier('ecdsa-sha256') }),
      dir,
      R,
      'x509: signature algorithm specifies an ECDSA public key, but have public key of type *rsa.PublicKey',
    );
    await refuse(
      csr({ algorithmIdentifier: algorithmIdentifier('ed25519') }),
      dir,
      R,
      'x509: signature algorithm specifies an Ed25519 public key, but have public key of type *ecdsa.PublicKey',
    );
    await refuse(
      csr({ key: key('ed25519'), algorithmIdentifier: der.sequence(der.oid('1.3.101.112'), Uint8Array.of(5, 0)) }),
      dir,
      R,
      'x509: cannot verify signature: algorithm unimplemented',
    );
    await refuse(csr({ key: key('rsa512') }), dir, R, 'crypto/rsa: 512-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)');
    // X25519 keys cannot sign: Go has no verifier for them.
    await refuse(csr({ spki: key('x25519').spki }), dir, R, 'x509: cannot verify signature: algorithm unimplemented');
    await issue(csr({ key: key('rsa'), sigAlg: 'rsa-sha1' }), dir);
    await issue(csr({ sigAlg: 'ecdsa-sha1' }), dir);
  });

  it('subject rules', async () => {
    const O = (value: string | Uint8Array, tag?: number) => [{ oid: OID.O, value, ...(tag ? { tag } : {}) }];
    const CN = (value: string | Uint8Array, tag?: number) => [{ oid: OID.CN, value, ...(tag ? { tag } : {}) }];
    const one = 'certificate request must have exactly one organization';
    await refuse(csr({ subject: name(O('system:nodes'), O('system:masters'), CN('system:node:a')) }), dir, R, one);
    await refuse(csr({ subject: name([...O('system:nodes'), ...O('system:nodes')], CN('system:node:a')) }), dir, R, one);
    await refuse(csr({ subject: name(CN('system:node:a')) }), dir, R, one);
    // A VisibleString is not a string to Go's ANY decoding: the O is ignored.
    await refuse(csr({ subject: name(O('system:nodes', STRING_TAG.visible), CN('system:node:a')) }), dir, R, one);
    await refuse(
      csr({ subject: name(O('system:masters'), CN('system:node:a')) }),
      dir,
      R,
      'certificate request must have organization "system:nodes" but has "system:masters"',
    );
    await refuse(
      csr({ subject: name(O('System:Nodes'), CN('system:node:a')) }),
      dir,
      R,
      'certificate request must have organization "system:nodes" but has "System:Nodes"',
    );
    await refuse(
      csr({ subject: name(O('system:nodes'), CN('worker-1')) }),
      dir,
      R,
      'certificate request must have common name prefix "system:node:" but is "worker-1"',
    );
    await refuse(csr({ subject: name(O('system:nodes')) }), dir, R, 'certificate request must have common name prefix "system:node:" but is ""');
    await refuse(
      csr({ subject: name(O('system:nodes'), CN('wörker\u00a0"\\\n\u{1F600}', STRING_TAG.utf8)) }),
      dir,
      R,
      'certificate request must have common name prefix "system:node:" but is "wörker\\u00a0\\"\\\\\\n😀"',
    );
    await refuse(
      csr({ subject: name(O('system:nodes'), CN(Uint8Array.of(0x61, 0xff, 0x07), STRING_TAG.t61)) }),
      dir,
      R,
      'certificate request must have common name prefix "system:node:" but is "a\\xff\\a"',
    );
    // Other string types are fine for Go: a BMPString O and a UTF8String CN pass.
    await issue(csr({ subject: name(O('system:nodes', STRING_TAG.bmp), CN('system:node:a', STRING_TAG.utf8)) }), dir);
    // A T61String CN that is not UTF-8 passes the checks but cannot be marshalled into the certificate.
    await refuse(
      csr({ subject: name(O('system:nodes'), CN(Buffer.concat([Buffer.from('system:node:'), Uint8Array.of(0xff)]), STRING_TAG.t61)) }),
      dir,
      R,
      'asn1: string not valid UTF-8',
    );
  });

  it('malformed CSRs, PEM instead of DER', async () => {
    const good = csr();
    const pemCsr = Buffer.from(encodePem('CERTIFICATE REQUEST', good));
    await refuse(
      pemCsr,
      dir,
      R,
      `asn1: structure error: tags don't match (16 vs {class:0 tag:13 length:45 isCompound:true}) ${GO_ZERO_PARAMS} certificateRequest @2`,
    );
    await refuse(
      Buffer.from('not a csr at all'),
      dir,
      R,
      `asn1: structure error: tags don't match (16 vs {class:1 tag:14 length:111 isCompound:true}) ${GO_ZERO_PARAMS} certificateRequest @2`,
    );
    await refuse(new Uint8Array(0), dir, R, 'asn1: syntax error: sequence truncated');
    await refuse(Uint8Array.of(0x30), dir, R, 'asn1: syntax error: truncated tag or length');
    await refuse(Uint8Array.of(0x30, 0x80, 0, 0), dir, R, 'asn1: syntax error: indefinite length found (not DER)');
    await refuse(Uint8Array.of(0x30, 0x81, 0x03, 1, 2, 3), dir, R, 'asn1: structure error: non-minimal length');
    await refuse(Buffer.concat([good, Uint8Array.of(0)]), dir, R, 'asn1: syntax error: trailing data');
    await refuse(good.subarray(0, good.length - 10), dir, R, 'asn1: syntax error: data truncated');
    await refuse(
      der.sequence(der.sequence(der.oid('1.2.3'))),
      dir,
      R,
      `asn1: structure error: tags don't match (2 vs {class:0 tag:6 length:2 isCompound:false}) ${GO_ZERO_PARAMS} int @2`,
    );
    await refuse(der.sequence(der.sequence(der.tlv(2, Buffer.alloc(9, 1)))), dir, R, 'asn1: structure error: integer too large');
    // No attributes field at all ([0] is not optional for Go).
    const k = key('p256');
    const tbs = der.sequence(der.integer(0), nodeName(), k.spki);
    await refuse(der.sequence(tbs, algorithmIdentifier('ecdsa-sha256'), der.bitString(signWith('ecdsa-sha256', tbs, k.privateKey))), dir, R, 'asn1: syntax error: sequence truncated');
    // Bad padding bits in the signature BIT STRING.
    const tbs2 = der.sequence(der.integer(0), nodeName(), k.spki, der.tlv(0xa0));
    await refuse(der.sequence(tbs2, algorithmIdentifier('ecdsa-sha256'), der.tlv(3, Uint8Array.of(8, 0))), dir, R, 'asn1: syntax error: invalid padding bits in BIT STRING');
  });

  it('malformed subjects, public keys and requested extensions', async () => {
    await refuse(csr({ subject: name([{ oid: OID.O, value: 'system:nodes' }], [{ oid: OID.CN, value: 'system:node:a_b' }]) }), dir, R, 'asn1: syntax error: PrintableString contains invalid character');
    await refuse(csr({ subject: name([{ oid: OID.CN, value: Uint8Array.of(0xff), tag: STRING_TAG.utf8 }]) }), dir, R, 'asn1: invalid UTF-8 string');
    await refuse(csr({ subject: der.sequence(der.sequence()) }), dir, R, 'asn1: structure error: sequence tag mismatch');
    await refuse(
      csr({ subject: der.set() }),
      dir,
      R,
      `asn1: structure error: tags don't match (16 vs {class:0 tag:17 length:0 isCompound:true}) ${GO_ZERO_PARAMS} RDNSequence @2`,
    );
    const badPoint = Buffer.from(key('p256').spki);
    badPoint[badPoint.length - 1]! ^= 1;
    await refuse(csr({ spki: badPoint }), dir, R, 'x509: failed to unmarshal elliptic curve point');
    const twoSans = [
      { oid: OID_SAN, value: san({ dns: ['a'] }) },
      { oid: OID_SAN, value: san({ dns: ['b'] }) },
    ];
    await refuse(csr({ extensions: twoSans }), dir, R, 'x509: certificate request contains duplicate requested extensions');
    await refuse(
      csr({ rawAttributes: [extensionRequest([{ oid: OID_SAN, value: san({ dns: ['a'] }) }])], extensions: [{ oid: OID_SAN, value: san({ dns: ['b'] }) }] }),
      dir,
      R,
      'x509: certificate request contains duplicate requested extensions',
    );
    await refuse(csr({ extensions: [{ oid: OID_SAN, value: san({ ips: [new Uint8Array(5)] }) }] }), dir, R, 'x509: cannot parse IP address of length 5');
    await refuse(csr({ extensions: [{ oid: OID_SAN, value: Uint8Array.of(1, 2, 3) }] }), dir, R, 'x509: invalid subject alternative names');
    await refuse(csr({ extensions: [{ oid: OID_SAN, value: san({ dns: ['bä'] }) }] }), dir, R, 'x509: SAN dNSName is malformed');
    await refuse(
      csr({ rawAttributes: [der.sequence(der.oid(OID_EXTENSION_REQUEST), der.set(der.set()))] }),
      dir,
      R,
      `asn1: structure error: tags don't match (16 vs {class:0 tag:17 length:0 isCompound:true}) ${GO_ZERO_PARAMS}  @2`,
    );
    await refuse(
      csr({ rawAttributes: [der.sequence(der.oid(OID_EXTENSION_REQUEST), der.set(der.sequence(der.sequence(der.oid('1.2.3'), der.tlv(1, Uint8Array.of(1)), der.octetString(Uint8Array.of(1))))))] }),
      dir,
      R,
      'asn1: syntax error: invalid boolean',
    );
  });

  it('answers malformed tasks with PoolProtocol', async () => {
    const good = csr();
    const bad: Array<[unknown, RegExp]> = [
      [null, /not an object/],
      [{ ...task(good, dir), v: 99 }, /protocol version 99/],
      [{ ...task(good, dir), kind: 'sign-anything' }, /unknown kind/],
      [{ ...task(good, dir), csr: 'x' }, /csr is not bytes/],
      [{ ...task(good, dir), pkiDir: '' }, /pkiDir/],
      [{ ...task(good, dir), nowMs: Number.NaN }, /nowMs/],
    ];
    for (const [t, re] of bad) {
      const r = await issueKubeletCertificate(t as IssueKubeletCertificateTask);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, ErrorCode.PoolProtocol);
        assert.match(r.error.message, re);
      }
    }
  });
});

describe('kubelet certificate: CA files', () => {
  const A = ErrorCode.KubeletCaUnavailable;
  const good = (): Uint8Array => buildCsr();

  async function dirWith(files: { crt?: string | Uint8Array; key?: string | Uint8Array }): Promise<string> {
    const dir = path.join(tmpRoot, `files-${dirCounter++}`);
    await mkdir(dir, { recursive: true });
    if (files.crt !== undefined) await writeFile(path.join(dir, 'ca.crt'), files.crt);
    if (files.key !== undefined) await writeFile(path.join(dir, 'ca.key'), files.key);
    return dir;
  }

  it("missing or unreadable files (Go's PathError texts)", async () => {
    const ca = makeCa('p256');
    let dir = await dirWith({ key: keyPem(ca.key, 'sec1') });
    await refuse(good(), dir, A, `open ${path.join(dir, 'ca.crt')}: no such file or directory`);
    dir = await dirWith({ crt: ca.certificatePem });
    await refuse(good(), dir, A, `open ${path.join(dir, 'ca.key')}: no such file or directory`);
    // ca.crt is read and parsed before ca.key is looked at.
    dir = await dirWith({ crt: 'no pem here' });
    await refuse(good(), dir, A, 'decoding pem: no PEM data found');
    dir = await dirWith({ key: keyPem(ca.key, 'sec1') });
    await mkdir(path.join(dir, 'ca.crt'));
    await refuse(good(), dir, A, `read ${path.join(dir, 'ca.crt')}: is a directory`);
  });

  it('ca.crt: first PEM block of any type, parsed as a certificate', async () => {
    const ca = makeCa('p256');
    const k = keyPem(ca.key, 'sec1');
    await refuse(good(), await dirWith({ crt: 'no PEM data\n', key: k }), A, 'decoding pem: no PEM data found');
    await refuse(good(), await dirWith({ crt: encodePem('CERTIFICATE', Buffer.from('xx')), key: k }), A, 'parsing certificate: x509: malformed certificate');
    // The block type is not checked, and only the first block counts.
    await issue(good(), await dirWith({ crt: encodePem('TRUSTED THING', ca.certificate) + encodePem('CERTIFICATE', Buffer.from('xx')), key: k }));
    await refuse(good(), await dirWith({ crt: encodePem('CERTIFICATE', Buffer.from('xx')) + ca.certificatePem, key: k }), A, 'parsing certificate: x509: malformed certificate');
  });

  it('ca.key: block types and Go parse errors', async () => {
    const ca = makeCa('p256');
    const rsaCa = makeCa('rsa');
    const p256 = key('p256');
    const exp = (type: 'pkcs1' | 'sec1' | 'pkcs8', k = p256): Buffer => k.privateKey.export({ format: 'der', type } as never) as unknown as Buffer;
    const cases: Array<[TestCa, string, string]> = [
      [ca, encodePem('ENCRYPTED PRIVATE KEY', Buffer.from('x')), 'unsupported key type "ENCRYPTED PRIVATE KEY"'],
      [ca, encodePem('PUBLIC KEY', p256.spki), 'unsupported key type "PUBLIC KEY"'],
      [ca, encodePem('EC PRIVATE KEY', exp('pkcs8')), 'x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)'],
      [rsaCa, encodePem('EC PRIVATE KEY', exp('pkcs1', key('rsa'))), 'x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)'],
      [ca, encodePem('RSA PRIVATE KEY', exp('sec1')), 'x509: failed to parse private key (use ParseECPrivateKey instead for this key format)'],
      [rsaCa, encodePem('PRIVATE KEY', exp('pkcs1', key('rsa'))), 'x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)'],
      [
        ca,
        encodePem('EC PRIVATE KEY', Buffer.from('garbage!')),
        `x509: failed to parse EC private key: asn1: structure error: tags don't match (16 vs {class:1 tag:7 length:97 isCompound:true}) ${GO_ZERO_PARAMS} ecPrivateKey @2`,
      ],
      [rsaCa, encodePem('RSA PRIVATE KEY', Buffer.concat([exp('pkcs1', key('rsa')), Uint8Array.of(0)])), 'asn1: syntax error: trailing data'],
      [ca, encodePem('PRIVATE KEY', exp('pkcs8', key('ed448'))), 'x509: PKCS#8 wrapping contained private key with unknown algorithm: 1.3.101.113'],
      [ca, encodePem('PRIVATE KEY', exp('pkcs8', key('x25519'))), 'x509: certificate private key does not implement crypto.Signer'],
      [ca, encodePem('EC PRIVATE KEY', der.sequence(der.integer(1), der.octetString(Buffer.alloc(32, 0x11)))), 'x509: unknown elliptic curve'],
      [
        ca,
        encodePem('EC PRIVATE KEY', der.sequence(der.integer(1), der.octetString(Buffer.alloc(32, 0xff)), der.explicit(0, der.oid('1.2.840.10045.3.1.7')))),
        'x509: invalid elliptic curve private key value',
      ],
      [ca, encodePem('EC PRIVATE KEY', exp('sec1', freshKey('p256'))), "x509: provided PrivateKey doesn't match parent's PublicKey"],
      [ca, encodePem('RSA PRIVATE KEY', exp('pkcs1', key('rsa'))), "x509: provided PrivateKey doesn't match parent's PublicKey"],
    ];
    for (const [c, k, message] of cases) await refuse(good(), await dirWith({ crt: c.certificatePem, key: k }), A, message);
  });

  it('ca.key without any PEM block: a clear error where Go would crash', async () => {
    const ca = makeCa('p256');
    const dir = await dirWith({ crt: ca.certificatePem, key: 'this is not PEM' });
    await refuse(good(), dir, A, `decoding pem: no PEM data found in ${path.join(dir, 'ca.key')}`);
  });

  it('parses each CA once per worker, checks the files for every task, re-reads them only when changed', async () => {
    clearCaCache();
    const realNow = caFileClock.now;
    // 10 s ahead: the just-written files count as settled (no racy-window re-reads).
    caFileClock.now = () => realNow() + 10_000;
    try {
      const ca = makeCa('rsa');
      const dir = await pkiDir(ca, 'pkcs1');
      const before = { ...caParseCounters };
      for (let i = 0; i < 5; i++) await issue(buildCsr(), dir);
      assert.equal(caParseCounters.certificates - before.certificates, 1);
      assert.equal(caParseCounters.keys - before.keys, 1);
      assert.equal(caParseCounters.reads - before.reads, 2, 'unchanged files: stat only');
      // Same content in another directory: read, but not parsed again (keyed by content).
      const copy = path.join(tmpRoot, `copy-${dirCounter++}`);
      await mkdir(copy);
      await writeFile(path.join(copy, 'ca.crt'), await readFile(path.join(dir, 'ca.crt')));
      await writeFile(path.join(copy, 'ca.key'), await readFile(path.join(dir, 'ca.key')));
      await issue(buildCsr(), copy);
      assert.equal(caParseCounters.keys - before.keys, 1);
      assert.equal(caParseCounters.reads - before.reads, 4);
      // A rotated CA (rewritten in place) takes effect at once.
      const rotated = makeCa('p256', { fresh: true, commonName: 'kubernetes-2' });
      await writeCaFiles(dir, rotated, 'sec1');
      const r = await issue(buildCsr(), dir);
      checkTemplate(r.certificatePem, rotated, key('p256').spki);
      assert.equal(caParseCounters.keys - before.keys, 2);
      // A removed key fails the next task even though it is cached.
      await unlink(path.join(dir, 'ca.key'));
      await refuse(buildCsr(), dir, A, `open ${path.join(dir, 'ca.key')}: no such file or directory`);
      await refuse(buildCsr(), dir, A, `open ${path.join(dir, 'ca.key')}: no such file or directory`);
    } finally {
      caFileClock.now = realNow;
    }
  });

  it('just-written CA files are re-read on every task (coarse timestamps) but parsed once', async () => {
    clearCaCache();
    const ca = makeCa('p256');
    const dir = await pkiDir(ca, 'sec1');
    const before = { ...caParseCounters };
    for (let i = 0; i < 3; i++) await issue(buildCsr(), dir);
    assert.equal(caParseCounters.reads - before.reads, 6);
    assert.equal(caParseCounters.keys - before.keys, 1);
  });
});

describe('kubelet certificate: openssl as an independent producer and verifier', { skip: !HAVE_OPENSSL && 'openssl not installed' }, () => {
  const run = (dir: string, ...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('signs openssl CSRs with an openssl-made kubeadm-style CA', async () => {
    const dir = path.join(tmpRoot, `openssl-${dirCounter++}`);
    await mkdir(dir);
    run(dir, 'genrsa', '-traditional', '-out', 'ca.key', '2048');
    assert.match(await readFile(path.join(dir, 'ca.key'), 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
    run(dir, 'req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=kubernetes', '-days', '2', '-out', 'ca.crt');
    run(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'node.key');
    run(dir, 'req', '-new', '-key', 'node.key', '-subj', '/O=system:nodes/CN=system:node:ossl-1', '-addext', 'subjectAltName=IP:10.1.2.3,IP:fd00::1,DNS:node.example', '-outform', 'DER', '-out', 'csr.der');
    const csr = await readFile(path.join(dir, 'csr.der'));
    const r = await issue(csr, dir, { nowMs: Date.now() });
    assert.equal(r.nodeName, 'ossl-1');
    assert.match(await opensslVerify(path.join(dir, 'ca.crt'), r.certificatePem, path.join(dir, 'kubelet.crt')), /: OK$/);
    const text = run(dir, 'x509', '-in', 'kubelet.crt', '-noout', '-text');
    assert.match(text, /Subject: O ?= ?system:nodes, CN ?= ?system:node:ossl-1/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /X509v3 Extended Key Usage: \s*TLS Web Client Authentication, TLS Web Server Authentication/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Subject Alternative Name: \s*IP Address:10\.1\.2\.3, IP Address:FD00:0:0:0:0:0:0:1\n/);
    assert.match(text, /X509v3 Authority Key Identifier: /);
    assert.doesNotMatch(text, /Subject Key Identifier/);
    // The certificate carries the CSR's key.
    const csrKey = createPublicKey({ key: await readFile(path.join(dir, 'node.key')) }).export({ format: 'der', type: 'spki' });
    assert.equal(hex(new X509Certificate(r.certificatePem).publicKey.export({ format: 'der', type: 'spki' })), hex(csrKey));
  });

  it('accepts an openssl SHA-1 CSR and refuses an MD5 one', async () => {
    const dir = await pkiDir(makeCa('p256'), 'sec1');
    run(dir, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'node.key');
    run(dir, 'req', '-new', '-key', 'node.key', '-sha1', '-subj', '/O=system:nodes/CN=system:node:sha1', '-outform', 'DER', '-out', 'sha1.der');
    const r = await issue(await readFile(path.join(dir, 'sha1.der')), dir, { nowMs: Date.now() });
    assert.match(await opensslVerify(path.join(dir, 'ca.crt'), r.certificatePem, path.join(dir, 'kubelet.crt')), /: OK$/);
    let md5: Buffer | undefined;
    try {
      run(dir, 'req', '-new', '-key', 'node.key', '-md5', '-subj', '/O=system:nodes/CN=system:node:md5', '-outform', 'DER', '-out', 'md5.der');
      md5 = await readFile(path.join(dir, 'md5.der'));
    } catch {
      md5 = undefined; // an OpenSSL build without MD5 signing
    }
    if (md5) await refuse(md5, dir, ErrorCode.KubeletCsrRejected, 'x509: cannot verify signature: insecure algorithm MD5-RSA');
    // PEM output of openssl is refused like any non-DER input.
    run(dir, 'req', '-new', '-key', 'node.key', '-subj', '/O=system:nodes/CN=system:node:pem', '-out', 'csr.pem');
    await refuse(
      await readFile(path.join(dir, 'csr.pem')),
      dir,
      ErrorCode.KubeletCsrRejected,
      `asn1: structure error: tags don't match (16 vs {class:0 tag:13 length:45 isCompound:true}) ${GO_ZERO_PARAMS} certificateRequest @2`,
    );
  });
});

describe('kubelet certificate through the worker entry', () => {
  it('runs via the worker-entry dispatcher', async () => {
    const ca = makeCa('rsa');
    const dir = await pkiDir(ca, 'pkcs1');
    const r = (await runTask(task(buildCsr(), dir) as WorkerTask)) as IssueKubeletCertificateResult;
    assert.equal(r.ok, true);
    if (r.ok) checkTemplate(r.certificatePem, ca, key('p256').spki);
  });

  it('runs in a piscina worker thread', async () => {
    const ca = makeCa('p256');
    const dir = await pkiDir(ca, 'sec1');
    const pool = new Piscina<WorkerTask, IssueKubeletCertificateResult>({
      filename: new URL('../../src/workers/worker-entry.js', import.meta.url).href,
      minThreads: 1,
      maxThreads: 1,
    });
    try {
      const ok = await pool.run(task(buildCsr({ extensions: [{ oid: OID_SAN, value: san({ ips: [ip('10.0.0.9')] }) }] }), dir));
      assert.equal(ok.ok, true);
      if (ok.ok) {
        assert.equal(ok.nodeName, 'worker-1');
        checkTemplate(ok.certificatePem, ca, key('p256').spki, { ips: [ip('10.0.0.9')] });
      }
      const bad = await pool.run(task(buildCsr({ subject: name([{ oid: OID.O, value: 'system:masters' }], [{ oid: OID.CN, value: 'system:node:x' }]) }), dir));
      assert.equal(bad.ok, false);
      if (!bad.ok) {
        assert.equal(bad.error.code, ErrorCode.KubeletCsrRejected);
        assert.equal(bad.error.message, 'certificate request must have organization "system:nodes" but has "system:masters"');
      }
    } finally {
      await pool.destroy();
    }
  });
});

describe("Go's %q", () => {
  it('quotes like strconv.Quote', () => {
    assert.equal(goQuote('system:nodes'), '"system:nodes"');
    assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(goQuote('\x00\x07\x08\t\n\x0b\x0c\r\x1b\x7f'), '"\\x00\\a\\b\\t\\n\\v\\f\\r\\x1b\\x7f"');
    assert.equal(goQuote('ü€😀'), '"ü€😀"');
    assert.equal(goQuote('\u00a0\u00ad\u200b\u2028\ufeff'), '"\\u00a0\\u00ad\\u200b\\u2028\\ufeff"');
    assert.equal(goQuote('\u{e0001}'), '"\\U000e0001"');
    assert.equal(goQuote(Uint8Array.of(0x61, 0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80)), '"a\\xff\\xc3(\\xed\\xa0\\x80"');
  });
});

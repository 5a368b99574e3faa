/**
 * The AMD certificate chain of SEV-SNP reports (sev-snp-attestation.md §6,
 * §8, §9.1): the embedded roots (byte-identical to ../shared/vectors/amd), the
 * real Constellation VCEK/VLEK chains with the clock pinned inside their
 * validity, product detection, the trust-anchor rules (amdRootKey,
 * amdSigningKey, node-sent ASK/ARK), every check failing on its own (real
 * certificates tampered, and a synthetic RSA-4096/RSA-PSS chain generated
 * once per run), and the chain cache.
 */
import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPair, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as der from '../../src/shared/der/encode.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { decodeAllPem, encodePem } from '../../src/shared/pem.js';
import { EMBEDDED_AMD_CHAINS, embeddedAmdCertificates } from '../../src/workers/attestation/snp/chain/amd-roots.js';
import { SnpChainCache, snpChainCacheKey } from '../../src/workers/attestation/snp/chain/chain-cache.js';
import { KDS_OID } from '../../src/workers/attestation/snp/chain/kds-extensions.js';
import {
  cpuid1EaxFromFms,
  parseKdsProductName,
  productLineFromCpuid1Eax,
  productLineOfArkCommonName,
  productOfIntermediateCommonName,
  reportProductLine,
} from '../../src/workers/attestation/snp/chain/product.js';
import { verifySnpReportSignatureOfReport } from '../../src/workers/attestation/snp/chain/report-signature.js';
import { checkKdsAgainstReport } from '../../src/workers/attestation/snp/chain/kds-extensions.js';
import {
  createAmdTrust,
  embeddedAnchor,
  verifyAmdCertChain,
  verifySnpChain,
  type AmdTrust,
  type SnpChainInput,
} from '../../src/workers/attestation/snp/chain/verify-chain.js';
import { CONSTELLATION_ATTESTATION as C, readVector, readVectorBase64, readVectorText } from '../helpers/vectors.js';

// ---- time ------------------------------------------------------------------------------

const DAY = 24 * 60 * 60 * 1000;
/** Inside the Azure VCEK (2023-08-30 – 2030-08-30), the ARK/ASK/ASVK and vlek.pem (2023-07-19 – 2024-07-19) windows. */
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
/** Inside the AWS VLEK's window (2024-12-10 – 2025-12-10). */
const AWS_NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// ---- real vectors ----------------------------------------------------------------------

const ders = (pem: string): Uint8Array[] => decodeAllPem(pem).map((b) => new Uint8Array(b.bytes));
const CERTCHAIN_PEM = readVectorText(`${C}/snp/testdata/certchain.pem`, '22e62f8d2c21a156470145fc75f7b5a377cb053ced3e97f0bd3f8d8ca5941ce6');
const [MILAN_ASK, MILAN_ARK] = ders(CERTCHAIN_PEM) as [Uint8Array, Uint8Array];
const [MILAN_ASVK] = ders(readVectorText(`${C}/snp/testdata/vlekcertchain.pem`, '3098f7e90ee7049b8cf116448d1bdf33b08847b4250bd99507cf73b5c49d3467')) as [Uint8Array];
const AWS_CHAIN = ders(readVectorText(`${C}/aws/snp/testdata/certchain.pem`, '3098f7e90ee7049b8cf116448d1bdf33b08847b4250bd99507cf73b5c49d3467'));
const VCEK = ders(readVectorText(`${C}/snp/testdata/vcek.pem`, 'b8801d0e849361c13bd73c6482808b3bdbb51bb73a8e19b045f0f80d1f14092e'))[0]!;
const VCEK_CERT = new Uint8Array(readVector(`${C}/snp/testdata/vcek.cert`, 'b68af9a570db2b79fe686495dcb2c18f164ddcced5661781177012bbe67e564d'));
const VLEK = ders(readVectorText(`${C}/snp/testdata/vlek.pem`, '3efb601e08235ecae3d7edfae308cd9c073538003f7794d3a39c95a0c17ad3df'))[0]!;
const AWS_VLEK = ders(readVectorText(`${C}/aws/snp/testdata/vlek.pem`, 'bcf2a296685afb2d2125ed43af98f5f55d3563f100832482e20918e6d019680e'))[0]!;
const AZURE_REPORT = readVector(`${C}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620');
const AWS_REPORT = readVectorBase64(`${C}/aws/snp/testdata/report.txt`, '0f92eb72c01081020f798d53ba20e6421c34772714eb949ba01fa4a288b310ce');
/** Constellation's default amdRootKey (the Go constant arkPEM). */
const DEFAULT_ARK_PEM = readVectorText('constellation/internal/config/defaults/amd_ark_milan.pem', '8c109952166431ffad8cb9a3d54f3d20ffbbb58164f0d54be3457bf0ece9e0d8');
const CERTCACHE_ASK_PEM = readVectorText('constellation/joinservice/internal/certcache/testdata/ask.pem', '8da3a65af1cb7cb90a21fac78431a2431a9ee7811f48c36569c53fb80ad31fee');
const GENOA = ders(readVectorText('amd/ask_ark_genoa.pem', 'e6ecc853fa56d3170a624d40851f98a1036f974b50204ea69e6aec91d777aca3')) as [Uint8Array, Uint8Array];

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** The certificate with its last byte (inside the signature) changed. */
function flipSignature(cert: Uint8Array): Uint8Array {
  const out = Uint8Array.from(cert);
  out[out.length - 1]! ^= 0x01;
  return out;
}

function fails(f: () => unknown, code: string, pattern: RegExp): JoinServiceError {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JoinServiceError, `expected a JoinServiceError, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

const rejected = (f: () => unknown, pattern: RegExp, check?: string): JoinServiceError => {
  const err = fails(f, ErrorCode.AttestationRejected, pattern);
  if (check !== undefined) assert.equal(err.details?.check, check, err.message);
  return err;
};

const defaultTrust = createAmdTrust({ amdRootKey: DEFAULT_ARK_PEM, amdSigningKey: '' });
const embeddedTrust = createAmdTrust({ amdRootKey: '' });

// ---- a synthetic AMD-shaped PKI --------------------------------------------------------

const rsa4096 = async (): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> => promisify(generateKeyPair)('rsa', { modulusLength: 4096 });
const [ARK_KEY, ASK_KEY] = await Promise.all([rsa4096(), rsa4096()]);
const RSA2048 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const VCEK_KEY = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const P256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ format: 'der', type: 'spki' }));

const NULL = Uint8Array.of(0x05, 0x00);
const hashAi = (oid: string): Uint8Array => der.sequence(der.oid(oid), NULL);
const SHA256 = '2.16.840.1.101.3.4.2.1';
const SHA384 = '2.16.840.1.101.3.4.2.2';
type Sig = 'pss384' | 'pss256' | 'pkcs1-384' | 'ecdsa384';
function sigAi(sig: Sig): Uint8Array {
  if (sig === 'pkcs1-384') return der.sequence(der.oid('1.2.840.113549.1.1.12'), NULL);
  if (sig === 'ecdsa384') return der.sequence(der.oid('1.2.840.10045.4.3.3'));
  const [h, salt] = sig === 'pss384' ? [SHA384, 48] : [SHA256, 32];
  return der.sequence(
    der.oid('1.2.840.113549.1.1.10'),
    der.sequence(der.explicit(0, hashAi(h)), der.explicit(1, der.sequence(der.oid('1.2.840.113549.1.1.8'), hashAi(h))), der.explicit(2, der.integer(salt)), der.explicit(3, der.integer(1))),
  );
}
function signTbs(sig: Sig, tbs: Uint8Array, key: KeyObject): Uint8Array {
  if (sig === 'pkcs1-384') return sign('sha384', tbs, { key, padding: constants.RSA_PKCS1_PADDING });
  if (sig === 'ecdsa384') return sign('sha384', tbs, { key, dsaEncoding: 'der' });
  return sign(sig === 'pss384' ? 'sha384' : 'sha256', tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: sig === 'pss384' ? 48 : 32 });
}

interface NameParts {
  ou?: string[];
  c?: string;
  l?: string;
  st?: string;
  o?: string;
}
/** An AMD-style Name, encoded as AMD does (UTF8String, C as PrintableString; OU, C, L, ST, O, CN). */
function amdName(cn: string, p: NameParts = {}): Uint8Array {
  const atv = (oid: string, v: Uint8Array): Uint8Array => der.set(der.sequence(der.oid(oid), v));
  return der.sequence(
    ...(p.ou ?? ['Engineering']).map((ou) => atv('2.5.4.11', der.utf8String(ou))),
    atv('2.5.4.6', der.printableString(p.c ?? 'US')),
    atv('2.5.4.7', der.utf8String(p.l ?? 'Santa Clara')),
    atv('2.5.4.8', der.utf8String(p.st ?? 'CA')),
    atv('2.5.4.10', der.utf8String(p.o ?? 'Advanced Micro Devices')),
    atv('2.5.4.3', der.utf8String(cn)),
  );
}

interface Ext {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}
const ext = (e: Ext): Uint8Array => der.sequence(der.oid(e.oid), ...(e.critical ? [der.boolean(true)] : []), der.octetString(e.value));
const basicConstraints = (ca: boolean, pathLen?: number): Ext => ({
  oid: '2.5.29.19',
  critical: true,
  value: der.sequence(...(ca ? [der.boolean(true)] : []), ...(pathLen === undefined ? [] : [der.integer(pathLen)])),
});
/** keyUsage with the given bit (5 = keyCertSign, 6 = cRLSign, 0 = digitalSignature). */
const keyUsage = (...bits: number[]): Ext => {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  const last = Math.max(...bits);
  return { oid: '2.5.29.15', critical: true, value: der.tlv(0x03, Uint8Array.of(7 - last, v)) };
};

interface CertSpec {
  subject: Uint8Array;
  issuer: Uint8Array;
  key: KeyObject;
  signer: KeyObject;
  sig?: Sig;
  serial?: number;
  version?: 1 | 3;
  notBefore?: number;
  notAfter?: number;
  extensions?: Ext[];
}
function cert(s: CertSpec): Uint8Array {
  const sig = s.sig ?? 'pss384';
  const tbs = der.sequence(
    ...(s.version === 1 ? [] : [der.explicit(0, der.integer(2))]),
    der.integer(s.serial ?? 0),
    sigAi(sig),
    s.issuer,
    der.sequence(der.time(s.notBefore ?? Date.UTC(2020, 0, 1)), der.time(s.notAfter ?? Date.UTC(2045, 0, 1))),
    s.subject,
    spki(s.key),
    ...(s.version === 1 || !s.extensions?.length ? [] : [der.explicit(3, der.sequence(...s.extensions.map(ext)))]),
  );
  return new Uint8Array(der.sequence(tbs, sigAi(sig), der.bitString(signTbs(sig, tbs, s.signer))));
}

const HWID = new Uint8Array(randomBytes(64));
function kdsExtensions(o: { productName?: string; bl?: number; critical?: boolean } = {}): Ext[] {
  const int = (oid: string, v: number): Ext => ({ oid, value: der.integer(v), critical: o.critical === true && oid === KDS_OID.blSpl });
  return [
    int(KDS_OID.structVersion, 0),
    { oid: KDS_OID.productName, value: der.tlv(0x16, Buffer.from(o.productName ?? 'Milan-B0', 'latin1')) },
    int(KDS_OID.blSpl, o.bl ?? 3),
    int(KDS_OID.teeSpl, 0),
    int(KDS_OID.spl4, 0),
    int(KDS_OID.spl5, 0),
    int(KDS_OID.spl6, 0),
    int(KDS_OID.spl7, 0),
    int(KDS_OID.snpSpl, 8),
    int(KDS_OID.ucodeSpl, 115),
    { oid: KDS_OID.hwId, value: HWID },
  ];
}

const ARK_NAME = amdName('ARK-Milan');
const ASK_NAME = amdName('SEV-Milan');
function synthArk(o: Partial<CertSpec> = {}): Uint8Array {
  return cert({ subject: ARK_NAME, issuer: ARK_NAME, key: ARK_KEY.publicKey, signer: ARK_KEY.privateKey, serial: 0x10000, extensions: [keyUsage(5, 6), basicConstraints(true)], ...o });
}
function synthAsk(o: Partial<CertSpec> = {}): Uint8Array {
  return cert({ subject: ASK_NAME, issuer: ARK_NAME, key: ASK_KEY.publicKey, signer: ARK_KEY.privateKey, serial: 0x10001, extensions: [basicConstraints(true, 0), keyUsage(5)], ...o });
}
function synthVcek(o: Partial<CertSpec> = {}): Uint8Array {
  return cert({ subject: amdName('SEV-VCEK'), issuer: ASK_NAME, key: VCEK_KEY.publicKey, signer: ASK_KEY.privateKey, notBefore: Date.UTC(2023, 0, 1), notAfter: Date.UTC(2030, 0, 1), extensions: kdsExtensions(), ...o });
}
const SYNTH_ARK = synthArk();
const SYNTH_ASK = synthAsk();
const SYNTH_VCEK = synthVcek();
const pemOf = (d: Uint8Array): string => encodePem('CERTIFICATE', d);
const synthTrust = createAmdTrust({ amdRootKey: pemOf(SYNTH_ARK) });
const synthInput = (o: Partial<SnpChainInput> = {}): SnpChainInput => ({ signer: 'VCEK', endorsement: SYNTH_VCEK, intermediate: SYNTH_ASK, ...o });

// ---- tests -----------------------------------------------------------------------------

describe('SNP chain: embedded AMD roots', () => {
  it('are byte-identical to ../shared/vectors/amd (file SHA-256 and content) and their DERs have the README hashes', () => {
    assert.equal(EMBEDDED_AMD_CHAINS.length, 6);
    for (const chain of EMBEDDED_AMD_CHAINS) {
      const file = readVectorText(`amd/${chain.file}`, chain.fileSha256);
      assert.equal(chain.pem, file, chain.file);
      assert.equal(sha256(Buffer.from(chain.pem, 'latin1')), chain.fileSha256);
      const { intermediate, ark } = embeddedAmdCertificates(chain.productLine, chain.signer);
      assert.equal(sha256(intermediate), chain.intermediateSha256);
      assert.equal(sha256(ark), chain.arkSha256);
    }
    assert.equal(embeddedAmdCertificates('Milan', 'VCEK').chain.arkSha256, '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd');
    assert.deepEqual(embeddedAmdCertificates('Milan', 'VCEK').ark, MILAN_ARK);
    assert.deepEqual(ders(DEFAULT_ARK_PEM)[0], MILAN_ARK);
  });

  for (const chain of EMBEDDED_AMD_CHAINS) {
    it(`${chain.file}: ARK self-signed RSA-4096 PSS, ${chain.signer === 'VCEK' ? 'ASK' : 'ASVK'} signed by the ARK, valid at ${iso(NOW)}`, () => {
      const { intermediate, ark } = embeddedAmdCertificates(chain.productLine, chain.signer);
      const v = verifyAmdCertChain(intermediate, ark, chain.signer, NOW);
      assert.equal(v.productLine, chain.productLine);
      assert.equal(v.ark.commonName, `ARK-${chain.productLine}`);
      assert.equal(v.intermediate.commonName, chain.signer === 'VCEK' ? `SEV-${chain.productLine}` : `SEV-VLEK-${chain.productLine}`);
      assert.equal(embeddedAnchor(chain.productLine).sha256, chain.arkSha256);
    });
  }

  it('product chains fail on a foreign ARK, a flipped signature, the wrong role and outside their validity', () => {
    rejected(() => verifyAmdCertChain(MILAN_ASK, GENOA[1], 'VCEK', NOW), /^ASK certificate subject common name "SEV-Milan" not expected\. Expected SEV-Genoa$/, 'intermediate-name');
    rejected(() => verifyAmdCertChain(GENOA[0], MILAN_ARK, 'VCEK', NOW), /^ASK certificate subject common name "SEV-Genoa" not expected\. Expected SEV-Milan$/);
    // Same names, other key: the synthetic ARK-Milan has the real ARK-Milan's DN.
    rejected(() => verifyAmdCertChain(MILAN_ASK, SYNTH_ARK, 'VCEK', NOW), /^ASK certificate \(CN SEV-Milan\) is not signed by the ARK-Milan root: crypto\/rsa: verification error$/, 'intermediate-signature');
    rejected(() => verifyAmdCertChain(flipSignature(MILAN_ASK), MILAN_ARK, 'VCEK', NOW), /is not signed by the ARK-Milan root: crypto\/rsa: verification error/);
    rejected(() => verifyAmdCertChain(MILAN_ASK, flipSignature(MILAN_ARK), 'VCEK', NOW), /^ARK certificate \(CN ARK-Milan\) is not validly self-signed: crypto\/rsa: verification error$/, 'root');
    rejected(() => verifyAmdCertChain(MILAN_ASVK, MILAN_ARK, 'VCEK', NOW), /"SEV-VLEK-Milan" not expected\. Expected SEV-Milan/);
    rejected(() => verifyAmdCertChain(MILAN_ASK, MILAN_ARK, 'VCEK', Date.UTC(2045, 9, 23)), /^ASK certificate \(CN SEV-Milan\) has expired: x509: certificate has expired or is not yet valid: current time 2045-10-23T00:00:00Z is after 2045-10-22T18:24:20Z$/, 'validity');
    rejected(() => verifyAmdCertChain(MILAN_ASK, MILAN_ARK, 'VCEK', Date.UTC(2020, 9, 22, 18, 0, 0)), /^ASK certificate \(CN SEV-Milan\) is not yet valid: .* current time 2020-10-22T18:00:00Z is before 2020-10-22T18:24:20Z$/);
    rejected(() => verifyAmdCertChain(MILAN_ASK, MILAN_ARK, 'VCEK', Date.UTC(2020, 9, 22, 18, 30, 0) - 30 * DAY), /not yet valid/);
    fails(() => verifyAmdCertChain(MILAN_ASK, Uint8Array.of(0x30, 0x00), 'VCEK', NOW), ErrorCode.AttestationMalformed, /^parsing ARK certificate: x509: /);
  });
});

describe('SNP chain: product detection', () => {
  it('report CPUID → product line as go-sev-guest (v2 and CPUID_1_EAX 0 leave it to the certificate)', () => {
    assert.equal(reportProductLine(2, 0x19, 0x01, 0x01), undefined);
    assert.equal(reportProductLine(3, 0, 0, 0), undefined);
    assert.equal(reportProductLine(3, 0, 0, 0x10), undefined); // stepping & 0xF = 0 → EAX 0
    assert.equal(reportProductLine(3, 0x19, 0x01, 0x01), 'Milan');
    assert.equal(reportProductLine(5, 0x19, 0x11, 0x02), 'Genoa');
    assert.equal(reportProductLine(3, 0x1a, 0x02, 0x00), 'Turin');
    assert.equal(reportProductLine(3, 0x19, 0x02, 0x00), 'Unknown');
    assert.equal(reportProductLine(3, 0x17, 0x01, 0x00), 'Unknown');
    assert.equal(cpuid1EaxFromFms(0x19, 0x01, 0x01), 0x00a00f11);
    assert.equal(productLineFromCpuid1Eax(0x00a10f10), 'Genoa');
    assert.equal(productLineFromCpuid1Eax(0x00b00f20), 'Turin');
    // The AWS vector is a v3 Milan report.
    assert.equal(reportProductLine(AWS_REPORT.readUInt32LE(0), AWS_REPORT[0x188]!, AWS_REPORT[0x189]!, AWS_REPORT[0x18a]!), 'Milan');
  });

  it('productName (v2): the fork’s VCEK names with stepping, bare lines for VLEK', () => {
    assert.deepEqual(parseKdsProductName('Milan-B0', 'VCEK'), { productLine: 'Milan', stepping: 0 });
    assert.deepEqual(parseKdsProductName('Milan', 'VCEK'), { productLine: 'Milan', stepping: 0 });
    assert.deepEqual(parseKdsProductName('Genoa-B2', 'VCEK'), { productLine: 'Genoa', stepping: 2 });
    assert.deepEqual(parseKdsProductName('Turin-B1', 'VCEK'), { productLine: 'Turin', stepping: 1 });
    assert.equal(parseKdsProductName('Turin', 'VCEK'), undefined);
    assert.equal(parseKdsProductName('Milan-B2', 'VCEK'), undefined);
    assert.deepEqual(parseKdsProductName('Genoa', 'VLEK'), { productLine: 'Genoa', stepping: undefined });
    assert.equal(parseKdsProductName('Genoa-B0', 'VLEK'), undefined);
  });

  it('certificate common names', () => {
    assert.equal(productLineOfArkCommonName('ARK-Turin'), 'Turin');
    assert.equal(productLineOfArkCommonName('ARK-Bergamo'), undefined);
    assert.deepEqual(productOfIntermediateCommonName('SEV-VLEK-Genoa'), { productLine: 'Genoa', signer: 'VLEK' });
    assert.deepEqual(productOfIntermediateCommonName('SEV-Milan'), { productLine: 'Milan', signer: 'VCEK' });
    assert.equal(productOfIntermediateCommonName('SEV-VCEK'), undefined);
  });
});

describe('SNP chain: the real Constellation chains', () => {
  it('Azure vcek.pem with certchain.pem (ASK + ARK from the node) under the default amdRootKey; the report verifies with the key', () => {
    const v = verifySnpChain({ signer: 'VCEK', endorsement: VCEK, intermediate: MILAN_ASK, ark: MILAN_ARK }, defaultTrust, NOW);
    assert.equal(v.productLine, 'Milan');
    assert.deepEqual(v.kdsProduct, { productLine: 'Milan', stepping: 0 });
    assert.equal(v.intermediate.source, 'node');
    assert.equal(v.ark.source, 'amdRootKey');
    assert.equal(v.ark.sha256, '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd');
    assert.equal(v.endorsement.sha256, 'b68af9a570db2b79fe686495dcb2c18f164ddcced5661781177012bbe67e564d');
    assert.equal(iso(v.endorsement.notAfter.ms), '2030-08-30T12:15:24Z');
    verifySnpReportSignatureOfReport(v.endorsementKey, AZURE_REPORT);
    checkKdsAgainstReport(v.kds, 'VCEK', { reportedTcb: AZURE_REPORT.readBigUInt64LE(0x180), chipId: AZURE_REPORT.subarray(0x1a0, 0x1e0) });
  });

  it('the same VCEK as KDS DER (vcek.cert); without a node chain the embedded ASK is used; amdSigningKey overrides it', () => {
    assert.equal(verifySnpChain({ signer: 'VCEK', endorsement: VCEK_CERT }, defaultTrust, NOW).intermediate.source, 'embedded');
    const withAsk = createAmdTrust({ amdRootKey: DEFAULT_ARK_PEM, amdSigningKey: CERTCACHE_ASK_PEM });
    const v = verifySnpChain({ signer: 'VCEK', endorsement: VCEK_CERT }, withAsk, NOW);
    assert.equal(v.intermediate.source, 'amdSigningKey');
    assert.equal(v.intermediate.sha256, sha256(MILAN_ASK));
    // The node's ASK still wins over amdSigningKey (as in Go).
    assert.equal(verifySnpChain({ signer: 'VCEK', endorsement: VCEK_CERT, intermediate: MILAN_ASK }, withAsk, NOW).intermediate.source, 'node');
    // An amdSigningKey that is not the VCEK's issuer (here the ASVK, as the AWS cache holds it) falls through to the embedded ASK.
    const withAsvk = createAmdTrust({ amdRootKey: DEFAULT_ARK_PEM, amdSigningKey: pemOf(MILAN_ASVK) });
    assert.equal(verifySnpChain({ signer: 'VCEK', endorsement: VCEK_CERT }, withAsvk, NOW).intermediate.source, 'embedded');
  });

  it('an empty amdRootKey uses the embedded root of the product line (no network)', () => {
    const v = verifySnpChain({ signer: 'VCEK', endorsement: VCEK, intermediate: MILAN_ASK, ark: MILAN_ARK }, embeddedTrust, NOW);
    assert.equal(v.ark.source, 'embedded');
    assert.equal(createAmdTrust({}).id, createAmdTrust({ amdRootKey: null, amdSigningKey: '  ' }).id);
    assert.notEqual(createAmdTrust({}).id, defaultTrust.id);
  });

  it('vlek.pem with vlekcertchain.pem (ASVK + ARK) at 2024-01-15; its KDS TCB matches attestation_vlek.hex', () => {
    const v = verifySnpChain({ signer: 'VLEK', endorsement: VLEK, intermediate: MILAN_ASVK, ark: MILAN_ARK }, defaultTrust, NOW);
    assert.equal(v.productLine, 'Milan');
    assert.equal(v.intermediate.commonName, 'SEV-VLEK-Milan');
    assert.equal(v.kds.cspId, 'CN=cc-us-east-2.amazonaws.com');
  });

  it('AWS vlek.pem (v3 report, CPUID Milan) with the embedded ASVK or the AWS chain at 2025-06-01; the report verifies', () => {
    const line = reportProductLine(3, AWS_REPORT[0x188]!, AWS_REPORT[0x189]!, AWS_REPORT[0x18a]!);
    for (const input of [
      { signer: 'VLEK' as const, endorsement: AWS_VLEK, reportProductLine: line },
      { signer: 'VLEK' as const, endorsement: AWS_VLEK, intermediate: AWS_CHAIN[0], ark: AWS_CHAIN[1], reportProductLine: line },
    ]) {
      const v = verifySnpChain(input, defaultTrust, AWS_NOW);
      assert.equal(v.kdsProduct, undefined); // the CPUID decided
      verifySnpReportSignatureOfReport(v.endorsementKey, AWS_REPORT);
      checkKdsAgainstReport(v.kds, 'VLEK', { reportedTcb: AWS_REPORT.readBigUInt64LE(0x180), chipId: AWS_REPORT.subarray(0x1a0, 0x1e0) });
    }
    // With the VLEK's signer kind only: a VCEK-kind check of the same certificate fails on its subject.
    rejected(() => verifySnpChain({ signer: 'VCEK', endorsement: AWS_VLEK, reportProductLine: line }, defaultTrust, AWS_NOW), /^VCEK certificate subject common name "SEV-VLEK" not expected\. Expected SEV-VCEK$/, 'endorsement-metadata');
  });
});

describe('SNP chain: negative cases on the real chains', () => {
  const azure = (o: Partial<SnpChainInput> = {}): SnpChainInput => ({ signer: 'VCEK', endorsement: VCEK, intermediate: MILAN_ASK, ark: MILAN_ARK, ...o });

  it('wrong product root: a Genoa ARK as amdRootKey does not anchor a Milan chain', () => {
    const genoaTrust = createAmdTrust({ amdRootKey: pemOf(GENOA[1]) });
    assert.equal(genoaTrust.configuredRoot?.productLine, 'Genoa');
    const err = rejected(() => verifySnpChain(azure({ ark: undefined }), genoaTrust, NOW), /^VCEK chain is for product line Milan, but the trusted root \(amdRootKey\) is ARK-Genoa$/, 'trust-anchor');
    assert.equal(err.details?.trustedRoot, 'ARK-Genoa');
    // A report claiming Genoa with the Milan VCEK under the embedded roots: the issuer is not SEV-Genoa.
    rejected(() => verifySnpChain(azure({ ark: undefined, intermediate: undefined, reportProductLine: 'Genoa' }), embeddedTrust, NOW), /^VCEK certificate issuer common name "SEV-Milan" not expected\. Expected SEV-Genoa$/, 'endorsement-issuer');
    rejected(() => verifySnpChain(azure({ reportProductLine: 'Unknown' }), embeddedTrust, NOW), /^the report's CPUID family\/model is not a known SEV-SNP product line \(Milan, Genoa, Turin\)$/, 'product');
  });

  it('an ASK from another product, or the ASVK, as the node’s intermediate', () => {
    rejected(() => verifySnpChain(azure({ intermediate: GENOA[0] }), defaultTrust, NOW), /^VCEK certificate issuer \(CN SEV-Milan\) is not the subject of the ASK \(CN SEV-Genoa, from node\): x509: certificate signed by unknown authority$/, 'endorsement-signature');
    rejected(() => verifySnpChain(azure({ intermediate: MILAN_ASVK }), defaultTrust, NOW), /is not the subject of the ASK \(CN SEV-VLEK-Milan, from node\)/);
    rejected(() => verifySnpChain({ signer: 'VLEK', endorsement: VLEK, intermediate: MILAN_ASK }, defaultTrust, NOW), /^VLEK certificate issuer \(CN SEV-VLEK-Milan\) is not the subject of the ASVK \(CN SEV-Milan, from node\)/);
    fails(() => verifySnpChain(azure({ intermediate: MILAN_ASK.subarray(0, 100) }), defaultTrust, NOW), ErrorCode.AttestationMalformed, /^parsing ASK certificate: x509: /);
  });

  it('a flipped signature bit in the VCEK, the ASK or the ARK', () => {
    rejected(() => verifySnpChain(azure({ endorsement: flipSignature(VCEK) }), defaultTrust, NOW), /^VCEK certificate is not signed by the ASK \(CN SEV-Milan, from node\): crypto\/rsa: verification error$/, 'endorsement-signature');
    rejected(() => verifySnpChain(azure({ intermediate: flipSignature(MILAN_ASK) }), defaultTrust, NOW), /^ASK certificate \(CN SEV-Milan\) is not signed by the trusted Milan root \(amdRootKey\): crypto\/rsa: verification error$/, 'intermediate-signature');
    fails(() => createAmdTrust({ amdRootKey: pemOf(flipSignature(MILAN_ARK)) }), ErrorCode.ConfigInvalid, /^amdRootKey is not validly self-signed: crypto\/rsa: verification error$/);
    // The node's copy of the ARK: same name and key, but not validly self-signed.
    rejected(() => verifySnpChain(azure({ ark: flipSignature(MILAN_ARK) }), defaultTrust, NOW), /^ARK sent by the node \(CN ARK-Milan, SHA-256 [0-9a-f]{64}\) has the key of the trusted Milan root \(amdRootKey\) but is not validly self-signed: crypto\/rsa: verification error$/, 'presented-ark');
  });

  it('the ARK the node sends must be the trusted root', () => {
    rejected(() => verifySnpChain(azure({ ark: GENOA[1] }), defaultTrust, NOW), new RegExp(`^ARK sent by the node \\(CN ARK-Genoa, SHA-256 ${sha256(GENOA[1])}\\) is not the trusted Milan root \\(amdRootKey\\)$`), 'presented-ark');
    rejected(() => verifySnpChain(azure({ ark: SYNTH_ARK }), defaultTrust, NOW), /^ARK sent by the node \(CN ARK-Milan, SHA-256 [0-9a-f]{64}\) is not the trusted Milan root \(amdRootKey\)$/);
    rejected(() => verifySnpChain(azure({ ark: MILAN_ASK }), embeddedTrust, NOW), /^ARK sent by the node \(CN SEV-Milan, .*\) is not the trusted Milan root \(embedded ARK-Milan\)$/);
    fails(() => verifySnpChain(azure({ ark: Uint8Array.of(1, 2, 3) }), defaultTrust, NOW), ErrorCode.AttestationMalformed, /^parsing ARK certificate sent by the node: /);
  });

  it('validity: the VCEK expired or not yet valid (bounds inclusive), the VLEK expired', () => {
    const notAfter = Date.UTC(2030, 7, 30, 12, 15, 24);
    const notBefore = Date.UTC(2023, 7, 30, 12, 15, 24);
    verifySnpChain(azure(), defaultTrust, notAfter);
    verifySnpChain(azure(), defaultTrust, notBefore);
    const err = rejected(() => verifySnpChain(azure(), defaultTrust, notAfter + 1000), /^VCEK certificate \(CN SEV-VCEK\) has expired: x509: certificate has expired or is not yet valid: current time 2030-08-30T12:15:25Z is after 2030-08-30T12:15:24Z$/, 'validity');
    assert.equal(err.details?.certificate, 'VCEK');
    rejected(() => verifySnpChain(azure(), defaultTrust, notBefore - 1000), /^VCEK certificate \(CN SEV-VCEK\) is not yet valid: x509: certificate has expired or is not yet valid: current time 2023-08-30T12:15:23Z is before 2023-08-30T12:15:24Z$/);
    rejected(() => verifySnpChain({ signer: 'VLEK', endorsement: VLEK, intermediate: MILAN_ASVK }, defaultTrust, Date.UTC(2026, 0, 1)), /^VLEK certificate \(CN SEV-VLEK\) has expired: .* is after 2024-07-19T08:29:28Z$/);
  });

  it('override roots that are not a self-signed RSA-4096 SHA384-RSAPSS ARK are configuration errors', () => {
    const rsa2048Ark = cert({ subject: ARK_NAME, issuer: ARK_NAME, key: RSA2048.publicKey, signer: RSA2048.privateKey, extensions: [keyUsage(5, 6), basicConstraints(true)] });
    fails(() => createAmdTrust({ amdRootKey: pemOf(rsa2048Ark) }), ErrorCode.ConfigInvalid, /^amdRootKey is not an RSA-4096 key \(got RSA-2048\)$/);
    const ecArk = cert({ subject: ARK_NAME, issuer: ARK_NAME, key: VCEK_KEY.publicKey, signer: VCEK_KEY.privateKey, sig: 'ecdsa384', extensions: [basicConstraints(true)] });
    fails(() => createAmdTrust({ amdRootKey: pemOf(ecArk) }), ErrorCode.ConfigInvalid, /^amdRootKey is not an RSA-4096 key \(got ecdsa P-384\)$/);
    fails(() => createAmdTrust({ amdRootKey: pemOf(synthArk({ sig: 'pkcs1-384' })) }), ErrorCode.ConfigInvalid, /^amdRootKey is not signed with SHA-384 RSASSA-PSS \(got SHA384-RSA\)$/);
    fails(() => createAmdTrust({ amdRootKey: pemOf(synthArk({ sig: 'pss256' })) }), ErrorCode.ConfigInvalid, /\(got SHA256-RSAPSS\)$/);
    fails(() => createAmdTrust({ amdRootKey: CERTCHAIN_PEM }), ErrorCode.ConfigInvalid, /^amdRootKey has subject CN "SEV-Milan", expected one of ARK-Milan, ARK-Genoa, ARK-Turin$/);
    fails(() => createAmdTrust({ amdRootKey: pemOf(synthArk({ subject: amdName('ARK-Milan', { o: 'Someone' }) })) }), ErrorCode.ConfigInvalid, /^amdRootKey is not self-issued/);
    fails(() => createAmdTrust({ amdRootKey: pemOf(synthArk({ extensions: [basicConstraints(true), keyUsage(0)] })) }), ErrorCode.ConfigInvalid, /^amdRootKey is not validly self-signed: x509: invalid signature: parent certificate cannot sign this kind of certificate$/);
    fails(() => createAmdTrust({ amdRootKey: encodePem('PUBLIC KEY', spki(ARK_KEY.publicKey)) }), ErrorCode.ConfigInvalid, /^amdRootKey: PEM block is "PUBLIC KEY", expected CERTIFICATE$/);
    fails(() => createAmdTrust({ amdRootKey: 'not a certificate' }), ErrorCode.ConfigInvalid, /^amdRootKey: no PEM block found$/);
    fails(() => createAmdTrust({ amdRootKey: pemOf(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)) }), ErrorCode.ConfigInvalid, /^amdRootKey: x509: /);
    fails(() => createAmdTrust({ amdSigningKey: pemOf(Uint8Array.of(0x30, 0x00)) }), ErrorCode.ConfigInvalid, /^amdSigningKey: x509: /);
    // A real ARK of each product is fine; only the first PEM block counts (Go's config reader).
    for (const [file, line] of [['amd/ask_ark_genoa_vlek.pem', 'Genoa'], ['amd/ask_ark_turin_vcek.pem', 'Turin']] as const) {
      const arkPem = pemOf(ders(readVectorText(file))[1]!);
      assert.equal(createAmdTrust({ amdRootKey: arkPem + CERTCHAIN_PEM }).configuredRoot?.productLine, line);
    }
  });
});

describe('SNP chain: every check on a synthetic RSA-4096 / RSA-PSS chain', () => {
  it('the synthetic chain verifies (serial-0 VCEK, productName decides the line)', () => {
    const v = verifySnpChain(synthInput(), synthTrust, NOW);
    assert.equal(v.productLine, 'Milan');
    assert.deepEqual(v.kds.hwId, HWID);
    assert.equal(v.intermediate.source, 'node');
    // as amdSigningKey instead of from the node
    assert.equal(verifySnpChain(synthInput({ intermediate: undefined }), createAmdTrust({ amdRootKey: pemOf(SYNTH_ARK), amdSigningKey: pemOf(SYNTH_ASK) }), NOW).intermediate.source, 'amdSigningKey');
    // the real VCEK with the embedded ASK (same names as the synthetic ones, AMD's keys) does not chain to the synthetic root
    rejected(() => verifySnpChain({ signer: 'VCEK', endorsement: VCEK }, synthTrust, NOW), /^ASK certificate \(CN SEV-Milan\) is not signed by the trusted Milan root \(amdRootKey\): crypto\/rsa: verification error$/);
    // and the synthetic VCEK does not chain to AMD's roots
    rejected(() => verifySnpChain(synthInput({ intermediate: undefined }), defaultTrust, NOW), /^VCEK certificate is not signed by the ASK \(CN SEV-Milan, from embedded\): crypto\/rsa: verification error$/);
  });

  it('VCEK metadata: version, signature algorithm, key type and curve, subject location and CN', () => {
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ version: 1 }) }), synthTrust, NOW), /^VCEK certificate version is 1, expected 3$/, 'endorsement-metadata');
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ sig: 'pss256' }) }), synthTrust, NOW), /^VCEK certificate signature algorithm is SHA256-RSAPSS, expected SHA-384 with RSASSA-PSS$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ sig: 'pkcs1-384' }) }), synthTrust, NOW), /signature algorithm is SHA384-RSA, expected/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ key: P256.publicKey }) }), synthTrust, NOW), /^VCEK certificate public key curve is P-256, expected P-384$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ key: RSA2048.publicKey }) }), synthTrust, NOW), /^VCEK certificate public key type is rsa, expected ECDSA$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ subject: amdName('SEV-VCEK', { o: 'AMD' }) }) }), synthTrust, NOW), /^VCEK subject organization 'AMD' not expected for AMD\. Expected 'Advanced Micro Devices'$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ subject: amdName('SEV-VCEK', { ou: ['Engineering', 'Other'] }) }) }), synthTrust, NOW), /^VCEK subject has 2 organizational units, want 1$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ subject: amdName('SEV-VCEK', { c: 'DE' }) }) }), synthTrust, NOW), /^VCEK subject country 'DE' not expected for AMD\. Expected 'US'$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ subject: amdName('SEV-VLEK') }) }), synthTrust, NOW), /^VCEK certificate subject common name "SEV-VLEK" not expected\. Expected SEV-VCEK$/);
    fails(() => verifySnpChain(synthInput({ endorsement: SYNTH_VCEK.subarray(0, 50) }), synthTrust, NOW), ErrorCode.AttestationMalformed, /^parsing VCEK certificate: x509: /);
  });

  it('VCEK issuer: AMD location and CN SEV-<line>', () => {
    const austin = amdName('SEV-Milan', { l: 'Austin' });
    const ask = synthAsk({ subject: austin });
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ issuer: austin }), intermediate: ask }), synthTrust, NOW), /^VCEK issuer locality 'Austin' not expected for AMD\. Expected 'Santa Clara'$/, 'endorsement-issuer');
    const genoaName = amdName('SEV-Genoa');
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ issuer: genoaName }), intermediate: synthAsk({ subject: genoaName }) }), synthTrust, NOW), /^VCEK certificate issuer common name "SEV-Genoa" not expected\. Expected SEV-Milan$/);
  });

  it('productName decides only for v2 reports', () => {
    const b9 = synthVcek({ extensions: kdsExtensions({ productName: 'Milan-B9' }) });
    rejected(() => verifySnpChain(synthInput({ endorsement: b9 }), synthTrust, NOW), /^VCEK productName extension "Milan-B9" is not a known VCEK product name$/, 'product');
    assert.equal(verifySnpChain(synthInput({ endorsement: b9, reportProductLine: 'Milan' }), synthTrust, NOW).productLine, 'Milan');
    const genoa = synthVcek({ extensions: kdsExtensions({ productName: 'Genoa-B1' }) });
    rejected(() => verifySnpChain(synthInput({ endorsement: genoa }), synthTrust, NOW), /^VCEK chain is for product line Genoa, but the trusted root \(amdRootKey\) is ARK-Milan$/);
  });

  it('x509.Verify: unhandled critical extensions of the VCEK and the ASK', () => {
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ extensions: kdsExtensions({ critical: true }) }) }), synthTrust, NOW), /^VCEK certificate: x509: unhandled critical extension 1\.3\.6\.1\.4\.1\.3704\.1\.3\.1$/, 'critical-extension');
    const ask = synthAsk({ extensions: [basicConstraints(true, 0), keyUsage(5), { oid: '1.2.3.4', critical: true, value: der.sequence() }] });
    rejected(() => verifySnpChain(synthInput({ intermediate: ask }), synthTrust, NOW), /^ASK certificate \(CN SEV-Milan\): x509: unhandled critical extension 1\.2\.3\.4$/, 'critical-extension');
  });

  it('x509.Verify: the ASK must be allowed to sign (cA, keyCertSign) — Go reports it from CheckSignatureFrom', () => {
    const cannotSign = /^VCEK certificate is not signed by the ASK \(CN SEV-Milan, from node\): x509: invalid signature: parent certificate cannot sign this kind of certificate$/;
    rejected(() => verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [basicConstraints(false), keyUsage(5)] }) }), synthTrust, NOW), cannotSign);
    rejected(() => verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [keyUsage(5)] }) }), synthTrust, NOW), cannotSign);
    rejected(() => verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [basicConstraints(true), keyUsage(0)] }) }), synthTrust, NOW), cannotSign);
    // keyUsage is optional, as in Go
    verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [basicConstraints(true)] }) }), synthTrust, NOW);
  });

  it('x509.Verify: signatures — VCEK signed by another key, ASK signed by another key', () => {
    rejected(() => verifySnpChain(synthInput({ endorsement: synthVcek({ signer: ARK_KEY.privateKey }) }), synthTrust, NOW), /^VCEK certificate is not signed by the ASK \(CN SEV-Milan, from node\): crypto\/rsa: verification error$/);
    rejected(() => verifySnpChain(synthInput({ intermediate: synthAsk({ signer: ASK_KEY.privateKey }) }), synthTrust, NOW), /^ASK certificate \(CN SEV-Milan\) is not signed by the trusted Milan root \(amdRootKey\): crypto\/rsa: verification error$/);
    rejected(() => verifySnpChain(synthInput({ intermediate: flipSignature(SYNTH_ASK) }), synthTrust, NOW), /crypto\/rsa: verification error$/);
    rejected(() => verifySnpChain(synthInput({ endorsement: flipSignature(SYNTH_VCEK) }), synthTrust, NOW), /^VCEK certificate is not signed by the ASK/);
  });

  it('x509.Verify: validity of the ASK and the ARK, the ARK path length', () => {
    const askExpired = synthAsk({ notBefore: Date.UTC(2020, 0, 1), notAfter: NOW - DAY });
    rejected(() => verifySnpChain(synthInput({ intermediate: askExpired }), synthTrust, NOW), new RegExp(`^ASK certificate \\(CN SEV-Milan\\) has expired: x509: certificate has expired or is not yet valid: current time ${iso(NOW)} is after ${iso(NOW - DAY)}$`), 'validity');
    const askFuture = synthAsk({ notBefore: NOW + DAY });
    rejected(() => verifySnpChain(synthInput({ intermediate: askFuture }), synthTrust, NOW), /^ASK certificate \(CN SEV-Milan\) is not yet valid/);
    const shortArk = createAmdTrust({ amdRootKey: pemOf(synthArk({ notAfter: NOW - DAY })) });
    const err = rejected(() => verifySnpChain(synthInput(), shortArk, NOW), /^ARK certificate \(CN ARK-Milan\) has expired: /, 'validity');
    assert.equal(err.details?.certificate, 'ARK');
    const pathLen0 = createAmdTrust({ amdRootKey: pemOf(synthArk({ extensions: [keyUsage(5, 6), basicConstraints(true, 0)] })) });
    rejected(() => verifySnpChain(synthInput(), pathLen0, NOW), /^the trusted Milan root \(amdRootKey\): x509: too many intermediates for path length constraint$/, 'root');
  });

  it('extended key usage: none or one with serverAuth/any passes (Go’s default serverAuth), others fail', () => {
    const eku = (...oids: string[]): Ext => ({ oid: '2.5.29.37', value: der.sequence(...oids.map((o) => der.oid(o))) });
    verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [basicConstraints(true, 0), keyUsage(5), eku('1.3.6.1.5.5.7.3.1')] }) }), synthTrust, NOW);
    verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [basicConstraints(true, 0), keyUsage(5), eku('2.5.29.37.0')] }) }), synthTrust, NOW);
    rejected(
      () => verifySnpChain(synthInput({ intermediate: synthAsk({ extensions: [basicConstraints(true, 0), keyUsage(5), eku('1.3.6.1.5.5.7.3.2')] }) }), synthTrust, NOW),
      /^ASK certificate \(CN SEV-Milan\): x509: certificate specifies an incompatible key usage \(extended key usage 1\.3\.6\.1\.5\.5\.7\.3\.2\)$/,
      'extended-key-usage',
    );
  });

  it('fail closed where Go would evaluate policies or name constraints', () => {
    const mapped = synthAsk({ extensions: [basicConstraints(true, 0), keyUsage(5), { oid: '2.5.29.33', value: der.sequence(der.sequence(der.oid('1.2.3'), der.oid('1.2.4'))) }] });
    rejected(() => verifySnpChain(synthInput({ intermediate: mapped }), synthTrust, NOW), /carries certificate policy constraints or mappings/, 'policies');
    const dns = (name: string): Uint8Array => der.tlv(0x82, Buffer.from(name, 'latin1'));
    const constrained = createAmdTrust({
      amdRootKey: pemOf(synthArk({ extensions: [keyUsage(5, 6), basicConstraints(true), { oid: '2.5.29.30', value: der.sequence(der.tlv(0xa0, der.sequence(dns('example.com')))) }] })),
    });
    verifySnpChain(synthInput(), constrained, NOW);
    const askWithSan = synthAsk({ extensions: [basicConstraints(true, 0), keyUsage(5), { oid: '2.5.29.17', value: der.sequence(dns('ask.example.com')) }] });
    rejected(() => verifySnpChain(synthInput({ intermediate: askWithSan }), constrained, NOW), /^the trusted Milan root \(amdRootKey\) has name constraints, which this verifier does not evaluate, and the ASK carries a subjectAltName$/, 'name-constraints');
  });

  it('the intermediate is remembered per trust after its first verification', () => {
    const trust = createAmdTrust({ amdRootKey: pemOf(SYNTH_ARK) });
    const anchor = trust.anchorFor('Milan', 'VCEK');
    assert.equal(trust.rememberedIntermediate(anchor, sha256(SYNTH_ASK)), undefined);
    verifySnpChain(synthInput(), trust, NOW);
    assert.ok(trust.rememberedIntermediate(anchor, sha256(SYNTH_ASK)));
    // Remembered or not, its validity is still checked every time.
    rejected(() => verifySnpChain(synthInput(), trust, Date.UTC(2045, 0, 2)), /^VCEK certificate \(CN SEV-VCEK\) has expired/);
    const other = synthVcek({ notAfter: Date.UTC(2046, 0, 1) });
    rejected(() => verifySnpChain(synthInput({ endorsement: other }), trust, Date.UTC(2045, 0, 2)), /^ASK certificate \(CN SEV-Milan\) has expired/);
  });
});

describe('SNP chain cache', () => {
  const input: SnpChainInput = { signer: 'VCEK', endorsement: VCEK, intermediate: MILAN_ASK, ark: MILAN_ARK };

  it('a repeated chain is a hit returning the same verified chain', () => {
    const cache = new SnpChainCache(8);
    const a = cache.verify(input, defaultTrust, NOW);
    const b = cache.verify({ ...input, endorsement: Uint8Array.from(VCEK) }, defaultTrust, NOW + DAY);
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
    assert.deepEqual(cache.stats(), { size: 1, hits: 1, misses: 1 });
    verifySnpReportSignatureOfReport(b.endorsementKey, AZURE_REPORT);
  });

  it('a hit re-checks validity with the same error as a full verification', () => {
    const cache = new SnpChainCache(8);
    cache.verify(input, defaultTrust, NOW);
    const late = Date.UTC(2031, 0, 1);
    const full = rejected(() => verifySnpChain(input, defaultTrust, late), /has expired/);
    const cached = rejected(() => cache.verify(input, defaultTrust, late), /has expired/);
    assert.equal(cached.message, full.message);
    assert.deepEqual(cached.details, full.details);
    assert.equal(cache.stats().hits, 1);
    assert.ok(cache.verify(input, defaultTrust, NOW));
  });

  it('the key covers the trust, the signer, the product hint and every presented certificate', () => {
    const keys = new Set([
      snpChainCacheKey(input, defaultTrust),
      snpChainCacheKey(input, embeddedTrust),
      snpChainCacheKey({ ...input, reportProductLine: 'Milan' }, defaultTrust),
      snpChainCacheKey({ ...input, ark: undefined }, defaultTrust),
      snpChainCacheKey({ ...input, intermediate: undefined }, defaultTrust),
      snpChainCacheKey({ ...input, signer: 'VLEK' }, defaultTrust),
      snpChainCacheKey({ ...input, endorsement: VCEK.subarray(1) }, defaultTrust),
      // moving bytes between fields changes the key (length prefixes)
      snpChainCacheKey({ signer: 'VCEK', endorsement: VCEK, intermediate: Buffer.concat([MILAN_ASK, MILAN_ARK]) }, defaultTrust),
    ]);
    assert.equal(keys.size, 8);
    assert.equal(snpChainCacheKey(input, defaultTrust), snpChainCacheKey({ ...input }, createAmdTrust({ amdRootKey: DEFAULT_ARK_PEM })));
    const cache = new SnpChainCache(8);
    cache.verify(input, defaultTrust, NOW);
    cache.verify(input, embeddedTrust, NOW);
    assert.deepEqual(cache.stats(), { size: 2, hits: 0, misses: 2 });
  });

  it('is bounded (least recently used goes first) and never caches failures', () => {
    const cache = new SnpChainCache(2);
    const inputs: [SnpChainInput, AmdTrust][] = [
      [input, defaultTrust],
      [{ ...input, ark: undefined }, defaultTrust],
      [{ ...input, intermediate: undefined, ark: undefined }, defaultTrust],
    ];
    cache.verify(...inputs[0]!, NOW);
    cache.verify(...inputs[1]!, NOW);
    cache.verify(...inputs[0]!, NOW); // refresh 0
    cache.verify(...inputs[2]!, NOW); // evicts 1
    assert.deepEqual(cache.stats(), { size: 2, hits: 1, misses: 3 });
    cache.verify(...inputs[0]!, NOW);
    assert.equal(cache.stats().hits, 2);
    cache.verify(...inputs[1]!, NOW);
    assert.equal(cache.stats().misses, 4);
    const bad = { ...input, endorsement: flipSignature(VCEK) };
    rejected(() => cache.verify(bad, defaultTrust, NOW), /not signed by the ASK/);
    rejected(() => cache.verify(bad, defaultTrust, NOW), /not signed by the ASK/);
    assert.equal(cache.stats().misses, 6);
    assert.equal(cache.stats().size, 2);
    assert.throws(() => new SnpChainCache(0), RangeError);
    cache.clear();
    assert.deepEqual(cache.stats(), { size: 0, hits: 0, misses: 0 });
  });
});

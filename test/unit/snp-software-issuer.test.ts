/**
 * The software SEV-SNP issuer and its synthetic AMD PKI
 * (src/workers/attestation/snp/issuer): the certificates chain and look like
 * AMD's (openssl verify, openssl asn1parse against the real ones in the shared
 * vectors), the documents parse with the project's decoders, bind
 * REPORT_DATA as each variant's Go issuer does (sev-snp-attestation.md §3–4),
 * carry a report signature that verifies with the VCEK/VLEK and TPM quotes
 * over SHA-256(InstanceInfo ‖ extraData), and the config helper yields a
 * schema-valid config whose measurements match the issuer's PCRs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateAttestationConfig } from '../../src/main/config/validate-attestation-config.js';
import { parseSnpHclReport } from '../../src/workers/attestation/snp/azure/hcl-report.js';
import { goHclExponent, decodeHclJwkComponents, hclJwkToPublicKey, parseHclRuntimeData } from '../../src/workers/attestation/snp/azure/runtime-data.js';
import { decodeSnpInstanceInfo } from '../../src/workers/attestation/snp/instance-info.js';
import {
  AZURE_DEFAULT_ID_KEY_DIGEST,
  defaultSyntheticAmdPki,
  loadOrCreateSyntheticAmdPki,
  loadSyntheticAmdPki,
  SoftwareSnpIssuer,
  SNP_VARIANTS,
  SyntheticAmdPki,
  syntheticSnpAttestationConfig,
  syntheticSnpCertCache,
  SYNTHETIC_AMD_DEFAULT_SEED,
  type IssuedSnpDocument,
  type SnpVariant,
} from '../../src/workers/attestation/snp/issuer/index.js';
import { parseSnpAttestationReport, SNP_REPORT_SIZE, type SnpAttestationReport } from '../../src/workers/attestation/snp/report/attestation-report.js';
import { decodeSnpEcdsaP384Signature } from '../../src/workers/attestation/snp/report/report-signature.js';
import { SigningKey } from '../../src/workers/attestation/snp/report/signer-info.js';
import { decodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { processEventLog } from '../../src/workers/attestation/vtpm/eventlog/index.js';
import { SoftwareTpmIssuer } from '../../src/workers/attestation/vtpm/issuer/index.js';
import { compareMeasurements, parseMeasurementsConfig } from '../../src/workers/attestation/vtpm/measurements.js';
import { identityFromKeyObject } from '../../src/workers/attestation/vtpm/tpm/tpmt-public.js';
import { verifyTpmAttestation } from '../../src/workers/attestation/vtpm/tpm/verify-attestation.js';
import { repoRoot } from '../helpers/repo-root.js';
import { CONSTELLATION_ATTESTATION as C, readVectorText } from '../helpers/vectors.js';

const pki = defaultSyntheticAmdPki();
let work: string;

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'snp-software-issuer-'));
});
after(() => {
  rmSync(work, { recursive: true, force: true });
});

function file(name: string, content: string | Uint8Array): string {
  const p = path.join(work, name);
  writeFileSync(p, content);
  return p;
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `openssl asn1parse -i` with offsets/lengths dropped and, when `mask`, values replaced (structure only). */
function asn1Structure(pemPath: string, mask: boolean): string[] {
  return openssl('asn1parse', '-in', pemPath, '-i')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('BIT STRING'))
    .map((l) => l.replace(/^ *\d+:d=(\d+) +hl= *\d+ l= *\d+/, 'd=$1'))
    .map((l) => (mask ? l.replace(/(HEX DUMP\]:|INTEGER +:|UTCTIME +:|UTF8STRING +:).*/, '$1X') : l));
}

/** The extension values (HEX DUMP of extnValue) by OID, from openssl asn1parse. */
function extensionValues(pemPath: string): Map<string, string> {
  const lines = openssl('asn1parse', '-in', pemPath).split('\n');
  const out = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const m = /OBJECT +:(1\.3\.6\.1\.4\.1\.3704\.[0-9.]+)/.exec(lines[i]!);
    if (!m) continue;
    const v = /\[HEX DUMP\]:([0-9A-F]+)/.exec(lines[i + 1] ?? '');
    if (v) out.set(m[1]!, v[1]!.toLowerCase());
  }
  return out;
}

const REAL = {
  arkAsk: 'amd/ask_ark_milan.pem',
  asvkArk: 'amd/ask_ark_milan_vlek.pem',
  vcek: `${C}/snp/testdata/vcek.pem`,
  vlek: `${C}/snp/testdata/vlek.pem`,
};

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

describe('synthetic AMD PKI', () => {
  it('ARK → ASK → VCEK and ARK → ASVK → VLEK verify with openssl', () => {
    const ark = file('ark.pem', pki.ark.pem);
    assert.match(openssl('verify', '-CAfile', ark, '-untrusted', file('ask.pem', pki.ask.pem), file('vcek.pem', pki.vcek().pem)), /vcek\.pem: OK/);
    assert.match(openssl('verify', '-CAfile', ark, '-untrusted', file('asvk.pem', pki.asvk.pem), file('vlek.pem', pki.vlek().pem)), /vlek\.pem: OK/);
    // The real ARK does not vouch for them.
    const realArk = file('real-ark.pem', pemBlocks(readVectorText(REAL.arkAsk))[1]!);
    assert.throws(() => openssl('verify', '-CAfile', realArk, '-untrusted', path.join(work, 'ask.pem'), path.join(work, 'vcek.pem')));
  });

  it("every certificate has the structure of AMD's (openssl asn1parse, values masked)", () => {
    const [realAsk, realArk] = pemBlocks(readVectorText(REAL.arkAsk));
    const [realAsvk] = pemBlocks(readVectorText(REAL.asvkArk));
    const pairs: [string, string, string][] = [
      ['ARK', realArk!, pki.ark.pem],
      ['ASK', realAsk!, pki.ask.pem],
      ['ASVK', realAsvk!, pki.asvk.pem],
      ['VCEK', readVectorText(REAL.vcek), pki.vcek().pem],
      ['VLEK', readVectorText(REAL.vlek), pki.vlek().pem],
    ];
    for (const [name, real, synthetic] of pairs) {
      const r = asn1Structure(file(`real-${name}.pem`, real), true);
      const s = asn1Structure(file(`syn-${name}.pem`, synthetic), true);
      assert.deepEqual(s, r, name);
    }
    // Unmasked, the CA certificates differ from AMD's only in key identifiers (and keys/signatures, not compared).
    const diff = (a: string[], b: string[]) => a.filter((l, i) => l !== b[i]);
    assert.deepEqual(
      diff(asn1Structure(path.join(work, 'syn-ARK.pem'), false), asn1Structure(path.join(work, 'real-ARK.pem'), false)).map((l) => l.replace(/:[0-9A-F]+$/, '')),
      ['d=5 prim:      OCTET STRING      [HEX DUMP]'],
    );
    const arkText = openssl('x509', '-in', path.join(work, 'syn-ARK.pem'), '-noout', '-text');
    assert.match(arkText, /Serial Number: 65536 \(0x10000\)/);
    assert.match(arkText, /Issuer: OU = Engineering, C = US, L = Santa Clara, ST = CA, O = Advanced Micro Devices, CN = ARK-Milan/);
    assert.match(arkText, /Public-Key: \(4096 bit\)/);
    assert.match(arkText, /Salt Length: 0x30/);
    assert.match(openssl('x509', '-in', path.join(work, 'syn-VCEK.pem'), '-noout', '-text'), /Serial Number: 0 \(0x0\)[\s\S]*NIST CURVE: P-384/);
  });

  it('KDS extensions are encoded as in the real VCEK/VLEK', () => {
    const realVcek = extensionValues(file('real-vcek.pem', readVectorText(REAL.vcek)));
    const synVcek = extensionValues(file('syn-vcek2.pem', pki.vcek().pem));
    assert.deepEqual([...synVcek.keys()], [...realVcek.keys()], 'same OIDs in the same order');
    const t = pki.tcb;
    const int = (n: number) => (n < 128 ? `0201${n.toString(16).padStart(2, '0')}` : `0202${n.toString(16).padStart(4, '0')}`);
    assert.equal(realVcek.get('1.3.6.1.4.1.3704.1.1'), '020100');
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.1'), '020100');
    assert.equal(realVcek.get('1.3.6.1.4.1.3704.1.2'), Buffer.from('\x16\x08Milan-B0').toString('hex'));
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.2'), Buffer.from('\x16\x08Milan-B0').toString('hex'));
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.3.1'), int(t.blSpl));
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.3.2'), int(t.teeSpl));
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.3.3'), int(t.snpSpl));
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.3.8'), int(t.ucodeSpl));
    for (const spl of ['4', '5', '6', '7']) assert.equal(synVcek.get(`1.3.6.1.4.1.3704.1.3.${spl}`), '020100');
    // hwID: the 64 raw CHIP_ID bytes, no inner tag (real: 64 bytes too).
    assert.equal(realVcek.get('1.3.6.1.4.1.3704.1.4')!.length, 128);
    assert.equal(synVcek.get('1.3.6.1.4.1.3704.1.4'), Buffer.from(pki.chipId).toString('hex'));

    const realVlek = extensionValues(file('real-vlek.pem', readVectorText(REAL.vlek)));
    const synVlek = extensionValues(file('syn-vlek2.pem', pki.vlek().pem));
    assert.deepEqual([...synVlek.keys()], [...realVlek.keys()]);
    assert.equal(synVlek.get('1.3.6.1.4.1.3704.1.2'), realVlek.get('1.3.6.1.4.1.3704.1.2'), 'productName "Milan"');
    assert.equal(synVlek.get('1.3.6.1.4.1.3704.1.5'), realVlek.get('1.3.6.1.4.1.3704.1.5'), 'cspID CN=cc-us-east-2.amazonaws.com');

    // A microcode SPL ≥ 128 needs the two-byte INTEGER (spec §6.1: 217 is 02 02 00 D9).
    const high = extensionValues(file('syn-vcek-217.pem', pki.vcek({ tcb: { ...t, ucodeSpl: 217 } }).pem));
    assert.equal(high.get('1.3.6.1.4.1.3704.1.3.8'), '020200d9');
  });

  it('is a function of the seed: byte-identical CA certificates; deterministic PSS signatures verify', () => {
    const again = new SyntheticAmdPki({ seed: SYNTHETIC_AMD_DEFAULT_SEED, leafNotBefore: pki.leafNotBefore });
    assert.deepEqual(again.ark.der, pki.ark.der);
    assert.deepEqual(again.ask.der, pki.ask.der);
    assert.deepEqual(again.vcek().der, pki.vcek().der);
    const ask = new X509Certificate(pki.ask.der);
    assert.ok(ask.verify(pki.ark.publicKey));
    assert.ok(new X509Certificate(pki.ark.der).checkIssued(new X509Certificate(pki.ark.der)));
    assert.equal(pki.vcekChainPem(), pki.ask.pem + pki.ark.pem);
    assert.equal(pki.vlekChainPem(), pki.asvk.pem + pki.ark.pem);
  });

  it('issues a VCEK per chip and TCB; saves and loads a PKI directory', () => {
    const other = pki.vcek({ tcb: { blSpl: 4, snpSpl: 9, ucodeSpl: 200 } });
    assert.notDeepEqual(other.der, pki.vcek().der);
    assert.ok(new X509Certificate(other.der).verify(pki.ask.publicKey));
    assert.ok(!other.publicKey.equals(pki.vcek().publicKey), 'a VCEK key is per TCB');

    const dir = path.join(work, 'pki');
    const created = loadOrCreateSyntheticAmdPki(dir, { leafNotBefore: pki.leafNotBefore });
    assert.deepEqual(created.ark.der, pki.ark.der);
    const loaded = loadSyntheticAmdPki(dir);
    for (const role of ['ark', 'ask', 'asvk'] as const) assert.deepEqual(loaded[role].der, pki[role].der, role);
    assert.deepEqual(loaded.vcek().der, created.vcek().der);
    assert.deepEqual(loaded.vlek().der, created.vlek().der);
    assert.deepEqual(loaded.chipId, pki.chipId);
    assert.equal(loaded.tcb.raw, pki.tcb.raw);
    assert.equal(readFileSync(path.join(dir, 'cert_chain.pem'), 'utf8'), pki.vcekChainPem());
    // A second loadOrCreate loads (options ignored).
    const reloaded = loadOrCreateSyntheticAmdPki(dir, { seed: 'other' });
    assert.deepEqual(reloaded.ark.der, pki.ark.der);
  });
});

const NONCE = createHash('sha256').update('server nonce').digest();
const USER_DATA = createHash('sha256').update('node certificate public key').digest();

interface Checked {
  issued: IssuedSnpDocument;
  report: SnpAttestationReport;
  signerCert: X509Certificate;
}

/** Decodes an issued document with the project's parsers and checks what every variant shares. */
function checkCommon(issuer: SoftwareSnpIssuer, issued: IssuedSnpDocument): Checked {
  const doc = decodeVtpmDocument(issued.document);
  assert.deepEqual(doc.userData, new Uint8Array(USER_DATA));
  assert.deepEqual(doc.instanceInfo, issued.instanceInfoBytes);
  const info = decodeSnpInstanceInfo(doc.instanceInfo);
  const report = parseSnpAttestationReport(info.attestationReport);
  assert.equal(report.vmpl, 0);
  assert.equal(report.signatureAlgo, 1);
  assert.equal(report.reportedTcb.raw, pki.tcb.raw);
  assert.equal(report.currentTcb.raw, pki.tcb.raw);
  assert.equal(report.committedTcb.raw, pki.tcb.raw);
  assert.equal(report.launchTcb.raw, pki.tcb.raw);
  assert.equal(report.policy.smt, true);
  assert.equal(report.policy.debug, false);
  assert.equal(report.policy.migrateMa, false);

  // The report signature verifies with the ReportSigner's P-384 key (R, S little-endian in the report).
  assert.ok(info.reportSigner);
  const signerCert = new X509Certificate(Buffer.from(info.reportSigner));
  assert.equal(signerCert.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const sig = decodeSnpEcdsaP384Signature(report.signature);
  assert.ok(sig.ieeeP1363);
  assert.ok(verify('sha384', report.signedBytes, { key: signerCert.publicKey, dsaEncoding: 'ieee-p1363' }, sig.ieeeP1363), 'report signature');
  assert.ok(verify('sha384', report.signedBytes, signerCert.publicKey, sig.der), 'report signature (DER form)');

  // The quotes verify with qualifying data SHA-256(InstanceInfo ‖ SHA-256(userData ‖ nonce)).
  const extraData = createHash('sha256').update(USER_DATA).update(NONCE).digest();
  assert.deepEqual(issued.extraData, new Uint8Array(extraData));
  const tpmNonce = createHash('sha256').update(doc.instanceInfo!).update(extraData).digest();
  assert.deepEqual(issued.tpmNonce, new Uint8Array(tpmNonce));
  const trustedAk = identityFromKeyObject(issuer.akPublicKey());
  const { sha256Quote } = verifyTpmAttestation(doc, { tpmNonce, trustedAk, processEventLog });
  assert.throws(() => verifyTpmAttestation(doc, { tpmNonce: createHash('sha256').update(extraData).digest(), trustedAk, processEventLog }), /verifying attestation document/);
  // PCRs match the synthetic config's measurements.
  const measurements = parseMeasurementsConfig(syntheticSnpAttestationConfig(issuer.variant, pki, issuer));
  assert.equal(measurements.size, 7);
  const cmp = compareMeasurements(measurements, sha256Quote.pcrs!.pcrs);
  assert.deepEqual(cmp.errors, []);
  assert.deepEqual(cmp.warnings, []);
  return { issued, report, signerCert };
}

describe('SoftwareSnpIssuer', () => {
  const issuers = new Map<SnpVariant, SoftwareSnpIssuer>(SNP_VARIANTS.map((v) => [v, new SoftwareSnpIssuer({ variant: v, pki })]));

  it('azure-sev-snp: HCL runtime data names the AK, REPORT_DATA[0:32] = SHA-256(runtime data), VCEK + ASK‖ARK', () => {
    const issuer = issuers.get('azure-sev-snp')!;
    const issued = issuer.issueDetailed(USER_DATA, NONCE);
    const { report, signerCert } = checkCommon(issuer, issued);
    const info = issued.instanceInfo;
    assert.equal(info.attestationReport.length, SNP_REPORT_SIZE);
    assert.equal(report.version, 2);
    assert.equal(report.signerInfo.signingKey, SigningKey.VCEK);
    assert.deepEqual(report.chipId, pki.chipId);
    assert.equal(Buffer.from(report.idKeyDigest).toString('hex'), AZURE_DEFAULT_ID_KEY_DIGEST);
    assert.equal(report.policy.abiMinor, 31);
    assert.ok(signerCert.publicKey.equals(pki.vcek().publicKey));
    assert.equal(Buffer.from(info.certChain!).toString('utf8'), pki.ask.pem + pki.ark.pem);
    assert.equal(info.gcp, null);
    assert.ok(info.azure);
    assert.equal(info.azure.maaToken, '');
    const runtime = info.azure.runtimeData!;
    assert.deepEqual(report.reportData.subarray(0, 32), new Uint8Array(createHash('sha256').update(runtime).digest()));
    assert.deepEqual(report.reportData.subarray(32), new Uint8Array(32));
    // §3.4: keys[0] is the TPM AK (modulus bytes, exponent read the HCL way).
    const rd = parseHclRuntimeData(runtime);
    assert.equal(rd.keys[0]!.kid, 'HCLAkPub');
    const { n, e } = decodeHclJwkComponents(rd.keys[0]!);
    assert.equal(goHclExponent(e), 65537);
    const akJwk = issuer.akPublicKey().export({ format: 'jwk' });
    assert.equal(Buffer.from(n).toString('base64url'), akJwk.n);
    assert.ok(hclJwkToPublicKey(rd.keys[0]!).keyObject.equals(issuer.akPublicKey()));
    // The HCL report holds the same report and runtime data.
    const hcl = parseSnpHclReport(issuer.hclReport());
    assert.deepEqual(hcl.hwReport, info.attestationReport);
    assert.deepEqual(hcl.runtimeData, runtime);
    // The HCL report is fixed per VM: the next document differs only in the quotes.
    const next = issuer.issueDetailed(USER_DATA, Buffer.alloc(32, 9));
    assert.deepEqual(next.instanceInfoBytes, issued.instanceInfoBytes);
    assert.notDeepEqual(next.tpmNonce, issued.tpmNonce);

    // With the IGVM header after the report, as Constellation's test data has it.
    const trailer = new SoftwareSnpIssuer({ variant: 'azure-sev-snp', pki, tpm: issuer.tpm, azureIgvmTrailer: true }).issueDetailed(USER_DATA, NONCE);
    assert.equal(trailer.instanceInfo.attestationReport.length, SNP_REPORT_SIZE + 20);
    const parsed = parseSnpAttestationReport(trailer.instanceInfo.attestationReport);
    assert.equal(Buffer.from(parsed.trailing).readUInt32LE(16), trailer.instanceInfo.azure!.runtimeData!.length);
  });

  it('aws-sev-snp: REPORT_DATA = SHA-512(AK SPKI), VLEK-signed, CertChain null', () => {
    const issuer = issuers.get('aws-sev-snp')!;
    const issued = issuer.issueDetailed(USER_DATA, NONCE);
    const { report, signerCert } = checkCommon(issuer, issued);
    const info = issued.instanceInfo;
    const spki = issuer.akPublicKey().export({ type: 'spki', format: 'der' });
    assert.deepEqual(report.reportData, new Uint8Array(createHash('sha512').update(spki).digest()));
    assert.equal(report.signerInfo.signingKey, SigningKey.VLEK);
    assert.deepEqual(report.chipId, new Uint8Array(64));
    assert.equal(report.version, 3);
    assert.equal(report.cpuid?.productLine, 'Milan');
    assert.ok(signerCert.publicKey.equals(pki.vlek().publicKey));
    assert.match(signerCert.subject, /CN=SEV-VLEK$/);
    assert.equal(info.certChain, null);
    assert.equal(info.azure, null);
    assert.equal(info.gcp, null);
    // A fresh signature per document, as from the hardware.
    const next = issuer.issueDetailed(USER_DATA, NONCE);
    assert.notDeepEqual(next.report, issued.report);
    assert.deepEqual(next.report.subarray(0, 0x2a0), issued.report.subarray(0, 0x2a0));
  });

  it('gcp-sev-snp: REPORT_DATA = extraData ‖ 0^32, VCEK-signed, CertChain = ASK, GCE instance', () => {
    const issuer = issuers.get('gcp-sev-snp')!;
    const issued = issuer.issueDetailed(USER_DATA, NONCE);
    const { report, signerCert } = checkCommon(issuer, issued);
    const info = issued.instanceInfo;
    const expected = new Uint8Array(64);
    expected.set(issued.extraData);
    assert.deepEqual(report.reportData, expected);
    assert.equal(report.signerInfo.signingKey, SigningKey.VCEK);
    assert.deepEqual(report.chipId, pki.chipId);
    assert.ok(signerCert.publicKey.equals(pki.vcek().publicKey));
    assert.equal(Buffer.from(info.certChain!).toString('utf8'), pki.ask.pem);
    assert.deepEqual(info.gcp, { zone: 'us-central1-a', projectId: 'constellation-synthetic', projectNumber: 0n, instanceName: 'synthetic-node-0', instanceId: 0n });
    assert.match(Buffer.from(issued.instanceInfoBytes).toString('utf8'), /"GCP":\{"zone":"us-central1-a","project_id":"constellation-synthetic","instance_name":"synthetic-node-0"\}\}$/);
    assert.ok(createPublicKey(issuer.akPublicKeyPem()).equals(issuer.akPublicKey()));
  });

  it('configs trust the synthetic PKI and pass the attestation config schema', () => {
    for (const variant of SNP_VARIANTS) {
      const text = syntheticSnpAttestationConfig(variant, pki);
      validateAttestationConfig(variant, text);
      const cfg = JSON.parse(text) as Record<string, unknown>;
      assert.equal(cfg.amdRootKey, pki.ark.pem);
      assert.equal(cfg.amdSigningKey, variant === 'aws-sev-snp' ? pki.asvk.pem : '');
      assert.deepEqual([cfg.bootloaderVersion, cfg.teeVersion, cfg.snpVersion, cfg.microcodeVersion], [3, 0, 8, 115]);
      // Member order of the fixtures (Go's encoder).
      const fixture = JSON.parse(readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'attestation-config', `${variant}.json`), 'utf8')) as object;
      assert.deepEqual(Object.keys(cfg), Object.keys(fixture));
      assert.ok(text.startsWith('{"measurements":{"11":'));
    }
    const azure = JSON.parse(syntheticSnpAttestationConfig('azure-sev-snp', pki)) as { firmwareSignerConfig: unknown };
    assert.deepEqual(azure.firmwareSignerConfig, { acceptedKeyDigests: [AZURE_DEFAULT_ID_KEY_DIGEST], enforcementPolicy: 'MAAFallback' });
    assert.deepEqual(syntheticSnpCertCache('aws-sev-snp', pki), { ask: pki.asvk.pem, ark: pki.ark.pem });
    assert.deepEqual(syntheticSnpCertCache('azure-sev-snp', pki), { ask: pki.ask.pem, ark: pki.ark.pem });
    assert.equal(syntheticSnpCertCache('gcp-sev-snp', pki), null);
  });

  it('overrides build documents a validator must reject', () => {
    const tpm = issuers.get('gcp-sev-snp')!.tpm;
    const verifies = (issued: IssuedSnpDocument): boolean => {
      const r = parseSnpAttestationReport(issued.instanceInfo.attestationReport);
      const cert = new X509Certificate(Buffer.from(issued.instanceInfo.reportSigner!));
      return verify('sha384', r.signedBytes, { key: cert.publicKey, dsaEncoding: 'ieee-p1363' }, decodeSnpEcdsaP384Signature(r.signature).ieeeP1363!);
    };
    const wrongKey = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    assert.equal(verifies(new SoftwareSnpIssuer({ variant: 'gcp-sev-snp', pki, tpm, reportSigningKey: wrongKey }).issueDetailed(USER_DATA, NONCE)), false);
    const flipped = new SoftwareSnpIssuer({
      variant: 'gcp-sev-snp',
      pki,
      tpm,
      mutateReport: (r) => {
        r[0x90]! ^= 1; // MEASUREMENT
        return r;
      },
    }).issueDetailed(USER_DATA, NONCE);
    assert.equal(verifies(flipped), false);
    // Signed, but REPORTED_TCB no longer the VCEK's; VMPL 1; debug policy; v3 report.
    const odd = new SoftwareSnpIssuer({ variant: 'gcp-sev-snp', pki, tpm, vmpl: 1, policy: { smt: true, debug: true }, report: { reportedTcb: 0n } }).issueDetailed(USER_DATA, NONCE);
    assert.equal(verifies(odd), true);
    const r = parseSnpAttestationReport(odd.instanceInfo.attestationReport);
    assert.deepEqual([r.vmpl, r.policy.debug, r.reportedTcb.raw, r.currentTcb.raw], [1, true, 0n, pki.tcb.raw]);
    // Other TCB: a matching VCEK for it is issued (REPORTED_TCB == VCEK TCB still holds).
    const newer = new SoftwareSnpIssuer({ variant: 'azure-sev-snp', pki, tpm, tcb: { blSpl: 4, snpSpl: 10, ucodeSpl: 120 }, reportVersion: 3 }).issueDetailed(USER_DATA, NONCE);
    const nr = parseSnpAttestationReport(newer.instanceInfo.attestationReport);
    assert.equal(nr.version, 3);
    assert.equal(nr.cpuid?.productLine, 'Milan');
    assert.equal(verifies(newer), true);
    const cert = new X509Certificate(Buffer.from(newer.instanceInfo.reportSigner!));
    assert.ok(cert.publicKey.equals(pki.vcek({ tcb: nr.reportedTcb.raw }).publicKey));
    // InstanceInfo members: null ReportSigner/CertChain, GCP null.
    const bare = new SoftwareSnpIssuer({ variant: 'gcp-sev-snp', pki, tpm, reportSignerPem: null, certChainPem: null, gce: null }).issueDetailed(USER_DATA, NONCE);
    assert.deepEqual([bare.instanceInfo.reportSigner, bare.instanceInfo.certChain, bare.instanceInfo.gcp], [null, null, null]);
    // An ECC AK cannot be carried by Azure's runtime data.
    assert.throws(() => new SoftwareSnpIssuer({ variant: 'azure-sev-snp', pki, tpm: new SoftwareTpmIssuer({ akType: 'ecc' }) }), /RSA AK/);
  });

  it('joinservice issue prints SEV-SNP documents and configs from a PKI directory', () => {
    const dir = path.join(work, 'cli-pki');
    pki.save(dir); // as loadOrCreate would have left it; avoids deriving the keys again in the child
    const bin = path.join(repoRoot(), 'bin', 'joinservice.js');
    const run = (...args: string[]) => execFileSync(process.execPath, [bin, 'issue', '--pki-dir', dir, ...args], { maxBuffer: 1 << 20 });
    const out = run('--variant', 'azure-sev-snp', '--nonce', NONCE.toString('hex'), '--user-data', USER_DATA.toString('hex'));
    const doc = decodeVtpmDocument(new Uint8Array(out));
    const info = decodeSnpInstanceInfo(doc.instanceInfo);
    assert.equal(Buffer.from(info.reportSigner!).toString('utf8'), pki.vcek().pem);
    const report = parseSnpAttestationReport(info.attestationReport);
    const signer = new X509Certificate(Buffer.from(info.reportSigner!));
    assert.ok(verify('sha384', report.signedBytes, { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, decodeSnpEcdsaP384Signature(report.signature).ieeeP1363!));
    const config = run('--variant', 'azure-sev-snp', '--print-config').toString('utf8');
    assert.equal(config, syntheticSnpAttestationConfig('azure-sev-snp', pki) + '\n');
  });
});

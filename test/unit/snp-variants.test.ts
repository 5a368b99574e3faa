/**
 * The SEV-SNP variants azure-sev-snp, aws-sev-snp and gcp-sev-snp
 * (src/workers/attestation/snp/variants/, sev-snp-attestation.md §8.3, §9,
 * §10, §11):
 *
 * - Constellation's real vectors with the clock pinned: the Azure report +
 *   VCEK + THIM chain + runtime data through the SNP step (there is no TPM
 *   quote for it), the AWS VLEK report with REPORT_DATA = the AK digest, the
 *   v2 VLEK report; negatives through the variant entry points (wrong chain,
 *   wrong product root, expired certificates, TCB below minimum, ID key
 *   digest modes, REPORT_DATA and AK mismatch, a bit flip in each signed
 *   field, AMD KDS answers);
 * - full documents of the software SNP issuer through the real validators
 *   (quote, measurements), tampered documents rejected;
 * - the amdSigningKey override of the start-up certificate cache (overlay,
 *   serve's wiring) and the config rules for amdRootKey.
 */
import assert from 'node:assert/strict';
import { constants, createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { startSnpCertCache } from '../../src/main/cli/serve.js';
import { AttestationConfigSource } from '../../src/main/config/attestation-config-source.js';
import { validateAttestationConfig } from '../../src/main/config/validate-attestation-config.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { overlayAmdSigningKey, SnpSigningKeyOverlay } from '../../src/main/snp/signing-key-overlay.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { decodeAllPem, encodePem } from '../../src/shared/pem.js';
import { loadValidatorFactory } from '../../src/workers/attestation/registry.js';
import { MaaTokenValidator } from '../../src/workers/attestation/snp/azure/maa-token.js';
import { SnpChainCache } from '../../src/workers/attestation/snp/chain/chain-cache.js';
import { encodeSnpInstanceInfo, type SnpInstanceInfo } from '../../src/workers/attestation/snp/instance-info.js';
import { defaultSyntheticAmdPki, SoftwareSnpIssuer, syntheticSnpAttestationConfig, type SnpVariant, type SoftwareSnpIssuerOptions } from '../../src/workers/attestation/snp/issuer/index.js';
import { KdsError, type VcekRequest } from '../../src/workers/attestation/snp/kds/kds-client.js';
import { encodeSignerInfo, SigningKey } from '../../src/workers/attestation/snp/report/signer-info.js';
import { awsSevSnpValidatorFactory } from '../../src/workers/attestation/snp/variants/aws-sev-snp.js';
import { azureSevSnpValidatorFactory, type AzureSevSnpDependencies } from '../../src/workers/attestation/snp/variants/azure-sev-snp.js';
import { gcpSevSnpValidatorFactory } from '../../src/workers/attestation/snp/variants/gcp-sev-snp.js';
import {
  evidenceOptions,
  parseSnpConfig,
  snpTrustOf,
  SnpVtpmValidator,
  verifySnpEvidence,
  type SnpStepDependencies,
  type SnpStepResult,
  type SnpVcekSource,
} from '../../src/workers/attestation/snp/variants/snp-step.js';
import type { ValidatorFactory } from '../../src/workers/attestation/validator.js';
import { decodeVtpmDocument, encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import type { ShieldedIdentityClient } from '../../src/workers/attestation/vtpm/gcp/shielded-identity-client.js';
import type { HttpTransport } from '../../src/workers/attestation/vtpm/http-client.js';
import { encodeAkPublic } from '../../src/workers/attestation/vtpm/issuer/tpm-structures.js';
import { identityFromKeyObject, keyEquals } from '../../src/workers/attestation/vtpm/tpm/tpmt-public.js';
import type { VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import { CONSTELLATION_ATTESTATION as C, readVector, readVectorBase64, readVectorHex, readVectorText } from '../helpers/vectors.js';
import { buildCertificate, testKey } from './support/test-certificates.js';

// ---------------------------------------------------------------------------
// Vectors

const ARK_MILAN = readVectorText('constellation/internal/config/defaults/amd_ark_milan.pem', '8c109952166431ffad8cb9a3d54f3d20ffbbb58164f0d54be3457bf0ece9e0d8');
const ARK_GENOA = encodePem('CERTIFICATE', decodeAllPem(readVectorText('amd/ask_ark_genoa.pem'))[1]!.bytes);
const AZ = {
  report: readVector(`${C}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620'),
  vcekPem: readVectorText(`${C}/snp/testdata/vcek.pem`, 'b8801d0e849361c13bd73c6482808b3bdbb51bb73a8e19b045f0f80d1f14092e'),
  vcekDer: readVector(`${C}/snp/testdata/vcek.cert`, 'b68af9a570db2b79fe686495dcb2c18f164ddcced5661781177012bbe67e564d'),
  chain: readVectorText(`${C}/snp/testdata/certchain.pem`, '22e62f8d2c21a156470145fc75f7b5a377cb053ced3e97f0bd3f8d8ca5941ce6'),
  vlekChain: readVectorText(`${C}/snp/testdata/vlekcertchain.pem`, '3098f7e90ee7049b8cf116448d1bdf33b08847b4250bd99507cf73b5c49d3467'),
  runtimeData: readVector(`${C}/snp/testdata/runtimedata.bin`, '0ccc0895ef2f2c3b8c8568f5a2bb65ff5bf9387a09359742ad41e686cacfd38b'),
  idKeyDigest: readVectorHex(`${C}/snp/testdata/attestation_idkeydigest.hex`, '46b53dad25f7bae14507354218cba1a5b9fb4ea4d4c758601154917d377c0566').toString('hex'),
};
const AWS = {
  report: readVectorBase64(`${C}/aws/snp/testdata/report.txt`, '0f92eb72c01081020f798d53ba20e6421c34772714eb949ba01fa4a288b310ce'),
  vlekPem: readVectorText(`${C}/aws/snp/testdata/vlek.pem`, 'bcf2a296685afb2d2125ed43af98f5f55d3563f100832482e20918e6d019680e'),
  chain: readVectorText(`${C}/aws/snp/testdata/certchain.pem`, '3098f7e90ee7049b8cf116448d1bdf33b08847b4250bd99507cf73b5c49d3467'),
  akDigest: readVectorHex(`${C}/aws/snp/testdata/akdigest.hex`, 'd2d9e8aa2afe1f3226acd2dbc48af85e0ec143fc7eac45ecfe15647ca75a5470'),
};
const VLEK_V2 = {
  report: readVectorHex(`${C}/snp/testdata/attestation_vlek.hex`, 'f5f678231df2abc52e856758df4259dd90c9250c6a54fe2927ef7d48d5e803a6'),
  vlekPem: readVectorText(`${C}/snp/testdata/vlek.pem`, '3efb601e08235ecae3d7edfae308cd9c073538003f7794d3a39c95a0c17ad3df'),
};
/** Inside every Azure vector certificate's validity (VCEK 2023-08-30 – 2030-08-30). */
const AZURE_NOW = Date.UTC(2025, 0, 1);
/** Inside the AWS VLEK's validity (2024-12-10 – 2025-12-10). */
const AWS_NOW = Date.UTC(2025, 5, 1);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha512 = (b: Uint8Array): Buffer => createHash('sha512').update(b).digest();

/** The AK the vector's runtime data names (HCLAkPub), as an RSA public key. */
const AZURE_AK: KeyObject = (() => {
  const k = (JSON.parse(AZ.runtimeData.toString('utf8')) as { keys: { n: string; e: string }[] }).keys[0]!;
  return createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' });
})();
const OTHER_RSA = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;

/** A KDS that must not be asked; `requests` records what was asked anyway. */
function kdsFake(answer?: (req: VcekRequest) => Promise<Uint8Array>): SnpVcekSource & { requests: VcekRequest[]; deleted: VcekRequest[] } {
  const requests: VcekRequest[] = [];
  const deleted: VcekRequest[] = [];
  return {
    requests,
    deleted,
    getVcek(req) {
      requests.push(req);
      return answer ? answer(req) : Promise.reject(new Error('AMD KDS must not be asked'));
    },
    deleteVcek(req) {
      deleted.push(req);
    },
  };
}

function vtpmDoc(akPub: Uint8Array, instanceInfo: Uint8Array): VtpmDocument {
  return {
    attestation: { akPub, quotes: [], eventLog: new Uint8Array(0), akCert: new Uint8Array(0), intermediateCerts: [], teeAttestation: 'null' },
    instanceInfo,
    userData: null,
  };
}

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

function azureInfo(over: Partial<SnpInstanceInfo> = {}): Uint8Array {
  return encodeSnpInstanceInfo({
    reportSigner: utf8(AZ.vcekPem),
    certChain: utf8(AZ.chain),
    attestationReport: new Uint8Array(AZ.report),
    azure: { runtimeData: new Uint8Array(AZ.runtimeData), maaToken: '' },
    gcp: null,
    ...over,
  });
}

interface AzureConfigOptions {
  versions?: [number, number, number, number];
  digests?: string[];
  policy?: string | null;
  maaURL?: string;
  amdRootKey?: string;
  amdSigningKey?: string;
}

function azureConfig(o: AzureConfigOptions = {}): string {
  const [bl, tee, snp, ucode] = o.versions ?? [2, 0, 6, 93];
  const fsc: Record<string, unknown> = { acceptedKeyDigests: o.digests ?? [AZ.idKeyDigest] };
  if (o.policy !== null) fsc.enforcementPolicy = o.policy ?? 'Equal';
  if (o.maaURL !== undefined) fsc.maaURL = o.maaURL;
  return JSON.stringify({
    measurements: {},
    bootloaderVersion: bl,
    teeVersion: tee,
    snpVersion: snp,
    microcodeVersion: ucode,
    firmwareSignerConfig: fsc,
    amdRootKey: o.amdRootKey ?? ARK_MILAN,
    amdSigningKey: o.amdSigningKey ?? '',
  });
}

function stepOf(factory: ValidatorFactory, configText: string): SnpVtpmValidator['step'] {
  const v = factory(configText);
  assert.ok(v instanceof SnpVtpmValidator);
  return v.step;
}

function azureStep(configText = azureConfig(), deps: AzureSevSnpDependencies = {}): SnpVtpmValidator['step'] {
  return stepOf(azureSevSnpValidatorFactory({ now: () => AZURE_NOW, kds: kdsFake(), chainCache: new SnpChainCache(), ...deps }), configText);
}

const EXTRA = new Uint8Array(createHash('sha256').update('user data ‖ nonce').digest());

async function rejects(p: Promise<unknown>, code: ErrorCode, message: string | RegExp): Promise<JoinServiceError> {
  let caught: JoinServiceError | undefined;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, String(err));
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    caught = err;
    return true;
  });
  return caught!;
}

// ---------------------------------------------------------------------------

describe('azure-sev-snp: Constellation\'s vector (clock pinned to 2025-01-01)', () => {
  const akPub = encodeAkPublic(AZURE_AK);

  it('passes the SNP step with the vector\'s TCB and policy and its ID key digest accepted (Equal)', async () => {
    const kds = kdsFake();
    const r = await azureStep(azureConfig(), { kds }).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA);
    assert.ok(keyEquals(r.trustedAk, identityFromKeyObject(AZURE_AK)));
    assert.deepEqual(r.warnings, []);
    assert.equal(r.evidence.signer, 'VCEK');
    assert.equal(r.evidence.chain.productLine, 'Milan');
    assert.equal(r.evidence.chain.intermediate.source, 'node');
    assert.equal(r.evidence.endorsementSource, 'node');
    assert.equal(r.evidence.report.version, 2);
    assert.equal(kds.requests.length, 0);
  });

  it('passes with amdRootKey "" (the embedded ARK-Milan) and with the config\'s ASK when the node sends no chain', async () => {
    const embedded = await azureStep(azureConfig({ amdRootKey: '' })).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA);
    assert.equal(embedded.evidence.chain.ark.source, 'embedded');
    const ask = encodePem('CERTIFICATE', decodeAllPem(AZ.chain)[0]!.bytes);
    const configured = await azureStep(azureConfig({ amdSigningKey: ask })).trustedAk(vtpmDoc(akPub, azureInfo({ certChain: null })), EXTRA);
    assert.equal(configured.evidence.chain.intermediate.source, 'amdSigningKey');
    const fallback = await azureStep(azureConfig()).trustedAk(vtpmDoc(akPub, azureInfo({ certChain: null })), EXTRA);
    assert.equal(fallback.evidence.chain.intermediate.source, 'embedded');
  });

  it('accepts the ID key digest mismatch with WarnOnly (a warning) and rejects it with Equal and with a missing policy', async () => {
    const other = 'ab'.repeat(48);
    const warn = await azureStep(azureConfig({ digests: [other], policy: 'WarnOnly' })).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA);
    assert.deepEqual(warn.warnings, [`Configured idkeydigests [${other}] don't contain reported idkeydigest ${AZ.idKeyDigest}`]);
    await rejects(
      azureStep(azureConfig({ digests: [other], policy: 'Equal' })).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA),
      ErrorCode.AttestationRejected,
      `validating SNP attestation: report ID key not trusted: ${AZ.idKeyDigest}`,
    );
    await rejects(
      azureStep(azureConfig({ digests: [other], policy: null })).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA),
      ErrorCode.AttestationRejected,
      `checking IDKey digests: configured idkeydigests [${other}] don't contain reported idkeydigest ${AZ.idKeyDigest}`,
    );
  });

  describe('MAAFallback', () => {
    const rsa = testKey('rsa');
    const keySet = JSON.stringify({ keys: [{ kid: 'maa-1', x5c: [Buffer.from(buildCertificate({ key: rsa })).toString('base64')] }] });
    const transport: HttpTransport = (req) =>
      Promise.resolve(req.url === 'https://maa.test/certs' ? { status: 200, headers: {}, body: Buffer.from(keySet) } : { status: 404, headers: {}, body: Buffer.alloc(0) });
    const maa = new MaaTokenValidator({ transport, now: () => AZURE_NOW });
    const b64url = (s: string | Buffer): string => Buffer.from(s).toString('base64url');
    const maaToken = (nonce: Uint8Array): string => {
      const s = Math.floor(AZURE_NOW / 1000);
      const input = `${b64url(JSON.stringify({ alg: 'RS256', kid: 'maa-1' }))}.${b64url(JSON.stringify({ exp: s + 600, iat: s, 'x-ms-runtime': { 'client-payload': { nonce: Buffer.from(nonce).toString('base64') } } }))}`;
      return `${input}.${b64url(sign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING }))}`;
    };
    const other = 'cd'.repeat(48);
    const withToken = (token: string): Uint8Array => azureInfo({ azure: { runtimeData: new Uint8Array(AZ.runtimeData), maaToken: token } });

    it('accepts an unlisted digest when the MAA token binds extraData', async () => {
      const r = await azureStep(azureConfig({ digests: [other], policy: 'MAAFallback', maaURL: 'https://maa.test' }), { maa }).trustedAk(vtpmDoc(akPub, withToken(maaToken(EXTRA))), EXTRA);
      assert.equal(r.warnings.length, 1);
      assert.match(r.warnings[0]!, /accepted by the MAA token/);
    });

    it('rejects without maaURL (the CLI-deployed default), with an empty token and with a token for other extraData', async () => {
      await rejects(
        azureStep(azureConfig({ digests: [other], policy: 'MAAFallback' }), { maa }).trustedAk(vtpmDoc(akPub, withToken(maaToken(EXTRA))), EXTRA),
        ErrorCode.AttestationRejected,
        'checking IDKey digests: getting key set from MAA: maaURL is empty',
      );
      await rejects(
        azureStep(azureConfig({ digests: [other], policy: 'MAAFallback', maaURL: 'https://maa.test' }), { maa }).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA),
        ErrorCode.AttestationRejected,
        'checking IDKey digests: validating token: parsing token: go-jose/go-jose: compact JWS format must have three parts',
      );
      await rejects(
        azureStep(azureConfig({ digests: [other], policy: 'MAAFallback', maaURL: 'https://maa.test' }), { maa }).trustedAk(vtpmDoc(akPub, withToken(maaToken(new Uint8Array(32)))), EXTRA),
        ErrorCode.AttestationRejected,
        'checking IDKey digests: invalid claims: nonce does not match extra data',
      );
    });
  });

  it('rejects a wrong chain (the VLEK chain as the node\'s ASK)', async () => {
    await rejects(
      azureStep().trustedAk(vtpmDoc(akPub, azureInfo({ certChain: utf8(AZ.vlekChain) })), EXTRA),
      ErrorCode.AttestationRejected,
      /^verifying SNP attestation: VCEK certificate issuer \(CN SEV-Milan\) is not the subject of the ASK \(CN SEV-VLEK-Milan, from node\)/,
    );
  });

  it('rejects a root of another product line (amdRootKey ARK-Genoa)', async () => {
    await rejects(
      azureStep(azureConfig({ amdRootKey: ARK_GENOA })).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA),
      ErrorCode.AttestationRejected,
      /^verifying SNP attestation: VCEK chain is for product line Milan, but the trusted root \(amdRootKey\) is ARK-Genoa/,
    );
  });

  it('rejects an expired VCEK (clock after its notAfter, 2030-08-30)', async () => {
    const step = stepOf(azureSevSnpValidatorFactory({ now: () => Date.UTC(2030, 8, 1), kds: kdsFake(), chainCache: new SnpChainCache() }), azureConfig());
    await rejects(step.trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA), ErrorCode.AttestationRejected, /^verifying SNP attestation: VCEK certificate \(CN SEV-VCEK\) has expired: .*is after 2030-08-30T12:15:24Z$/);
  });

  it('rejects a TCB below the configured minimum, listing both the launch and the reported rule', async () => {
    const err = await rejects(
      azureStep(azureConfig({ versions: [3, 0, 6, 93] })).trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA),
      ErrorCode.AttestationRejected,
      /^validating SNP attestation: /,
    );
    const vector = '{BlSpl:2 TeeSpl:0 Spl4:0 Spl5:0 Spl6:0 Spl7:0 SnpSpl:6 UcodeSpl:93}';
    const minimum = '{BlSpl:3 TeeSpl:0 Spl4:0 Spl5:0 Spl6:0 Spl7:0 SnpSpl:6 UcodeSpl:93}';
    assert.deepEqual(err.details?.failedChecks, [
      `the report's LAUNCH_TCB ${vector} is lower than the policy minimum launch TCB ${minimum} in at least one component`,
      `the report's REPORTED_TCB ${vector} is lower than the policy minimum TCB ${minimum} in at least one component`,
    ]);
  });

  it('rejects an AK the runtime data does not name, a missing Azure member and bad runtime data', async () => {
    await rejects(azureStep().trustedAk(vtpmDoc(encodeAkPublic(OTHER_RSA), azureInfo()), EXTRA), ErrorCode.AttestationRejected, 'validating HCLAkPub: unexpected modulus value in TPM');
    await rejects(azureStep().trustedAk(vtpmDoc(akPub, azureInfo({ azure: null })), EXTRA), ErrorCode.AttestationRejected, 'missing Azure info from instanceInfo');
    const rd = Buffer.from(AZ.runtimeData);
    const at = rd.indexOf('B6C98C3B');
    rd[at] = 0x41; // vmUniqueId A6C98C3B…: still valid JSON, another digest
    await rejects(
      azureStep().trustedAk(vtpmDoc(akPub, azureInfo({ azure: { runtimeData: new Uint8Array(rd), maaToken: '' } })), EXTRA),
      ErrorCode.AttestationRejected,
      'validating HCLAkPub: unexpected runtimeData digest in TPM',
    );
  });

  for (const [field, offset] of [
    ['POLICY (DEBUG bit)', 0x0a],
    ['REPORT_DATA', 0x50],
    ['MEASUREMENT', 0x90],
    ['REPORTED_TCB', 0x180],
    ['CHIP_ID', 0x1a0],
    ['SIGNATURE R', 0x2a0],
    ['SIGNATURE S', 0x2e8],
  ] as const) {
    it(`rejects a bit flip in ${field}`, async () => {
      const report = Buffer.from(AZ.report);
      report[offset] = report[offset]! ^ (field.startsWith('POLICY') ? 0x08 : 0x01);
      await rejects(
        azureStep().trustedAk(vtpmDoc(akPub, azureInfo({ attestationReport: new Uint8Array(report) })), EXTRA),
        ErrorCode.AttestationRejected,
        /^verifying SNP attestation: report signature verification error: /,
      );
    });
  }

  describe('VCEK from AMD KDS (ReportSigner empty or unusable)', () => {
    it('fetches the VCEK for the report\'s chip and REPORTED_TCB (product Milan) and accepts the report', async () => {
      const kds = kdsFake(() => Promise.resolve(new Uint8Array(AZ.vcekDer)));
      const r = await azureStep(azureConfig(), { kds }).trustedAk(vtpmDoc(akPub, azureInfo({ reportSigner: null })), EXTRA);
      assert.equal(r.evidence.endorsementSource, 'kds');
      assert.equal(kds.requests.length, 1);
      assert.equal(kds.requests[0]!.product, 'Milan');
      assert.equal(hex(kds.requests[0]!.chipId), hex(r.evidence.report.chipId));
      assert.equal(kds.requests[0]!.reportedTcb, 0x5d06000000000002n);
      const garbage = await azureStep(azureConfig(), { kds: kdsFake(() => Promise.resolve(new Uint8Array(AZ.vcekDer))) }).trustedAk(
        vtpmDoc(akPub, azureInfo({ reportSigner: utf8('not a certificate') })),
        EXTRA,
      );
      assert.deepEqual(garbage.warnings, ['Error parsing report signer: no PEM blocks found']);
    });

    it('maps KDS failures: AMD/network → upstream unavailable, a rejected request → rejected', async () => {
      const url = 'https://kdsintf.amd.com/vcek/v1/Milan/…';
      await rejects(
        azureStep(azureConfig(), { kds: kdsFake(() => Promise.reject(new KdsError(`failed to retrieve ${url}: 503`, true, 'status', url, 3, 503))) }).trustedAk(vtpmDoc(akPub, azureInfo({ reportSigner: null })), EXTRA),
        ErrorCode.AttestationUpstreamUnavailable,
        /^parsing attestation report: adding report signer: retrieving VCEK certificate from AMD KDS: failed to retrieve /,
      );
      await rejects(
        azureStep(azureConfig(), { kds: kdsFake(() => Promise.reject(new KdsError(`failed to retrieve ${url}: 404`, false, 'status', url, 1, 404))) }).trustedAk(vtpmDoc(akPub, azureInfo({ reportSigner: null })), EXTRA),
        ErrorCode.AttestationRejected,
        /^parsing attestation report: adding report signer: retrieving VCEK certificate from AMD KDS: /,
      );
    });

    it('drops a fetched VCEK that fails the chain check from the cache', async () => {
      const kds = kdsFake(() => Promise.resolve(new Uint8Array(decodeAllPem(AWS.vlekPem)[0]!.bytes)));
      await rejects(azureStep(azureConfig(), { kds }).trustedAk(vtpmDoc(akPub, azureInfo({ reportSigner: null })), EXTRA), ErrorCode.AttestationRejected, /^verifying SNP attestation: /);
      assert.equal(kds.deleted.length, 1);
    });
  });
});

describe('aws-sev-snp: Constellation\'s vectors (clock pinned)', () => {
  const awsInfo = (over: Partial<SnpInstanceInfo> = {}): Uint8Array =>
    encodeSnpInstanceInfo({ reportSigner: utf8(AWS.vlekPem), certChain: null, attestationReport: new Uint8Array(AWS.report), azure: null, gcp: null, ...over });
  const awsConfig = (amdSigningKey = ''): string =>
    JSON.stringify({ measurements: {}, bootloaderVersion: 0, teeVersion: 0, snpVersion: 0, microcodeVersion: 0, amdRootKey: ARK_MILAN, amdSigningKey });
  const deps = (now = AWS_NOW): SnpStepDependencies => ({ now: () => now, kds: kdsFake(), chainCache: new SnpChainCache() });
  const WRAP = { outer: 'validating SNP report: ', instanceInfo: 'unmarshalling instance info', attestation: 'getting attestation with certs' };
  const evidence = (info: Uint8Array, reportData: Uint8Array, o: { now?: number; amdSigningKey?: string } = {}) => {
    const cfg = parseSnpConfig('aws-sev-snp', awsConfig(o.amdSigningKey));
    return verifySnpEvidence(info, evidenceOptions('aws-sev-snp', snpTrustOf('aws-sev-snp', cfg), deps(o.now), { reportData, minimumLaunchTcb: cfg.minimumTcb, vmpl: 0 }, WRAP));
  };

  it('verifies the VLEK-signed v3 report with REPORT_DATA = the AK digest (ASVK embedded or from amdSigningKey)', async () => {
    const r = await evidence(awsInfo(), AWS.akDigest);
    assert.equal(r.signer, 'VLEK');
    assert.equal(r.chain.productLine, 'Milan');
    assert.equal(r.chain.intermediate.source, 'embedded');
    assert.equal(hex(r.report.reportData), hex(AWS.akDigest));
    const asvk = encodePem('CERTIFICATE', decodeAllPem(AWS.chain)[0]!.bytes);
    const configured = await evidence(awsInfo(), AWS.akDigest, { amdSigningKey: asvk });
    assert.equal(configured.chain.intermediate.source, 'amdSigningKey');
  });

  it('rejects a REPORT_DATA that is not the digest', async () => {
    const other = new Uint8Array(64).fill(1);
    await rejects(evidence(awsInfo(), other), ErrorCode.AttestationRejected, `validating SNP report: validating SNP attestation: report field REPORT_DATA is ${hex(AWS.akDigest)}. Expect ${hex(other)}`);
  });

  it('rejects through the variant entry point: the document\'s AK is not the one REPORT_DATA binds', async () => {
    const step = stepOf(awsSevSnpValidatorFactory(deps()), awsConfig());
    const akPub = encodeAkPublic(OTHER_RSA);
    const expected = sha512(new Uint8Array(OTHER_RSA.export({ type: 'spki', format: 'der' })));
    await rejects(
      step.trustedAk(vtpmDoc(akPub, awsInfo()), EXTRA),
      ErrorCode.AttestationRejected,
      `validating SNP report: validating SNP attestation: report field REPORT_DATA is ${hex(AWS.akDigest)}. Expect ${hex(expected)}`,
    );
  });

  it('rejects an expired VLEK (clock after 2025-12-10)', async () => {
    await rejects(evidence(awsInfo(), AWS.akDigest, { now: Date.UTC(2026, 0, 1) }), ErrorCode.AttestationRejected, /^validating SNP report: verifying SNP attestation: VLEK certificate \(CN SEV-VLEK\) has expired/);
  });

  it('rejects a missing VLEK and a VCEK-signed report without asking AMD KDS', async () => {
    const kds = kdsFake();
    const step = stepOf(awsSevSnpValidatorFactory({ ...deps(), kds }), awsConfig());
    const akPub = encodeAkPublic(OTHER_RSA);
    await rejects(step.trustedAk(vtpmDoc(akPub, awsInfo({ reportSigner: null })), EXTRA), ErrorCode.AttestationRejected, 'validating SNP report: getting attestation with certs: adding report signer: VLEK certificate required but not present');
    await rejects(step.trustedAk(vtpmDoc(akPub, azureInfo()), EXTRA), ErrorCode.AttestationRejected, 'validating SNP report: verifying SNP attestation: the report is signed by a VCEK, but aws-sev-snp accepts only VLEK-signed reports');
    assert.equal(kds.requests.length, 0);
  });

  it('rejects a bit flip in REPORT_DATA by the signature', async () => {
    const report = Buffer.from(AWS.report);
    report[0x50] = report[0x50]! ^ 0x80;
    const flipped = new Uint8Array(report.subarray(0x50, 0x90));
    await rejects(evidence(awsInfo({ attestationReport: new Uint8Array(report) }), flipped), ErrorCode.AttestationRejected, /^validating SNP report: verifying SNP attestation: report signature verification error: /);
  });

  it('the v2 VLEK report of the snp test data: its chain verifies (product from the VLEK\'s productName), its signature does not', async () => {
    // Upstream uses attestation_vlek.hex with vlek.pem only to test certificate gathering (AttestationWithCerts), never
    // the signature; the pair does not verify. The failure comes after the chain step, so the chain part passed.
    const report = new Uint8Array(VLEK_V2.report);
    const info = encodeSnpInstanceInfo({ reportSigner: utf8(VLEK_V2.vlekPem), certChain: null, attestationReport: report, azure: null, gcp: null });
    const err = await rejects(evidence(info, report.subarray(0x50, 0x90), { now: Date.UTC(2024, 0, 1) }), ErrorCode.AttestationRejected, /^validating SNP report: verifying SNP attestation: report signature verification error: /);
    assert.equal(err.details?.check, 'report-signature');
    await rejects(evidence(info, report.subarray(0x50, 0x90), { now: Date.UTC(2024, 8, 1) }), ErrorCode.AttestationRejected, /VLEK certificate \(CN SEV-VLEK\) has expired/);
  });
});

// ---------------------------------------------------------------------------
// Full documents of the software issuer

const pki = defaultSyntheticAmdPki();
const NONCE = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
const USER_DATA = new Uint8Array(createHash('sha256').update('node certificate key').digest());

/** A GCE API whose instance signing key is `pem`, recording the instances asked for. */
function fakeGce(pem: () => string | undefined): ShieldedIdentityClient & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    apiBaseUrl: 'https://compute.test',
    getShieldedInstanceIdentity(ref) {
      asked.push(`${ref.projectId}/${ref.zone}/${ref.instanceName}`);
      return Promise.resolve({ signingKeyEkPub: pem() });
    },
  };
}

function factoryFor(variant: SnpVariant, gce?: ShieldedIdentityClient, kds = kdsFake()): ValidatorFactory {
  const deps = { kds, chainCache: new SnpChainCache() };
  if (variant === 'azure-sev-snp') return azureSevSnpValidatorFactory(deps);
  if (variant === 'aws-sev-snp') return awsSevSnpValidatorFactory(deps);
  // Own GCE cache (cacheTtlMs): documents of different issuers claim the same instance.
  return gcpSevSnpValidatorFactory({ ...deps, gce: { client: gce ?? fakeGce(() => undefined), cacheTtlMs: 1 } });
}

interface Issued {
  issuer: SoftwareSnpIssuer;
  document: Uint8Array;
  gce: ShieldedIdentityClient & { asked: string[] };
}

function issue(variant: SnpVariant, o: Omit<SoftwareSnpIssuerOptions, 'variant'> = {}): Issued {
  const issuer = new SoftwareSnpIssuer({ variant, pki, akSeed: `snp-variants ${variant}`, ...o });
  return { issuer, document: issuer.issue(USER_DATA, NONCE), gce: fakeGce(() => issuer.akPublicKeyPem()) };
}

async function validate(variant: SnpVariant, doc: Issued, configText = syntheticSnpAttestationConfig(variant, pki), nonce = NONCE) {
  return factoryFor(variant, doc.gce)(configText).validate(doc.document, nonce);
}

describe('software SNP issuer documents through the real validators', () => {
  const docs = new Map<SnpVariant, Issued>();
  before(() => {
    for (const variant of ['azure-sev-snp', 'aws-sev-snp', 'gcp-sev-snp'] as const) docs.set(variant, issue(variant));
  });

  for (const variant of ['azure-sev-snp', 'aws-sev-snp', 'gcp-sev-snp'] as const) {
    describe(variant, () => {
      it('accepts the document: user data, measurements, no warnings', async () => {
        const out = await validate(variant, docs.get(variant)!);
        assert.equal(hex(out.userData), hex(USER_DATA));
        assert.ok(Object.keys(out.measurements).length > 0);
        assert.deepEqual(out.warnings, []);
      });

      it('rejects the document for another nonce (TPM quote, and for GCP REPORT_DATA)', async () => {
        await assert.rejects(validate(variant, docs.get(variant)!, undefined, new Uint8Array(32)), (err: unknown) => err instanceof JoinServiceError && /nonce|extraData|REPORT_DATA/i.test(err.message));
      });

      it('rejects a report changed after signing', async () => {
        const doc = issue(variant, {
          mutateReport: (r) => {
            r[0x90] = r[0x90]! ^ 1;
            return r;
          },
        });
        await rejects(validate(variant, doc), ErrorCode.AttestationRejected, /^validating attestation public key: (validating SNP report: )?verifying SNP attestation: report signature verification error: /);
      });

      it('rejects an InstanceInfo replaced after the TPM quote', async () => {
        const d = docs.get(variant)!;
        const vdoc = decodeVtpmDocument(d.document);
        const other = issue(variant, { akSeed: `other ${variant}` });
        const tampered = { ...d, document: encodeVtpmDocument({ ...vdoc, instanceInfo: decodeVtpmDocument(other.document).instanceInfo }) };
        await assert.rejects(validate(variant, tampered), (err: unknown) => err instanceof JoinServiceError && /^verifying attestation document: /.test(err.message));
      });

      it('rejects a debug policy, VMPL 1 and a TCB below the minimum, listing each', async () => {
        const err = await rejects(
          validate(variant, issue(variant, { policy: { smt: true, debug: true }, vmpl: 1 }), syntheticSnpAttestationConfig(variant, pki, undefined, { minimumTcb: { ...pki.tcb, snpSpl: pki.tcb.snpSpl + 1 } })),
          ErrorCode.AttestationRejected,
          /validating SNP attestation: found unauthorized debug capability; the report's LAUNCH_TCB .* is lower than the policy minimum launch TCB .*; report VMPL 1 is not 0$/,
        );
        const checks = err.details?.checks as string[];
        assert.ok(checks.includes('policy-debug') && checks.includes('tcb-launch-minimum') && checks.includes('vmpl'));
        assert.equal(checks.includes('tcb-reported-minimum'), variant === 'azure-sev-snp');
      });

      it('rejects a report with SIGNING_KEY none', async () => {
        await rejects(
          validate(variant, issue(variant, { report: { signerInfo: encodeSignerInfo({ signingKey: SigningKey.NONE }) } })),
          ErrorCode.AttestationRejected,
          /verifying SNP attestation: the report's SIGNING_KEY is 7 \(none\)/,
        );
      });

      it('rejects a chain that does not lead to the configured root (real ARK-Milan instead of the synthetic one)', async () => {
        const cfg = JSON.parse(syntheticSnpAttestationConfig(variant, pki)) as Record<string, unknown>;
        cfg.amdRootKey = ARK_MILAN;
        await rejects(validate(variant, docs.get(variant)!, JSON.stringify(cfg)), ErrorCode.AttestationRejected, /verifying SNP attestation: /);
      });

      it('rejects measurements other than the configured ones', async () => {
        const cfg = JSON.parse(syntheticSnpAttestationConfig(variant, pki)) as { measurements: Record<string, { expected: string }> };
        cfg.measurements['4']!.expected = '00'.repeat(32);
        await rejects(validate(variant, docs.get(variant)!, JSON.stringify(cfg)), ErrorCode.MeasurementMismatch, /^measurement validation failed:\nPCR\[4\]: expected 0{64}, got /);
      });
    });
  }

  it('azure-sev-snp and aws-sev-snp load from the registry and verify without network', async () => {
    for (const variant of ['azure-sev-snp', 'aws-sev-snp'] as const) {
      const out = await (await loadValidatorFactory(variant))(syntheticSnpAttestationConfig(variant, pki)).validate(docs.get(variant)!.document, NONCE);
      assert.equal(hex(out.userData), hex(USER_DATA));
    }
    const gcp = (await loadValidatorFactory('gcp-sev-snp'))(syntheticSnpAttestationConfig('gcp-sev-snp', pki));
    assert.ok(gcp instanceof SnpVtpmValidator);
  });

  it('gcp-sev-snp: asks GCE for the instance the InstanceInfo names and trusts only its key', async () => {
    const d = docs.get('gcp-sev-snp')!;
    await validate('gcp-sev-snp', d);
    assert.deepEqual(d.gce.asked.slice(-1), ['constellation-synthetic/us-central1-a/synthetic-node-0']);
    const swapped = { ...d, gce: fakeGce(() => issue('gcp-sev-snp', { akSeed: 'another vTPM' }).issuer.akPublicKeyPem()) };
    await rejects(validate('gcp-sev-snp', swapped), ErrorCode.AttestationRejected, 'verifying attestation document: failed to parse and validate AK: failed to validate AK public key: key not trusted');
    await rejects(validate('gcp-sev-snp', { ...d, gce: fakeGce(() => undefined) }), ErrorCode.AttestationRejected, 'validating attestation public key: getting TPM endorsement key: received no signing key from GCP API');
  });

  it('gcp-sev-snp: "GCP": null is a clear rejection (Go crashes) and GCE is not asked', async () => {
    const d = issue('gcp-sev-snp', { gce: null });
    await rejects(validate('gcp-sev-snp', d), ErrorCode.AttestationRejected, 'validating attestation public key: getting TPM endorsement key: missing GCP info from instanceInfo ("GCP": null)');
    assert.deepEqual(d.gce.asked, []);
  });

  it('gcp-sev-snp: REPORT_DATA must be extraData ‖ 0^32', async () => {
    const d = docs.get('gcp-sev-snp')!;
    const step = stepOf(factoryFor('gcp-sev-snp', d.gce), syntheticSnpAttestationConfig('gcp-sev-snp', pki));
    const vdoc = decodeVtpmDocument(d.document);
    const extraData = new Uint8Array(createHash('sha256').update(Buffer.concat([USER_DATA, NONCE])).digest());
    const ok: SnpStepResult = await step.trustedAk(vdoc, extraData);
    assert.equal(hex(ok.evidence.report.reportData), hex(extraData) + '00'.repeat(32));
    await rejects(step.trustedAk(vdoc, new Uint8Array(32)), ErrorCode.AttestationRejected, /^validating SNP report: validating SNP attestation: report field REPORT_DATA is [0-9a-f]{128}\. Expect 0{128}$/);
    await rejects(step.trustedAk(vdoc, new Uint8Array(65)), ErrorCode.AttestationRejected, 'extra data too long: 65, should be 64 bytes at most');
  });
});

// ---------------------------------------------------------------------------
// amdSigningKey from the start-up certificate cache

describe('amdSigningKey override of the SEV-SNP certificate cache (§8.2)', () => {
  let aws: Issued;
  before(() => {
    aws = issue('aws-sev-snp');
  });
  const noKey = (): string => syntheticSnpAttestationConfig('aws-sev-snp', pki, undefined, { amdSigningKey: '' });

  it('an aws-sev-snp node sends no ASVK: without amdSigningKey the embedded (real) ASVK cannot verify the synthetic VLEK', async () => {
    await rejects(validate('aws-sev-snp', aws, noKey()), ErrorCode.AttestationRejected, /verifying SNP attestation: VLEK certificate is not signed by the ASVK \(CN SEV-VLEK-Milan, from embedded\)/);
  });

  it('the overlay puts the cached ASVK into the config text the workers build from, and then the document verifies', async () => {
    const text = overlayAmdSigningKey(noKey(), pki.asvk.pem);
    assert.equal((JSON.parse(text) as { amdSigningKey: string }).amdSigningKey, pki.asvk.pem);
    const out = await validate('aws-sev-snp', aws, text);
    assert.equal(hex(out.userData), hex(USER_DATA));
    assert.equal(overlayAmdSigningKey('not json', 'x'), 'not json');
  });

  it('keeps generation numbers when the ASVK is known before any verification and shifts them by one when it arrives later', () => {
    let ref = { generation: 1, text: noKey() };
    const early = new SnpSigningKeyOverlay(() => ref);
    assert.equal(early.setSigningKey(pki.asvk.pem), 0);
    const a = early.current();
    assert.equal(a.generation, 1);
    assert.match(a.text, /SEV-VLEK|BEGIN CERTIFICATE/);
    assert.equal(early.current(), a, 'one re-serialisation per generation');

    const late = new SnpSigningKeyOverlay(() => ref);
    const before1 = late.current();
    assert.equal(before1, ref);
    assert.equal(late.setSigningKey(pki.asvk.pem), 1);
    assert.equal(late.current().generation, 2);
    assert.notEqual(late.current().text, ref.text);
    ref = { generation: 2, text: ref.text };
    assert.equal(late.current().generation, 3);
    assert.equal(late.setSigningKey('another'), 1, 'the first ASK stays');
  });

  describe('serve: startSnpCertCache', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'snp-cert-cache-serve-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    async function source(): Promise<AttestationConfigSource> {
      const file = path.join(dir, `attestationConfig-${Math.random().toString(16).slice(2)}`);
      writeFileSync(file, noKey());
      return AttestationConfigSource.load(file, { variant: 'aws-sev-snp' });
    }
    const configMap = (): V1ConfigMap => ({ metadata: { name: 'sev-snp-cert-cache', namespace: 'kube-system' }, data: { ask: pki.asvk.pem, ark: pki.ark.pem } });
    const refuse = (): Promise<V1ConfigMap> => Promise.reject(new Error('not expected'));

    it('applies the cached ASVK from the ConfigMap before serving, keeping generation 1', async () => {
      const config = await source();
      const cache = await startSnpCertCache('aws-sev-snp', { getConfigMap: () => Promise.resolve(configMap()), createConfigMap: refuse, replaceConfigMap: refuse }, config, silentLogger());
      assert.ok(cache);
      const ref = config.current();
      assert.equal(ref.generation, 1);
      assert.equal((JSON.parse(ref.text) as { amdSigningKey: string }).amdSigningKey, pki.asvk.pem);
      const out = await factoryFor('aws-sev-snp')(ref.text).validate(aws.document, NONCE);
      assert.equal(hex(out.userData), hex(USER_DATA));
      await cache.stop();
    });

    it('starts without it after the bounded wait and uses it from the moment it is ready (next generation number)', async () => {
      const config = await source();
      let release: (cm: V1ConfigMap) => void = () => undefined;
      const pending = new Promise<V1ConfigMap>((resolve) => (release = resolve));
      const cache = await startSnpCertCache('aws-sev-snp', { getConfigMap: () => pending, createConfigMap: refuse, replaceConfigMap: refuse }, config, silentLogger(), 1);
      assert.ok(cache);
      const first = config.current();
      assert.equal(first.generation, 1);
      assert.equal((JSON.parse(first.text) as { amdSigningKey: string }).amdSigningKey, '');
      release(configMap());
      for (let i = 0; i < 10_000 && config.current().generation === 1; i++) await new Promise((r) => setImmediate(r));
      const next = config.current();
      assert.equal(next.generation, 2);
      assert.equal((JSON.parse(next.text) as { amdSigningKey: string }).amdSigningKey, pki.asvk.pem);
      await cache.stop();
    });

    it('does nothing for gcp-sev-snp (no cache in Go either)', async () => {
      const file = path.join(dir, 'gcp');
      writeFileSync(file, syntheticSnpAttestationConfig('gcp-sev-snp', pki));
      const config = await AttestationConfigSource.load(file, { variant: 'gcp-sev-snp' });
      assert.equal(await startSnpCertCache('gcp-sev-snp', { getConfigMap: refuse, createConfigMap: refuse, replaceConfigMap: refuse }, config, silentLogger()), undefined);
    });
  });
});

describe('SEV-SNP attestation config', () => {
  const base = (variant: SnpVariant): Record<string, unknown> => JSON.parse(syntheticSnpAttestationConfig(variant, pki)) as Record<string, unknown>;

  it('accepts amdRootKey "" (the embedded root of the report\'s product line) for all three variants', () => {
    for (const variant of ['azure-sev-snp', 'aws-sev-snp', 'gcp-sev-snp'] as const) {
      const c = base(variant);
      c.amdRootKey = '';
      validateAttestationConfig(variant, JSON.stringify(c));
      assert.equal(parseSnpConfig(variant, JSON.stringify(c)).amdRootKey, '');
    }
  });

  it('refuses an amdRootKey that is not an AMD root key, naming why', () => {
    const c = base('aws-sev-snp');
    c.amdRootKey = pki.asvk.pem;
    assert.throws(() => validateAttestationConfig('aws-sev-snp', JSON.stringify(c)), (err: unknown) => {
      assert.ok(err instanceof JoinServiceError);
      assert.equal(err.code, ErrorCode.ConfigInvalid);
      assert.match(err.message, /\/amdRootKey: has subject CN "SEV-VLEK-Milan", expected one of ARK-Milan, ARK-Genoa, ARK-Turin/);
      return true;
    });
  });

  it('the worker refuses what it cannot use ("latest", a missing version, a bad policy) with ConfigInvalid', () => {
    const latest = base('gcp-sev-snp');
    latest.snpVersion = 'latest';
    assert.throws(() => parseSnpConfig('gcp-sev-snp', JSON.stringify(latest)), { code: ErrorCode.ConfigInvalid, message: /snpVersion: unresolved placeholder "latest"/ });
    const missing = base('aws-sev-snp');
    delete missing.teeVersion;
    assert.throws(() => parseSnpConfig('aws-sev-snp', JSON.stringify(missing)), { code: ErrorCode.ConfigInvalid, message: /missing teeVersion/ });
    const policy = base('azure-sev-snp');
    (policy.firmwareSignerConfig as Record<string, unknown>).enforcementPolicy = 'Sometimes';
    assert.throws(() => parseSnpConfig('azure-sev-snp', JSON.stringify(policy)), { code: ErrorCode.ConfigInvalid });
    const legacy = base('azure-sev-snp');
    (legacy.firmwareSignerConfig as Record<string, unknown>).enforcementPolicy = true;
    assert.equal(parseSnpConfig('azure-sev-snp', JSON.stringify(legacy)).firmwareSignerConfig?.enforcementPolicy, 'Equal');
  });
});

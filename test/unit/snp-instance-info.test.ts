/**
 * The SEV-SNP InstanceInfo JSON (sev-snp-attestation.md §2): strict decoding
 * of what Go's encoder writes for `snp.InstanceInfo`, the encoder, and
 * documents built from the real vectors for the three variants.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { decodeSnpInstanceInfo, encodeSnpInstanceInfo, SNP_INSTANCE_INFO_LIMITS, type SnpInstanceInfo } from '../../src/workers/attestation/snp/instance-info.js';
import { parseSnpAttestationReport } from '../../src/workers/attestation/snp/report/attestation-report.js';
import { CONSTELLATION_ATTESTATION as C, readVector, readVectorBase64, readVectorHex } from '../helpers/vectors.js';

const AZURE_REPORT = readVector(`${C}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620');
const AZURE_RUNTIME_DATA = readVector(`${C}/snp/testdata/runtimedata.bin`, '0ccc0895ef2f2c3b8c8568f5a2bb65ff5bf9387a09359742ad41e686cacfd38b');
const VCEK_PEM = readVector(`${C}/snp/testdata/vcek.pem`, 'b8801d0e849361c13bd73c6482808b3bdbb51bb73a8e19b045f0f80d1f14092e');
const VCEK_CHAIN_PEM = readVector(`${C}/snp/testdata/certchain.pem`, '22e62f8d2c21a156470145fc75f7b5a377cb053ced3e97f0bd3f8d8ca5941ce6');
const ASK_PEM = readVector('constellation/joinservice/internal/certcache/testdata/ask.pem', '8da3a65af1cb7cb90a21fac78431a2431a9ee7811f48c36569c53fb80ad31fee');
const AWS_REPORT = readVectorBase64(`${C}/aws/snp/testdata/report.txt`, '0f92eb72c01081020f798d53ba20e6421c34772714eb949ba01fa4a288b310ce');
const AWS_VLEK_PEM = readVector(`${C}/aws/snp/testdata/vlek.pem`, 'bcf2a296685afb2d2125ed43af98f5f55d3563f100832482e20918e6d019680e');
const AWS_AK_DIGEST = readVectorHex(`${C}/aws/snp/testdata/akdigest.hex`, 'd2d9e8aa2afe1f3226acd2dbc48af85e0ec143fc7eac45ecfe15647ca75a5470');

const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b);
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

const AWS: SnpInstanceInfo = { reportSigner: u8(AWS_VLEK_PEM), certChain: null, attestationReport: u8(AWS_REPORT), azure: null, gcp: null };
const AZURE: SnpInstanceInfo = {
  reportSigner: u8(VCEK_PEM),
  certChain: u8(VCEK_CHAIN_PEM),
  attestationReport: u8(AZURE_REPORT),
  azure: { runtimeData: u8(AZURE_RUNTIME_DATA), maaToken: '' },
  gcp: null,
};
const GCP: SnpInstanceInfo = {
  reportSigner: u8(VCEK_PEM),
  certChain: u8(ASK_PEM),
  attestationReport: u8(AZURE_REPORT.subarray(0, 1184)),
  azure: null,
  gcp: { zone: 'europe-west3-b', projectId: 'constellation-331613', projectNumber: 0n, instanceName: 'worker-0', instanceId: 0n },
};

function assertMalformed(input: Uint8Array | string | null, message: RegExp): JoinServiceError {
  const bytes = typeof input === 'string' ? utf8(input) : input;
  let caught: unknown;
  try {
    decodeSnpInstanceInfo(bytes);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JoinServiceError, `expected JoinServiceError, got ${String(caught)}`);
  assert.equal(caught.code, ErrorCode.AttestationMalformed);
  assert.match(caught.message, message);
  assert.ok(caught.message.startsWith('SNP instance info: '), caught.message);
  assert.equal(caught.details?.component, 'snp-instance-info');
  return caught;
}

/** The AWS document's JSON with `edit` applied to its parsed form. */
function awsJson(edit: (o: Record<string, unknown>) => void): string {
  const o = JSON.parse(Buffer.from(encodeSnpInstanceInfo(AWS)).toString('utf8')) as Record<string, unknown>;
  edit(o);
  return JSON.stringify(o);
}

describe('SNP instance info: real-vector documents', () => {
  it("aws-sev-snp: Go's encoding, as in the spec's example; the report inside is the vector's", () => {
    const json = Buffer.from(encodeSnpInstanceInfo(AWS)).toString('utf8');
    assert.match(json, /^\{"ReportSigner":"LS0tLS1CRUdJTi[A-Za-z0-9+/=]+","CertChain":null,"AttestationReport":"AwAAAAAAAAAA[A-Za-z0-9+/=]+","Azure":null,"GCP":null\}$/);
    const info = decodeSnpInstanceInfo(utf8(json));
    assert.deepEqual(info, AWS);
    const report = parseSnpAttestationReport(info.attestationReport);
    assert.deepEqual(report.reportData, u8(AWS_AK_DIGEST));
    assert.equal(report.signerInfo.signingKeyName, 'VLEK');
    assert.ok(Buffer.from(info.reportSigner!).toString('latin1').startsWith('-----BEGIN CERTIFICATE-----'));
  });

  it('azure-sev-snp: runtime data and MAA token; REPORT_DATA[0:32] = SHA-256(RuntimeData); the 20 trailing report bytes survive', () => {
    const bytes = encodeSnpInstanceInfo(AZURE);
    const json = Buffer.from(bytes).toString('utf8');
    assert.match(json, /"Azure":\{"RuntimeData":"eyJrZXlzIjpb[A-Za-z0-9+/=]+","MAAToken":""\},"GCP":null\}$/);
    const info = decodeSnpInstanceInfo(bytes);
    assert.deepEqual(info, AZURE);
    assert.equal(info.attestationReport.length, 1204);
    const report = parseSnpAttestationReport(info.attestationReport);
    assert.deepEqual(report.reportData.subarray(0, 32), u8(createHash('sha256').update(info.azure!.runtimeData!).digest()));
    assert.equal(report.trailing.length, 20);
  });

  it('gcp-sev-snp: GCP members are omitempty (project_number/instance_id absent)', () => {
    const json = Buffer.from(encodeSnpInstanceInfo(GCP)).toString('utf8');
    assert.match(json, /"Azure":null,"GCP":\{"zone":"europe-west3-b","project_id":"constellation-331613","instance_name":"worker-0"\}\}$/);
    assert.deepEqual(decodeSnpInstanceInfo(utf8(json)), GCP);
    const full = { ...GCP, gcp: { ...GCP.gcp!, projectNumber: 123456789012n, instanceId: 18446744073709551615n } };
    const fullJson = Buffer.from(encodeSnpInstanceInfo(full)).toString('utf8');
    assert.match(fullJson, /"project_number":123456789012,"instance_name":"worker-0","instance_id":18446744073709551615\}\}$/);
    assert.deepEqual(decodeSnpInstanceInfo(utf8(fullJson)), full);
  });
});

describe('SNP instance info: what Go’s encoder writes is accepted', () => {
  it('null vs "" byte strings are kept apart; MAAToken with escapes; whitespace and member order do not matter', () => {
    const info: SnpInstanceInfo = { ...AZURE, reportSigner: new Uint8Array(0), certChain: null, azure: { runtimeData: null, maaToken: 'a<b>&"\\\u2028é' } };
    const bytes = encodeSnpInstanceInfo(info);
    assert.ok(Buffer.from(bytes).toString('utf8').includes('"MAAToken":"a\\u003cb\\u003e\\u0026\\"\\\\\\u2028é"'));
    assert.deepEqual(decodeSnpInstanceInfo(bytes), info);
    const reordered = `{ "GCP" : null,\n "Azure": null, "AttestationReport": "${b64(AWS_REPORT)}", "CertChain": "", "ReportSigner": null }`;
    assert.deepEqual(decodeSnpInstanceInfo(utf8(reordered)), { reportSigner: null, certChain: new Uint8Array(0), attestationReport: u8(AWS_REPORT), azure: null, gcp: null });
  });

  it('an empty GCP object is Go’s encoding of an all-empty GCEInstanceInfo', () => {
    const info = decodeSnpInstanceInfo(utf8(awsJson((o) => (o.GCP = {}))));
    assert.deepEqual(info.gcp, { zone: '', projectId: '', projectNumber: 0n, instanceName: '', instanceId: 0n });
  });
});

describe('SNP instance info: strictness (rejections name the JSON path)', () => {
  it('empty / null / non-JSON / non-object input', () => {
    assertMalformed(null, /document: empty/);
    assertMalformed(new Uint8Array(0), /document: empty/);
    assertMalformed('{"ReportSigner":', /document: invalid JSON at byte offset 16: unexpected end of JSON input/);
    assertMalformed('[]', /document: expected an object, got array/);
    assertMalformed('null', /document: expected an object, got null/);
    assertMalformed(`${awsJson(() => undefined)} x`, /invalid character 'x' after top-level value/);
  });

  it('member names: case variants, unknown and duplicate members, missing members', () => {
    assertMalformed(
      awsJson((o) => {
        o.reportSigner = o.ReportSigner;
        delete o.ReportSigner;
      }),
      /document: member "reportSigner" differs from "ReportSigner" only in letter case/,
    );
    assertMalformed(awsJson((o) => (o.Extra = 1)), /document: unknown member "Extra"/);
    for (const name of ['ReportSigner', 'CertChain', 'AttestationReport', 'Azure', 'GCP']) {
      assertMalformed(awsJson((o) => delete o[name]), new RegExp(`document: missing required member "${name}"`));
    }
    const json = Buffer.from(encodeSnpInstanceInfo(AWS)).toString('utf8').replace('"GCP":null', '"GCP":null,"GCP":null');
    assertMalformed(json, /document: duplicate member "GCP"/);
    assertMalformed(awsJson((o) => (o.Azure = { RuntimeData: null })), /Azure: missing required member "MAAToken"/);
    assertMalformed(awsJson((o) => (o.Azure = { RuntimeData: null, MAAToken: '', maaToken: '' })), /Azure: member "maaToken" differs from "MAAToken" only in letter case/);
    assertMalformed(awsJson((o) => (o.GCP = { Zone: 'z' })), /GCP: member "Zone" differs from "zone"/);
    assertMalformed(awsJson((o) => (o.GCP = { zone: 'z', extra: 'y' })), /GCP: unknown member "extra"/);
  });

  it('AttestationReport must be a non-empty byte string', () => {
    assertMalformed(awsJson((o) => (o.AttestationReport = null)), /AttestationReport: is null/);
    assertMalformed(awsJson((o) => (o.AttestationReport = '')), /AttestationReport: missing attestation report/);
    assertMalformed(awsJson((o) => (o.AttestationReport = [1, 2])), /AttestationReport: expected a base64 string, got array/);
  });

  it('byte strings are canonical padded standard base64', () => {
    const text = b64(AWS_VLEK_PEM);
    assertMalformed(awsJson((o) => (o.ReportSigner = `${text.slice(0, 8)}\n${text.slice(8)}`)), /ReportSigner: not padded standard base64: line break/);
    assertMalformed(awsJson((o) => (o.ReportSigner = b64(Uint8Array.of(1, 2)).replace(/=+$/, ''))), /ReportSigner: not padded standard base64: length 3/);
    assertMalformed(awsJson((o) => (o.CertChain = 'ab-_')), /CertChain: not padded standard base64: URL-safe alphabet character '-'/);
    assertMalformed(awsJson((o) => (o.CertChain = 'AB==')), /CertChain: not padded standard base64: non-zero unused bits/);
    assertMalformed(awsJson((o) => (o.CertChain = 5)), /CertChain: expected a base64 string or null, got number/);
    assertMalformed(awsJson((o) => (o.Azure = { RuntimeData: 'A===', MAAToken: '' })), /Azure.RuntimeData: not padded standard base64/);
  });

  it('types of Azure and GCP members', () => {
    assertMalformed(awsJson((o) => (o.Azure = [])), /Azure: expected an object or null, got array/);
    assertMalformed(awsJson((o) => (o.Azure = { RuntimeData: null, MAAToken: null })), /Azure.MAAToken: expected a string, got null/);
    assertMalformed(awsJson((o) => (o.GCP = 'x')), /GCP: expected an object or null, got string/);
    assertMalformed(awsJson((o) => (o.GCP = { zone: '' })), /GCP.zone: empty value/);
    assertMalformed(awsJson((o) => (o.GCP = { zone: null })), /GCP.zone: expected a string, got null/);
    assertMalformed(awsJson((o) => (o.GCP = { project_number: 0 })), /GCP.project_number: 0 \(Go's encoder omits zero members\)/);
    assertMalformed(awsJson((o) => (o.GCP = { project_number: -1 })), /GCP.project_number: "-1" is not a plain unsigned integer literal/);
    assertMalformed(awsJson((o) => (o.GCP = { instance_id: 1.5 })), /GCP.instance_id: "1.5" is not a plain unsigned integer literal/);
    assertMalformed(awsJson((o) => (o.GCP = { instance_id: '1' })), /GCP.instance_id: expected a number, got string/);
    assertMalformed(
      Buffer.from(encodeSnpInstanceInfo(AWS)).toString('utf8').replace('"GCP":null', '"GCP":{"instance_id":18446744073709551616}'),
      /GCP.instance_id: "18446744073709551616" is out of range/,
    );
    assertMalformed(Buffer.from(encodeSnpInstanceInfo(AWS)).toString('utf8').replace('"GCP":null', '"GCP":{"instance_id":1e3}'), /not a plain unsigned integer literal/);
  });

  it('size limits are checked before decoding', () => {
    const L = SNP_INSTANCE_INFO_LIMITS;
    assertMalformed(new Uint8Array(L.documentBytes + 1).fill(0x20), new RegExp(`document: ${L.documentBytes + 1} bytes exceed the limit of ${L.documentBytes} bytes`));
    assertMalformed(awsJson((o) => (o.ReportSigner = b64(new Uint8Array(L.reportSignerBytes + 3)))), /ReportSigner: \d+ base64 characters exceed the limit of 8192 bytes/);
    assertMalformed(awsJson((o) => (o.ReportSigner = b64(new Uint8Array(L.reportSignerBytes + 1)))), /ReportSigner: 8193 bytes exceed the limit of 8192 bytes/);
    assertMalformed(awsJson((o) => (o.AttestationReport = b64(new Uint8Array(L.attestationReportBytes + 1)))), /AttestationReport: 4097 bytes exceed/);
    assertMalformed(awsJson((o) => (o.Azure = { RuntimeData: null, MAAToken: 'x'.repeat(L.maaTokenBytes + 1) })), /Azure.MAAToken: 32769 bytes exceed/);
    assertMalformed(awsJson((o) => (o.GCP = { zone: 'z'.repeat(257) })), /GCP.zone: 257 bytes exceed the limit of 256 bytes/);
  });

  it('long attacker-chosen names are capped in messages', () => {
    const err = assertMalformed(awsJson((o) => (o['K'.repeat(5000)] = 1)), /unknown member "K+…"/);
    assert.ok(err.message.length < 200, `message of ${err.message.length} characters`);
  });
});

// ---------------------------------------------------------------------------
// Fuzzing

const FUZZ_SEED = Number(process.env.SNP_FUZZ_SEED ?? 0x5eed5e7);
const FUZZ_RUNS = Number(process.env.SNP_FUZZ_RUNS ?? 1500);

function run(name: string, property: Parameters<typeof fc.assert>[0]): void {
  try {
    fc.assert(property, { numRuns: FUZZ_RUNS, seed: FUZZ_SEED });
  } catch (err) {
    throw new Error(`${name}: fuzz failure (re-run with SNP_FUZZ_SEED=${FUZZ_SEED}): ${(err as Error).message}`, { cause: err });
  }
}

/** Decodes; returns the value, or undefined after checking the error is ours. */
function decodeOrTyped(bytes: Uint8Array | null): SnpInstanceInfo | undefined {
  try {
    return decodeSnpInstanceInfo(bytes);
  } catch (err) {
    if (!(err instanceof JoinServiceError)) throw err;
    assert.equal(err.code, ErrorCode.AttestationMalformed);
    assert.ok(err.message.length < 400, `message too long: ${err.message.length}`);
    return undefined;
  }
}

describe('SNP instance info: fuzzing', () => {
  it(`random bytes and random JSON never throw anything but the typed error (seed ${FUZZ_SEED})`, () => {
    run(
      'random bytes',
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        decodeOrTyped(b);
      }),
    );
    run(
      'random JSON',
      fc.property(fc.jsonValue(), (v) => {
        decodeOrTyped(utf8(JSON.stringify(v) ?? 'null'));
      }),
    );
  });

  it('mutated honest documents: decode or typed error; whatever decodes re-encodes to an equal model', () => {
    const bases = [AWS, AZURE, GCP].map((i) => JSON.parse(Buffer.from(encodeSnpInstanceInfo(i)).toString('utf8')) as Record<string, unknown>);
    const anyValue = fc.oneof(
      fc.constant(null),
      fc.constant(''),
      fc.constant('AAAA'),
      fc.constant({}),
      fc.constant([]),
      fc.integer(),
      fc.string({ maxLength: 8 }),
      fc.constant({ RuntimeData: 'eyJ9', MAAToken: 't' }),
      fc.constant({ zone: 'z', instance_id: 7 }),
    );
    const names = ['ReportSigner', 'CertChain', 'AttestationReport', 'Azure', 'GCP', 'RuntimeData', 'MAAToken', 'zone', 'project_id', 'instance_id', 'gcp', 'X'];
    const mutation = fc.record({ target: fc.integer({ min: 0, max: 2 }), name: fc.constantFrom(...names), value: anyValue, del: fc.boolean() });
    let accepted = 0;
    let rejected = 0;
    run(
      'mutations',
      fc.property(fc.integer({ min: 0, max: 2 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (which, muts) => {
        const doc = structuredClone(bases[which]!);
        for (const m of muts) {
          const nested = m.target === 1 ? doc.Azure : m.target === 2 ? doc.GCP : doc;
          const obj = nested !== null && typeof nested === 'object' ? (nested as Record<string, unknown>) : doc;
          if (m.del) delete obj[m.name];
          else obj[m.name] = structuredClone(m.value);
        }
        const info = decodeOrTyped(utf8(JSON.stringify(doc)));
        if (info === undefined) {
          rejected++;
          return;
        }
        accepted++;
        assert.deepEqual(decodeSnpInstanceInfo(encodeSnpInstanceInfo(info)), info);
      }),
    );
    assert.ok(accepted > 0 && rejected > 0, `accepted ${accepted}, rejected ${rejected}`);
  });

  it('random models round-trip through the encoder', () => {
    const bytesOrNull = (max: number) => fc.option(fc.uint8Array({ maxLength: max }), { nil: null });
    const gce = fc.record({
      zone: fc.string({ maxLength: 20 }),
      projectId: fc.string({ maxLength: 20 }),
      projectNumber: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      instanceName: fc.string({ maxLength: 20 }),
      instanceId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    });
    const model = fc.record({
      reportSigner: bytesOrNull(100),
      certChain: bytesOrNull(100),
      attestationReport: fc.uint8Array({ minLength: 1, maxLength: 1300 }),
      azure: fc.option(fc.record({ runtimeData: bytesOrNull(100), maaToken: fc.string({ maxLength: 30 }) }), { nil: null }),
      gcp: fc.option(gce, { nil: null }),
    });
    run(
      'round trip',
      fc.property(model, (m) => {
        // Go's JSON replaces invalid UTF-16 (lone surrogates) with U+FFFD; compare against that form.
        const fix = (s: string) => Buffer.from(s, 'utf8').toString('utf8');
        const expected: SnpInstanceInfo = {
          ...m,
          azure: m.azure && { ...m.azure, maaToken: fix(m.azure.maaToken) },
          gcp: m.gcp && { ...m.gcp, zone: fix(m.gcp.zone), projectId: fix(m.gcp.projectId), instanceName: fix(m.gcp.instanceName) },
        };
        assert.deepEqual(decodeSnpInstanceInfo(encodeSnpInstanceInfo(m)), expected);
      }),
    );
  });
});

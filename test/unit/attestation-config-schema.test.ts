import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { VARIANTS, type VariantName } from '../../src/shared/variants.js';
import { encodePem } from '../../src/shared/pem.js';
import { validateAttestationConfig } from '../../src/main/config/validate-attestation-config.js';
import { attestationConfigFields, attestationConfigValidator } from '../../src/main/config/schemas/attestation-config-schemas.js';

// dist/test/unit → repository root
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/attestation-config/', import.meta.url));

function fixtureText(variant: VariantName): string {
  return readFileSync(`${FIXTURES}${variant}.json`, 'utf8');
}

type Json = Record<string, unknown>;

function fixture(variant: VariantName): Json {
  return JSON.parse(fixtureText(variant)) as Json;
}

/** The fixture with `edit` applied, serialised again. */
function edited(variant: VariantName, edit: (c: Json) => void): string {
  const c = fixture(variant);
  edit(c);
  return JSON.stringify(c);
}

function problemsOf(variant: VariantName, text: string): string[] {
  try {
    validateAttestationConfig(variant, text);
  } catch (err) {
    assert.ok(err instanceof JoinServiceError, `unexpected error ${String(err)}`);
    assert.equal(err.code, ErrorCode.ConfigInvalid);
    const problems = err.details?.problems;
    assert.ok(Array.isArray(problems));
    for (const p of problems) assert.ok(err.message.includes(p), 'every problem is in the message');
    return problems;
  }
  assert.fail(`${variant} config was accepted: ${text.slice(0, 200)}`);
}

function rejects(variant: VariantName, text: string, ...expected: (string | RegExp)[]): string[] {
  const problems = problemsOf(variant, text);
  for (const e of expected) {
    const hit = problems.some((p) => (typeof e === 'string' ? p === e : e.test(p)));
    assert.ok(hit, `expected problem ${String(e)} in:\n${problems.join('\n')}`);
  }
  return problems;
}

const HEX32 = 'ab'.repeat(32);
const HEX48 = 'cd'.repeat(48);
const DIGEST = '0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3';

test('the CLI-shaped fixture of every variant is accepted', () => {
  const counts: Record<VariantName, number> = {
    'dummy': 0,
    'aws-nitro-tpm': 7,
    'aws-sev-snp': 7,
    'gcp-sev-es': 8,
    'gcp-sev-snp': 7,
    'azure-sev-snp': 7,
    'azure-trustedlaunch': 7,
    'azure-tdx': 7,
    'qemu-vtpm': 7,
    'qemu-tdx': 5,
  };
  for (const { name } of VARIANTS) {
    const text = fixtureText(name);
    assert.equal(text.trimEnd().includes('\n'), false, `${name}: the CLI writes one line`);
    const r = validateAttestationConfig(name, text);
    assert.equal(r.measurementCount, counts[name], name);
    assert.deepEqual(r.config, JSON.parse(text));
  }
});

test('schemas are compiled once and cached', () => {
  for (const { name } of VARIANTS) assert.equal(attestationConfigValidator(name), attestationConfigValidator(name));
});

test('fixture keys follow the Go marshal order of the schema', () => {
  for (const { name } of VARIANTS) {
    const keys = Object.keys(fixture(name));
    const fields = attestationConfigFields(name).filter((f) => keys.includes(f));
    assert.deepEqual(keys, fields, name);
  }
});

test('legacy and alternative forms Go accepts are accepted', () => {
  const ok = (variant: VariantName, text: string): number => validateAttestationConfig(variant, text).measurementCount;
  // Bare hex string (legacy, enforced), upper-case hex, missing warnOnly, leading zero index.
  assert.equal(ok('qemu-vtpm', JSON.stringify({ measurements: { '4': HEX32.toUpperCase(), '08': { expected: HEX32 }, '15': { expected: HEX32, warnOnly: true } } })), 3);
  // Empty and null measurements (Go marshals a nil map as null).
  assert.equal(ok('qemu-vtpm', '{"measurements":{}}'), 0);
  assert.equal(ok('aws-nitro-tpm', '{"measurements":null}'), 0);
  // dummy: measurements omitted or present with 32- or 48-byte values.
  assert.equal(ok('dummy', JSON.stringify({ measurements: { '0': HEX48 } })), 1);
  // Firmware signer config: single digest string, case-insensitive policy, legacy boolean, maaURL (Terraform provider).
  for (const fsc of [
    { acceptedKeyDigests: DIGEST, enforcementPolicy: 'equal' },
    { acceptedKeyDigests: [DIGEST.toUpperCase()], enforcementPolicy: 'warnonly' },
    { acceptedKeyDigests: [], enforcementPolicy: true },
    { acceptedKeyDigests: null, enforcementPolicy: false },
    { acceptedKeyDigests: [DIGEST], enforcementPolicy: 'MAAFallback', maaURL: 'https://sharedeus.eus.attest.azure.net' },
  ]) {
    assert.equal(ok('azure-sev-snp', edited('azure-sev-snp', (c) => (c.firmwareSignerConfig = fsc))), 7);
  }
  // amdSigningKey may be a certificate or null; azure-tdx mrSeam/xfam optional.
  const ark = fixture('aws-sev-snp').amdRootKey;
  ok('aws-sev-snp', edited('aws-sev-snp', (c) => (c.amdSigningKey = ark)));
  ok('gcp-sev-snp', edited('gcp-sev-snp', (c) => (c.amdSigningKey = null)));
  ok('azure-tdx', edited('azure-tdx', (c) => ((c.mrSeam = HEX48), (c.xfam = ''))));
  // Our extension: extra trust anchors for azure-trustedlaunch.
  ok('azure-trustedlaunch', edited('azure-trustedlaunch', (c) => (c.trustedRootCertificates = [ark, fixture('azure-tdx').intelRootKey])));
  // A variant hint naming the right variant.
  ok('qemu-tdx', edited('qemu-tdx', (c) => (c.variant = 'qemu-tdx')));
});

test('bad hex and wrong lengths name the path and the rule', () => {
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': { expected: 'zz'.repeat(32), warnOnly: false } } }), '/measurements/4/expected: must be 64 hex characters (32 bytes)');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': { expected: HEX48 } } }), '/measurements/4/expected: must be 64 hex characters (32 bytes)');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '9': HEX32.slice(1) } }), '/measurements/9: must be 64 hex characters (32 bytes)');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': { expected: `0x${HEX32.slice(2)}` } } }), /^\/measurements\/4\/expected: must be 64 hex/);
  rejects('qemu-tdx', JSON.stringify({ measurements: { '0': { expected: HEX32 } } }), '/measurements/0/expected: must be 96 hex characters (48 bytes)');
  rejects('dummy', JSON.stringify({ measurements: { '0': 'ab'.repeat(20) } }), '/measurements/0: must be 64 or 96 hex characters (32 or 48 bytes)');
  rejects('azure-tdx', edited('azure-tdx', (c) => (c.teeTCBSVN = '0201')), '/teeTCBSVN: must be 32 hex characters (16 bytes)');
  rejects('azure-tdx', edited('azure-tdx', (c) => (c.qeVendorID = '')), '/qeVendorID: must be 32 hex characters (16 bytes)');
  rejects('azure-tdx', edited('azure-tdx', (c) => (c.mrSeam = HEX32)), '/mrSeam: must be 96 hex characters (48 bytes) or ""');
  rejects('azure-tdx', edited('azure-tdx', (c) => (c.xfam = 'e70206000000000')), '/xfam: must be 16 hex characters (8 bytes) or ""');
});

test('mixed measurement lengths are refused', () => {
  rejects('dummy', JSON.stringify({ measurements: { '0': HEX32, '1': { expected: HEX48 } } }), '/measurements/1/expected: inconsistent measurement length: 48 bytes, but index 0 has 32');
});

test('measurement indices: decimal uint32, no duplicates after ParseUint', () => {
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '-1': HEX32, '0x4': HEX32 } }), /^\/measurements\/-1: invalid key/, /^\/measurements\/0x4: invalid key/);
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4294967296': HEX32 } }), '/measurements/4294967296: measurement index must fit in 32 bits');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': HEX32, '04': HEX32 } }), /^\/measurements\/0?4: measurement index 4 is also given as/);
});

test('"latest" placeholders are refused naming the field', () => {
  const rule = 'unresolved placeholder "latest" (Go would read it as 0, i.e. no minimum): write the concrete version';
  rejects('gcp-sev-snp', edited('gcp-sev-snp', (c) => ((c.bootloaderVersion = 'latest'), (c.microcodeVersion = 'Latest'))), `/bootloaderVersion: ${rule}`, `/microcodeVersion: ${rule}`);
  rejects('aws-sev-snp', edited('aws-sev-snp', (c) => (c.snpVersion = 'latest')), `/snpVersion: ${rule}`);
  rejects('azure-tdx', edited('azure-tdx', (c) => ((c.qeSVN = 'latest'), (c.teeTCBSVN = 'LATEST'), (c.xfam = 'latest'))), `/qeSVN: ${rule}`, `/teeTCBSVN: ${rule}`, `/xfam: ${rule}`);
});

test('unknown and misspelled keys are errors', () => {
  rejects('qemu-vtpm', JSON.stringify({ measurments: {} }), '/measurements: missing required key', '/measurments: unknown key: did you mean "measurements"?');
  rejects('aws-sev-snp', edited('aws-sev-snp', (c) => ((c.AMDRootKey = c.amdRootKey), delete c.amdRootKey)), '/AMDRootKey: unknown key: keys are case-sensitive, did you mean "amdRootKey"?', '/amdRootKey: missing required key');
  rejects('qemu-vtpm', edited('qemu-vtpm', (c) => (c.firmwareSignerConfig = fixture('azure-sev-snp').firmwareSignerConfig)), /^\/firmwareSignerConfig: unknown key for qemu-vtpm: "firmwareSignerConfig" belongs to the attestation config of azure-sev-snp/);
  rejects('gcp-sev-es', edited('gcp-sev-es', (c) => (c.amdRootKey = '')), /^\/amdRootKey: unknown key for gcp-sev-es: "amdRootKey" belongs to the attestation config of aws-sev-snp, gcp-sev-snp, azure-sev-snp/);
  rejects('qemu-vtpm', edited('qemu-vtpm', (c) => (c.trustedRootCertificates = [])), /^\/trustedRootCertificates: unknown key for qemu-vtpm/);
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': { expected: HEX32, warnonly: true } } }), '/measurements/4/warnonly: unknown key: keys are case-sensitive, did you mean "warnOnly"?');
  rejects('azure-sev-snp', edited('azure-sev-snp', (c) => ((c.firmwareSignerConfig as Json).acceptedKeyDigest = [])), '/firmwareSignerConfig/acceptedKeyDigest: unknown key: did you mean "acceptedKeyDigests"?');
  rejects('dummy', '{"foo":1}', '/foo: unknown key (allowed here: measurements, variant)');
});

test('wrong types', () => {
  rejects('aws-sev-snp', edited('aws-sev-snp', (c) => ((c.teeVersion = '5'), (c.snpVersion = 256), (c.microcodeVersion = 1.5), (c.bootloaderVersion = null))),
    '/teeVersion: must be an integer from 0 to 255', '/snpVersion: must be an integer from 0 to 255', '/microcodeVersion: must be an integer from 0 to 255', '/bootloaderVersion: must be an integer from 0 to 255');
  rejects('azure-tdx', edited('azure-tdx', (c) => ((c.qeSVN = 65536), (c.pceSVN = -1))), '/qeSVN: must be an integer from 0 to 65535', '/pceSVN: must be an integer from 0 to 65535');
  rejects('qemu-vtpm', '{"measurements":[]}', '/measurements: must be an object mapping measurement indices to expected values');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': { expected: HEX32, warnOnly: 'true' } } }), '/measurements/4/warnOnly: must be a boolean');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': 7 } }), '/measurements/4: must be {"expected": "<hex>", "warnOnly": <bool>} or a hex string');
  rejects('qemu-vtpm', JSON.stringify({ measurements: { '4': { warnOnly: true } } }), '/measurements/4/expected: missing required key');
  rejects('azure-sev-snp', edited('azure-sev-snp', (c) => (c.firmwareSignerConfig = [])), '/firmwareSignerConfig: must be an object');
  rejects('aws-sev-snp', edited('aws-sev-snp', (c) => (c.amdRootKey = 42)), /^\/amdRootKey: must be a PEM certificate string/);
  rejects('azure-trustedlaunch', edited('azure-trustedlaunch', (c) => (c.trustedRootCertificates = 'x')), '/trustedRootCertificates: must be a list of PEM certificate strings');
  rejects('qemu-tdx', edited('qemu-tdx', (c) => (c.variant = 7)), '/variant: must be a string');
});

test('certificates must be a PEM CERTIFICATE block holding valid X.509', () => {
  rejects('aws-sev-snp', edited('aws-sev-snp', (c) => (c.amdRootKey = 'not a pem')), '/amdRootKey: must contain a PEM "CERTIFICATE" block (none found)');
  rejects('gcp-sev-snp', edited('gcp-sev-snp', (c) => (c.amdSigningKey = encodePem('PRIVATE KEY', Buffer.alloc(40, 1)))), '/amdSigningKey: the first PEM block is "PRIVATE KEY", want "CERTIFICATE"');
  rejects('azure-tdx', edited('azure-tdx', (c) => (c.intelRootKey = encodePem('CERTIFICATE', Buffer.from('garbage')))), /^\/intelRootKey: the PEM block is not a valid X\.509 certificate: /);
  const ark = String(fixture('aws-sev-snp').amdRootKey);
  const truncated = encodePem('CERTIFICATE', Buffer.from(ark.split('\n').slice(1, -2).join(''), 'base64').subarray(0, 500));
  rejects('azure-trustedlaunch', edited('azure-trustedlaunch', (c) => (c.trustedRootCertificates = [ark, truncated])), /^\/trustedRootCertificates\/1: the PEM block is not a valid X\.509 certificate/);
  // Only the first block counts: a valid certificate after garbage blocks of another type still fails.
  rejects('aws-sev-snp', edited('aws-sev-snp', (c) => (c.amdRootKey = encodePem('PUBLIC KEY', Buffer.alloc(8)) + ark)), /^\/amdRootKey: the first PEM block is "PUBLIC KEY"/);
});

test('firmware signer config: digest lengths and enforcement policy', () => {
  const fsc = (v: Json): string => edited('azure-sev-snp', (c) => (c.firmwareSignerConfig = v));
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: [DIGEST, DIGEST.slice(2)], enforcementPolicy: 'Equal' }), '/firmwareSignerConfig/acceptedKeyDigests/1: must be 96 hex characters (48 bytes)');
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: 'ab'.repeat(32), enforcementPolicy: 'Equal' }), '/firmwareSignerConfig/acceptedKeyDigests: must be 96 hex characters (48 bytes)');
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: 5, enforcementPolicy: 'Equal' }), '/firmwareSignerConfig/acceptedKeyDigests: must be a list of 96-hex-character digests');
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: [DIGEST], enforcementPolicy: 'Unknown' }), '/firmwareSignerConfig/enforcementPolicy: unknown enforcement policy "Unknown": must be "Equal", "MAAFallback" or "WarnOnly"');
  // null would silently mean WarnOnly in Go; refused.
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: [DIGEST], enforcementPolicy: null }), '/firmwareSignerConfig/enforcementPolicy: must be "Equal", "MAAFallback" or "WarnOnly"');
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: [DIGEST] }), '/firmwareSignerConfig/enforcementPolicy: missing required key');
  rejects('azure-sev-snp', fsc({ acceptedKeyDigests: [DIGEST], enforcementPolicy: 'MAAFallback', maaURL: 'http://x.attest.azure.net' }), '/firmwareSignerConfig/maaURL: must be an https URL or ""');
});

test('top level: non-object, null, invalid JSON, duplicates, variant hint', () => {
  rejects('qemu-vtpm', 'null', '/: the attestation config must be a JSON object, got null');
  rejects('qemu-vtpm', '[]', '/: the attestation config must be a JSON object, got an array');
  rejects('qemu-vtpm', '"x"', '/: the attestation config must be a JSON object, got a string');
  rejects('dummy', '1', '/: the attestation config must be a JSON object, got a number');
  rejects('qemu-vtpm', '{"measurements":', /^\/: not valid JSON: /);
  rejects('qemu-vtpm', `{"measurements":{"4":"${HEX32}","4":"${HEX32}"}}`, '/measurements/4: duplicate key (only the last occurrence would be used)');
  rejects('qemu-vtpm', edited('qemu-vtpm', (c) => (c.variant = 'qemu-tdx')), '/variant: the config is for variant "qemu-tdx", but --attestation-variant is "qemu-vtpm"');
});

test('every problem is listed in one error', () => {
  const problems = rejects('azure-sev-snp', edited('azure-sev-snp', (c) => {
    c.bootloaderVersion = 'latest';
    c.measurements = { '4': 'zz' };
    c.extra = true;
    c.amdRootKey = 'x';
  }));
  assert.equal(problems.length, 4, problems.join('\n'));
  assert.match(problems.join('\n'), /\/bootloaderVersion: .*"latest"/);
});

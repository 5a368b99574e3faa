import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { decodeSnpInstanceInfo, encodeSnpInstanceInfo } from '../../src/workers/attestation/snp/instance-info.js';
import { SyntheticAmdPki, syntheticSnpAttestationConfig } from '../../src/workers/attestation/snp/issuer/index.js';
import { decodeVtpmDocument, encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { repoRoot } from '../helpers/repo-root.js';
import { readVector, vectorPath } from '../helpers/vectors.js';

// `joinservice snp verify-report` on Constellation's real SEV-SNP vectors: Azure (attestation.bin = a
// VCEK-signed report + 20 trailing bytes, vcek.pem, certchain.pem = ASK + ARK) and AWS (report.txt =
// base64 of a VLEK-signed report, vlek.pem valid 2024-12-10…2025-12-10, certchain.pem = ASVK + ARK).

const SNP = 'constellation/internal/attestation/snp/testdata';
const AWS = 'constellation/internal/attestation/aws/snp/testdata';
let work: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot(), 'bin', 'joinservice.js'), ...args], { maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException & { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const verifyReport = (...args: string[]): Promise<Run> => run('snp', 'verify-report', ...args);
const azure = (): string[] => ['--report', vectorPath(`${SNP}/attestation.bin`), '--cert', vectorPath(`${SNP}/vcek.pem`), '--chain', vectorPath(`${SNP}/certchain.pem`)];
const aws = (): string[] => ['--report', vectorPath(`${AWS}/report.txt`), '--cert', vectorPath(`${AWS}/vlek.pem`), '--chain', vectorPath(`${AWS}/certchain.pem`)];

/** The line of one check in the text output. */
function checkLine(out: string, check: string): string {
  const line = out.split('\n').find((l) => l.trim().startsWith(`${check} `));
  assert.ok(line, `no line for ${check} in:\n${out}`);
  return line;
}

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cli-snp-'));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('joinservice snp verify-report', () => {
  test('Azure vector (VCEK, ASK + ARK) at 2025-01-01: every check passes, exit 0', async () => {
    const r = await verifyReport(...azure(), '--at', '2025-01-01T00:00:00Z');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^OK: SEV-SNP report signed by a VCEK \(Milan\)/);
    for (const c of ['report-parse', 'signing-key', 'chain', 'signature', 'kds:tcb-reported-certificate', 'kds:tcb-certificate-current', 'kds:chip-id']) {
      assert.match(checkLine(r.stdout, c), /\sok\s/, c);
    }
    assert.match(checkLine(r.stdout, 'report-parse'), /20 trailing bytes ignored/);
    assert.match(checkLine(r.stdout, 'chain'), /ARK CN ARK-Milan \(embedded\)/);
  });

  test('the report as hex text and --json give the same verdict', async () => {
    const hexFile = path.join(work, 'report.hex');
    writeFileSync(hexFile, `${readVector(`${SNP}/attestation.bin`).toString('hex')}\n`);
    const r = await verifyReport('--report', hexFile, '--cert', vectorPath(`${SNP}/vcek.pem`), '--chain', vectorPath(`${SNP}/certchain.pem`), '--at', '2025-01-01T00:00:00Z', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout) as { ok: boolean; signer: string; checks: { check: string; ok: boolean }[] };
    assert.equal(j.ok, true);
    assert.equal(j.signer, 'VCEK');
    assert.ok(j.checks.every((c) => c.ok));
  });

  test('AWS vector (base64 report, VLEK, ASVK + ARK) while the VLEK is valid: exit 0', async () => {
    const r = await verifyReport(...aws(), '--at', '2025-06-01T00:00:00Z');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^OK: SEV-SNP report signed by a VLEK \(Milan\)/);
    assert.match(checkLine(r.stdout, 'chain'), /VLEK CN SEV-VLEK ← ASVK CN SEV-VLEK-Milan/);
    assert.match(checkLine(r.stdout, 'signature'), /\sok\s/);
  });

  test('AWS vector at 2030: exit 1 naming the expired VLEK; the signature still checks out', async () => {
    const r = await verifyReport(...aws(), '--at', '2030-01-01T00:00:00Z');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAILED:/);
    assert.match(checkLine(r.stdout, 'chain'), /FAILED\s+VLEK certificate \(CN SEV-VLEK\) has expired: .*current time 2030-01-01T00:00:00Z is after 2025-12-10T22:30:16Z/);
    assert.match(checkLine(r.stdout, 'signature'), /\sok\s/);
  });

  test('a flipped byte in the signed part of the report: exit 1 naming the signature', async () => {
    const bytes = Buffer.from(readVector(`${SNP}/attestation.bin`));
    bytes.writeUInt8(bytes.readUInt8(0x50) ^ 0x01, 0x50); // REPORT_DATA[0x10]
    const f = path.join(work, 'flipped.bin');
    writeFileSync(f, bytes);
    const r = await verifyReport('--report', f, '--cert', vectorPath(`${SNP}/vcek.pem`), '--chain', vectorPath(`${SNP}/certchain.pem`), '--at', '2025-01-01T00:00:00Z');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(checkLine(r.stdout, 'signature'), /FAILED\s+report signature does not verify/);
    assert.match(checkLine(r.stdout, 'chain'), /\sok\s/);
  });

  test('--config with a minimum TCB above the report\'s: exit 1 naming the TCB rule', async () => {
    const config = syntheticSnpAttestationConfig('azure-sev-snp', new SyntheticAmdPki(), undefined, {
      minimumTcb: { blSpl: 255, teeSpl: 255, snpSpl: 255, ucodeSpl: 255 },
      amdRootKey: '', // the embedded ARK-Milan
    });
    const f = path.join(work, 'high-tcb.json');
    writeFileSync(f, config);
    const r = await verifyReport(...azure(), '--at', '2025-01-01T00:00:00Z', '--config', f);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(checkLine(r.stdout, 'config'), /azure-sev-snp attestation config/);
    assert.match(checkLine(r.stdout, 'policy:tcb-reported-minimum'), /FAILED\s+the report's REPORTED_TCB .* is lower than the policy minimum TCB/);
    assert.match(checkLine(r.stdout, 'policy:tcb-launch-minimum'), /FAILED\s+the report's LAUNCH_TCB .* is lower than the policy minimum launch TCB/);
    assert.match(checkLine(r.stdout, 'chain'), /\sok\s/);
    assert.match(checkLine(r.stdout, 'signature'), /\sok\s/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await verifyReport('--cert', vectorPath(`${SNP}/vcek.pem`))).code, 2);
    assert.equal((await verifyReport(...azure(), '--at', 'yesterday')).code, 2);
    assert.equal((await verifyReport(...azure(), '--product', 'naples')).code, 2);
  });
});

// `joinservice issue` documents of the SEV-SNP variants (synthetic AMD PKI in a temporary --pki-dir),
// read back by `joinservice inspect` and checked by `joinservice verify --at`.

const NONCE = 'ab'.repeat(32);
const USER_DATA = 'cd'.repeat(32);

/** Writes the stdout of a successful `joinservice …` run to `file`. */
async function runTo(file: string, ...args: string[]): Promise<void> {
  const r = await new Promise<{ code: number; stdout: Buffer; stderr: string }>((resolve) => {
    execFile(process.execPath, [path.join(repoRoot(), 'bin', 'joinservice.js'), ...args], { maxBuffer: 4 << 20, encoding: 'buffer' }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout, stderr: stderr.toString('utf8') });
    });
  });
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(file, r.stdout);
}

async function issueDoc(variant: string): Promise<string> {
  const f = path.join(work, `${variant}.doc`);
  await runTo(f, 'issue', '--variant', variant, '--pki-dir', path.join(work, 'pki'), '--nonce', NONCE, '--user-data', USER_DATA);
  return f;
}

interface InspectTcb {
  raw: string;
  bytes: string;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

interface InspectJson {
  format: string;
  sevSnp: {
    error?: string;
    report: {
      error?: string;
      version: number;
      signer: string;
      policy: { raw: string; debug: boolean; smt: boolean; migrateMa: boolean; abi: string };
      tcb: Record<'current' | 'reported' | 'committed' | 'launch', InspectTcb>;
      reportData: string;
      productLine: unknown;
    };
    reportSigner: { subjectCn: string; notAfter: string; error?: string }[] | null;
    certChain: { subjectCn: string; error?: string }[] | null;
    azure: { runtimeData: { keys: { kid: string; kty: string }[] }; maaToken: string } | null;
    gcp: { zone: string; project: string; instance: string } | null;
  };
}

function assertTcbText(out: string): void {
  for (const tcb of ['current', 'reported', 'committed', 'launch']) assert.match(out, new RegExp(`^\\s+${tcb}:$`, 'm'), tcb);
  for (const c of ['bootloader', 'tee', 'snp', 'microcode']) assert.match(out, new RegExp(`^\\s+${c}: \\d+$`, 'm'), c);
  assert.match(out, /^\s+raw: 0x[0-9a-f]{16}$/m);
}

function assertTcbJson(j: InspectJson): void {
  for (const k of ['current', 'reported', 'committed', 'launch'] as const) {
    const t = j.sevSnp.report.tcb[k];
    assert.match(t.raw, /^0x[0-9a-f]{16}$/, k);
    assert.match(t.bytes, /^[0-9a-f]{16}$/, k);
    for (const c of [t.bootloader, t.tee, t.snp, t.microcode]) assert.ok(Number.isInteger(c) && c >= 0 && c <= 255, k);
    // The bytes notation is byte 0 (bootloader) first, byte 7 (microcode) last.
    assert.equal(parseInt(t.bytes.slice(0, 2), 16), t.bootloader);
    assert.equal(parseInt(t.bytes.slice(14, 16), 16), t.microcode);
  }
}

async function inspectJson(doc: string): Promise<InspectJson> {
  const r = await run('inspect', '--json', doc);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as InspectJson;
}

describe('joinservice inspect on SEV-SNP documents', () => {
  test('azure-sev-snp: report, TCBs, VCEK, chain and runtime data keys (text and --json)', async () => {
    const doc = await issueDoc('azure-sev-snp');
    const r = await run('inspect', doc);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assertTcbText(r.stdout);
    assert.match(r.stdout, /^\s+signer: VCEK$/m);
    assert.match(r.stdout, /^\s+subjectCn: SEV-VCEK$/m);
    assert.match(r.stdout, /^\s+subjectCn: ARK-Milan$/m);
    assert.match(r.stdout, /^\s+kid: HCLAkPub$/m);
    assert.match(r.stdout, /^\s+maaToken: absent$/m);
    for (const f of ['version', 'guestSvn', 'vmpl', 'chipId', 'reportData', 'measurement', 'idKeyDigest', 'hostData']) assert.match(r.stdout, new RegExp(`^\\s+${f}: `, 'm'), f);

    const j = await inspectJson(doc);
    assert.match(j.format, /SEV-SNP/);
    assert.equal(j.sevSnp.error, undefined);
    assert.equal(typeof j.sevSnp.report.version, 'number');
    assert.ok(j.sevSnp.report.version >= 2);
    assert.equal(j.sevSnp.report.signer, 'VCEK');
    assert.match(j.sevSnp.report.policy.raw, /^0x[0-9a-f]{16}$/);
    assert.equal(j.sevSnp.report.policy.debug, false);
    assertTcbJson(j);
    assert.equal(j.sevSnp.reportSigner?.[0]?.subjectCn, 'SEV-VCEK');
    assert.deepEqual(j.sevSnp.certChain?.map((c) => c.subjectCn), ['SEV-Milan', 'ARK-Milan']);
    assert.deepEqual(j.sevSnp.azure?.runtimeData.keys[0], { kid: 'HCLAkPub', kty: 'RSA' });
    assert.equal(j.sevSnp.gcp, null);
  });

  test('aws-sev-snp: VLEK signer and certificate, product line from CPUID', async () => {
    const doc = await issueDoc('aws-sev-snp');
    const r = await run('inspect', doc);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assertTcbText(r.stdout);
    assert.match(r.stdout, /^\s+signer: VLEK$/m);
    assert.match(r.stdout, /^\s+subjectCn: SEV-VLEK$/m);

    const j = await inspectJson(doc);
    assert.equal(j.sevSnp.report.signer, 'VLEK');
    assert.equal(typeof j.sevSnp.report.version, 'number');
    assertTcbJson(j);
    assert.equal(j.sevSnp.reportSigner?.[0]?.subjectCn, 'SEV-VLEK');
    assert.ok(!Number.isNaN(Date.parse(j.sevSnp.reportSigner?.[0]?.notAfter ?? '')));
    assert.equal(j.sevSnp.azure, null);
  });

  test('gcp-sev-snp: zone, project and instance', async () => {
    const j = await inspectJson(await issueDoc('gcp-sev-snp'));
    assertTcbJson(j);
    assert.ok(j.sevSnp.gcp);
    assert.ok(j.sevSnp.gcp.zone.length > 0 && j.sevSnp.gcp.project.length > 0 && j.sevSnp.gcp.instance.length > 0);
  });

  test('broken parts are named, the rest is still shown, exit 0', async () => {
    const doc = decodeVtpmDocument(new Uint8Array(readFileSync(await issueDoc('azure-sev-snp'))));
    const info = decodeSnpInstanceInfo(doc.instanceInfo);

    // A truncated report and a garbage ReportSigner: the certificate chain and the runtime data still decode.
    const broken = encodeSnpInstanceInfo({ ...info, attestationReport: info.attestationReport.subarray(0, 100), reportSigner: new Uint8Array(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')) });
    const f1 = path.join(work, 'broken-report.doc');
    writeFileSync(f1, encodeVtpmDocument({ ...doc, instanceInfo: broken }));
    const r1 = await run('inspect', f1);
    assert.equal(r1.code, 0, r1.stdout + r1.stderr);
    assert.match(r1.stdout, /^\s+error: AttestationReport: failed to decode: .*/m);
    assert.match(r1.stdout, /^\s+error: ReportSigner\[0\]: failed to decode/m);
    assert.match(r1.stdout, /^\s+subjectCn: ARK-Milan$/m);
    const j1 = JSON.parse((await run('inspect', '--json', f1)).stdout) as InspectJson;
    assert.match(j1.sevSnp.report.error ?? '', /^AttestationReport: /);

    // Azure's AttestationReport may carry 20 trailing IGVM bytes: the report still decodes, the bytes are counted.
    const igvm = new Uint8Array(info.attestationReport.length + 20);
    igvm.set(info.attestationReport);
    igvm.fill(0x5a, info.attestationReport.length);
    const f0 = path.join(work, 'igvm.doc');
    writeFileSync(f0, encodeVtpmDocument({ ...doc, instanceInfo: encodeSnpInstanceInfo({ ...info, attestationReport: igvm }) }));
    const j0 = JSON.parse((await run('inspect', '--json', f0)).stdout) as InspectJson & { sevSnp: { report: { trailingBytes: number } } };
    assert.equal(j0.sevSnp.report.error, undefined);
    assert.equal(j0.sevSnp.report.trailingBytes, 20);
    assertTcbJson(j0);

    // InstanceInfo that is not valid snp.InstanceInfo JSON: named, the vTPM part is still printed.
    const f2 = path.join(work, 'broken-info.doc');
    writeFileSync(f2, encodeVtpmDocument({ ...doc, instanceInfo: new Uint8Array(Buffer.from('{"AttestationReport":"!!",')) }));
    const r2 = await run('inspect', f2);
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.match(r2.stdout, /^\s+error: InstanceInfo: failed to decode: /m);
    assert.match(r2.stdout, /^ak:$/m);
  });
});

describe('joinservice verify --at on an issued aws-sev-snp document', () => {
  test('accepted now, rejected in 2040 naming the expired VLEK', async () => {
    const doc = await issueDoc('aws-sev-snp');
    const config = path.join(work, 'aws-config.json');
    await runTo(config, 'issue', '--variant', 'aws-sev-snp', '--pki-dir', path.join(work, 'pki'), '--print-config');
    const verify = (at: string): Promise<Run> => run('verify', '--variant', 'aws-sev-snp', '--config', config, '--nonce', NONCE, '--user-data', USER_DATA, '--at', at, doc);

    const now = await verify(new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'));
    assert.equal(now.code, 0, now.stdout + now.stderr);
    assert.match(now.stdout, /^ACCEPTED \(aws-sev-snp\)/);

    const later = await verify('2040-01-01T00:00:00Z');
    assert.equal(later.code, 1, later.stdout + later.stderr);
    assert.match(later.stdout, /^REJECTED \(aws-sev-snp\)/);
    assert.match(later.stdout, /failed: .*VLEK certificate \(CN SEV-VLEK\) has expired: .*current time 2040-01-01T00:00:00Z is after/);
  });
});

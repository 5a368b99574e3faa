import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SyntheticAmdPki, syntheticSnpAttestationConfig } from '../../src/workers/attestation/snp/issuer/index.js';
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

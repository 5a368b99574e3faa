import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { toJoinServiceError } from '../../shared/errors.js';
import { decodeVtpmDocument } from '../../workers/attestation/vtpm/envelope.js';
import { parseEventLog } from '../../workers/attestation/vtpm/eventlog/parse-event-log.js';
import { parseMeasurementsConfig, type Measurements } from '../../workers/attestation/vtpm/measurements.js';
import { algString } from '../../workers/attestation/vtpm/tpm/tpm-alg.js';
import { decodeQuoteAttest } from '../../workers/attestation/vtpm/tpm/tpms-attest.js';
import { decodeTpmtPublic } from '../../workers/attestation/vtpm/tpm/tpmt-public.js';
import { decodeTpmtSignature } from '../../workers/attestation/vtpm/tpm/tpmt-signature.js';
import type { VtpmDocument } from '../../workers/attestation/vtpm/types.js';
import { describeSnpInstanceInfo, looksLikeSnpInstanceInfo } from './inspect-snp.js';
import { readBounded } from './verify.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Runs one decoding step for the report: its value, or the error text (inspect shows broken parts instead of stopping). */
function attempt<T>(fn: () => T): T | { error: string } {
  try {
    return fn();
  } catch (err) {
    return { error: toJoinServiceError(err).message };
  }
}

interface PcrRow {
  index: number;
  actual: string;
  expected?: string;
  warnOnly?: boolean;
  match?: boolean;
}

/** A plain-data description of a document for people (text) and machines (--json). */
export function describeDocument(bytes: Uint8Array, measurements?: Measurements): Record<string, unknown> {
  let doc: VtpmDocument;
  try {
    doc = decodeVtpmDocument(bytes);
  } catch (vtpmErr) {
    try {
      const dummy = JSON.parse(Buffer.from(bytes).toString('utf8')) as { UserData?: string; Nonce?: string };
      if (dummy && typeof dummy === 'object' && 'Nonce' in dummy) {
        return { format: 'dummy (atls.FakeIssuer)', userData: dummy.UserData ?? null, nonce: dummy.Nonce ?? null };
      }
    } catch {
      // neither format
    }
    return { format: 'unknown', error: toJoinServiceError(vtpmErr).message };
  }
  const a = doc.attestation;
  const ak = attempt(() => decodeTpmtPublic(a.akPub));
  const akInfo =
    'error' in ak
      ? ak
      : {
          type: algString(ak.type),
          nameAlg: algString(ak.nameAlg),
          attributes: `0x${ak.attributes.toString(16).padStart(8, '0')}`,
          ...(ak.rsa ? { rsaBits: ak.rsa.keyBits, modulusSha256: createHash('sha256').update(ak.rsa.modulus).digest('hex') } : {}),
          ...(ak.ecc ? { curveId: ak.ecc.curveId } : {}),
          tpmtPublicSha256: createHash('sha256').update(a.akPub).digest('hex'),
        };
  const quotes = a.quotes.map((q) => {
    const attest = attempt(() => decodeQuoteAttest(q.quote));
    const sig = attempt(() => decodeTpmtSignature(q.rawSig));
    const pcrs: PcrRow[] = [...(q.pcrs?.pcrs ?? new Map<number, Uint8Array>()).entries()]
      .sort(([x], [y]) => x - y)
      .map(([index, v]) => {
        // The service compares measurements with the SHA-256 bank only.
        const m = q.pcrs?.hash === 0x000b ? measurements?.get(index) : undefined;
        return m ? { index, actual: hex(v), expected: hex(m.expected), warnOnly: m.warnOnly, match: hex(v) === hex(m.expected) } : { index, actual: hex(v) };
      });
    return {
      bank: q.pcrs ? algString(q.pcrs.hash) : null,
      signature: 'error' in sig ? sig : { alg: algString(sig.alg), hash: algString(sig.rsa?.hashAlg ?? sig.ecc?.hashAlg ?? 0) },
      attest:
        'error' in attest
          ? attest
          : {
              extraData: hex(attest.extraData),
              selection: attest.quoteInfo ? { bank: algString(attest.quoteInfo.pcrSelection.hash), pcrs: attest.quoteInfo.pcrSelection.pcrs } : null,
              pcrDigest: attest.quoteInfo ? hex(attest.quoteInfo.pcrDigest) : null,
              resetCount: attest.clockInfo.resetCount,
              restartCount: attest.clockInfo.restartCount,
            },
      pcrs,
    };
  });
  const log = a.eventLog.length === 0 ? { events: 0 } : attempt(() => {
    const parsed = parseEventLog(a.eventLog);
    const perPcr: Record<string, number> = {};
    for (const e of parsed.events) perPcr[e.index] = (perPcr[e.index] ?? 0) + 1;
    return { bytes: a.eventLog.length, format: parsed.specIdAlgorithms ? 'crypto-agile' : 'legacy SHA-1', events: parsed.events.length, eventsPerPcr: perPcr };
  });
  // SEV-SNP variants carry an snp.InstanceInfo (report, certificates, Azure/GCP extras): decode it instead of dumping the JSON.
  const snp = looksLikeSnpInstanceInfo(doc.instanceInfo);
  const instanceInfo =
    doc.instanceInfo === null
      ? null
      : snp
        ? { format: 'SEV-SNP InstanceInfo', bytes: doc.instanceInfo.length, sha256: createHash('sha256').update(doc.instanceInfo).digest('hex') }
        : Buffer.from(doc.instanceInfo).toString('utf8');
  return {
    format: snp ? 'vTPM attestation document with SEV-SNP InstanceInfo' : 'vTPM attestation document',
    userData: doc.userData ? hex(doc.userData) : null,
    instanceInfo,
    ...(snp ? { sevSnp: describeSnpInstanceInfo(doc.instanceInfo) } : {}),
    ak: akInfo,
    akCertificate: a.akCert.length > 0 ? { bytes: a.akCert.length, sha256: createHash('sha256').update(a.akCert).digest('hex') } : null,
    teeAttestation: a.teeAttestation,
    quotes,
    eventLog: log,
  };
}

function formatText(d: Record<string, unknown>): string {
  const lines: string[] = [];
  const walk = (v: unknown, indent: string, key: string) => {
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) {
        lines.push(`${indent}${key}: [${v.join(', ')}]`);
        return;
      }
      lines.push(`${indent}${key}:`);
      v.forEach((item, i) => walk(item, `${indent}  `, `[${i}]`));
    } else if (v && typeof v === 'object') {
      const row = v as Partial<PcrRow>;
      if (typeof row.index === 'number' && typeof row.actual === 'string') {
        const verdict = row.expected === undefined ? '' : row.match ? '  ok' : `  MISMATCH (expected ${row.expected}${row.warnOnly ? ', warnOnly' : ''})`;
        lines.push(`${indent}PCR[${row.index}] ${row.actual}${verdict}`);
        return;
      }
      lines.push(`${indent}${key}:`);
      for (const [k, child] of Object.entries(v)) walk(child, `${indent}  `, k);
    } else {
      lines.push(`${indent}${key}: ${String(v)}`);
    }
  };
  for (const [k, v] of Object.entries(d)) walk(v, '', k);
  return `${lines.join('\n')}\n`;
}

export function inspectCommand(): Command {
  return new Command('inspect')
    .description(
      'pretty-print an attestation document: AK, quotes, PCRs (against --config), event log, instance info; SEV-SNP variants: the report (policy, TCBs, signer, …), certificates, Azure/GCP extras',
    )
    .option('--config <file>', 'attestation config whose measurements are compared with the PCRs')
    .option('--json', 'machine-readable output')
    .argument('<document>', "the attestation document (the certificate extension's raw bytes)")
    .action(async (docPath: string, flags: { config?: string; json?: boolean }) => {
      const measurements = flags.config ? parseMeasurementsConfig(await readFile(flags.config, 'utf8')) : undefined;
      const d = describeDocument(await readBounded(docPath), measurements);
      process.stdout.write(flags.json ? `${JSON.stringify(d, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n` : formatText(d));
    });
}

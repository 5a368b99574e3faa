/**
 * The one way the SEV-SNP parsers fail: JoinServiceError(AttestationMalformed)
 * whose message names the structure, the field and (for binary layouts) the
 * byte offset, never whole buffers. `details` carries the same facts as data.
 */
import { ErrorCode, JoinServiceError, type ErrorDetails } from '../../../../shared/errors.js';

/** Which parser failed; also the message prefix. */
export const SnpComponent = {
  report: 'SNP attestation report',
  certTable: 'SNP certificate table',
  instanceInfo: 'SNP instance info',
  hclReport: 'Azure HCL report',
  runtimeData: 'Azure HCL runtime data',
} as const;
export type SnpComponent = (typeof SnpComponent)[keyof typeof SnpComponent];

const COMPONENT_IDS: Readonly<Record<SnpComponent, string>> = {
  [SnpComponent.report]: 'snp-report',
  [SnpComponent.certTable]: 'snp-cert-table',
  [SnpComponent.instanceInfo]: 'snp-instance-info',
  [SnpComponent.hclReport]: 'azure-hcl-report',
  [SnpComponent.runtimeData]: 'azure-runtime-data',
};

/** Longest `where` part kept in a message (JSON paths can be attacker-chosen). */
const MAX_WHERE_CHARS = 160;

/**
 * Throws `<component>: <where>: <reason>`; `where` is a field name with its
 * offset (`POLICY (offset 0x8)`) or a JSON path, and may be empty.
 */
export function snpMalformed(component: SnpComponent, where: string, reason: string, extra: ErrorDetails = {}): never {
  const w = where.length > MAX_WHERE_CHARS ? `${where.slice(0, 60)}…${where.slice(-(MAX_WHERE_CHARS - 61))}` : where;
  const message = w === '' ? `${component}: ${reason}` : `${component}: ${w}: ${reason}`;
  throw new JoinServiceError(ErrorCode.AttestationMalformed, message, { component: COMPONENT_IDS[component], ...(w === '' ? {} : { field: w }), ...extra });
}

/** `0x1a0` — offsets in messages are lower-case hex like go-sev-guest's. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

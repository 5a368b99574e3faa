/**
 * AMD SEV-SNP product lines (sev-snp-attestation.md §5, §6, §6.1, §9.1) and
 * the names that carry them: the report's CPUID family/model (VERSION ≥ 3),
 * the VCEK/VLEK `productName` KDS extension, and the subject common names of
 * the AMD certificates (ARK-<line>, SEV-<line>, SEV-VLEK-<line>).
 *
 * go-sev-guest's rule (verify.SnpAttestation, §9.1 steps 3–5): when the
 * report carries a non-zero CPUID_1_EAX (`FmsToCpuid1Eax` of the v3+ CPUID
 * bytes) the product line comes from it (Milan / Genoa / Turin / "Unknown")
 * and the certificate's productName is not evaluated; otherwise (v2, or all
 * CPUID bytes zero) it comes from the productName extension, which must then
 * be one of the accepted names. The caller supplies the report side as
 * `reportProductLine(...)`; this module has no dependency on the report
 * parser.
 */

export const SNP_PRODUCT_LINES = ['Milan', 'Genoa', 'Turin'] as const;
/** A product line this service can verify chains for. */
export type SnpProductLine = (typeof SNP_PRODUCT_LINES)[number];
/** What a v3+ report's CPUID says: a known line, or go-sev-guest's "Unknown". */
export type ReportProductLine = SnpProductLine | 'Unknown';
/** The key that signed a report (the report's SIGNING_KEY 0 / 1). */
export type SnpSigner = 'VCEK' | 'VLEK';

const ZEN3_ZEN4_FAMILY = 0x19;
const ZEN5_FAMILY = 0x1a;
const MILAN_MODEL = 0x01;
const GENOA_MODEL = 0x11;
const TURIN_MODEL = 0x02;

export function isSnpProductLine(v: unknown): v is SnpProductLine {
  return v === 'Milan' || v === 'Genoa' || v === 'Turin';
}

/** go-sev-guest `abi.FmsToCpuid1Eax` (family, model, stepping bytes → CPUID_1_EAX). */
export function cpuid1EaxFromFms(familyId: number, modelId: number, stepping: number): number {
  let extendedFamily = 0;
  let family = familyId & 0xff;
  if (family >= 0xf) {
    extendedFamily = family - 0xf;
    family = 0xf;
  }
  const model = modelId & 0xff;
  return ((extendedFamily << 20) | ((model >> 4) << 16) | (family << 8) | ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

/** go-sev-guest `abi.SevProductFromCpuid1Eax` reduced to the product line (stepping plays no part). */
export function productLineFromCpuid1Eax(eax: number): ReportProductLine {
  const family = (((eax >>> 20) & 0xff) + ((eax >>> 8) & 0xf)) & 0xff;
  const model = (((eax >>> 16) & 0xf) << 4) | ((eax >>> 4) & 0xf);
  if (family === ZEN3_ZEN4_FAMILY && model === MILAN_MODEL) return 'Milan';
  if (family === ZEN3_ZEN4_FAMILY && model === GENOA_MODEL) return 'Genoa';
  if (family === ZEN5_FAMILY && model === TURIN_MODEL) return 'Turin';
  return 'Unknown';
}

/**
 * The product line a report states, as go-sev-guest's `knownProductLine`:
 * undefined for VERSION < 3 (no CPUID fields) and when CPUID_1_EAX is 0
 * (then the certificate's productName decides); otherwise the line of the
 * CPUID family/model, possibly "Unknown" (which no trust anchor matches).
 * Arguments are the report's VERSION and its CPUID_FAM_ID / CPUID_MOD_ID /
 * CPUID_STEP bytes (0x188–0x18A).
 */
export function reportProductLine(version: number, familyId: number, modelId: number, stepping: number): ReportProductLine | undefined {
  if (version < 3) return undefined;
  const eax = cpuid1EaxFromFms(familyId, modelId, stepping);
  return eax === 0 ? undefined : productLineFromCpuid1Eax(eax);
}

export interface KdsProduct {
  productLine: SnpProductLine;
  /** Machine stepping (B0 = 0, B1 = 1, B2 = 2; a bare VCEK line name is 0); undefined for VLEK names, which carry none. */
  stepping: number | undefined;
}

/**
 * VCEK productName values of the pinned go-sev-guest fork (§6.1): upstream's
 * `<Line>-B<n>` names plus the bare `Milan` / `Genoa` (stepping 0).
 */
const VCEK_PRODUCT_NAMES: ReadonlyMap<string, KdsProduct> = new Map([
  ['Milan', { productLine: 'Milan', stepping: 0 }],
  ['Milan-B0', { productLine: 'Milan', stepping: 0 }],
  ['Milan-B1', { productLine: 'Milan', stepping: 1 }],
  ['Genoa', { productLine: 'Genoa', stepping: 0 }],
  ['Genoa-B0', { productLine: 'Genoa', stepping: 0 }],
  ['Genoa-B1', { productLine: 'Genoa', stepping: 1 }],
  ['Genoa-B2', { productLine: 'Genoa', stepping: 2 }],
  ['Turin-B0', { productLine: 'Turin', stepping: 0 }],
  ['Turin-B1', { productLine: 'Turin', stepping: 1 }],
]);

/**
 * go-sev-guest `kds.ParseProductName`: a VCEK productName with its stepping,
 * or a VLEK productName (a bare product line). Undefined when not accepted.
 */
export function parseKdsProductName(name: string, signer: SnpSigner): KdsProduct | undefined {
  if (signer === 'VCEK') return VCEK_PRODUCT_NAMES.get(name);
  return isSnpProductLine(name) ? { productLine: name, stepping: undefined } : undefined;
}

/** Subject CN of the AMD root key of a product line. */
export function arkCommonName(line: SnpProductLine): string {
  return `ARK-${line}`;
}

/** Subject CN of the intermediate that signs the signer's certificates: ASK `SEV-<line>`, ASVK `SEV-VLEK-<line>`. */
export function intermediateCommonName(line: SnpProductLine, signer: SnpSigner): string {
  return signer === 'VCEK' ? `SEV-${line}` : `SEV-VLEK-${line}`;
}

/** The conventional name of the intermediate role. */
export function intermediateRole(signer: SnpSigner): 'ASK' | 'ASVK' {
  return signer === 'VCEK' ? 'ASK' : 'ASVK';
}

/** Subject CN of an endorsement key certificate: `SEV-VCEK` / `SEV-VLEK`. */
export function endorsementCommonName(signer: SnpSigner): string {
  return `SEV-${signer}`;
}

/** The product line named by an ARK subject CN (`ARK-Milan` …); undefined otherwise. */
export function productLineOfArkCommonName(cn: string): SnpProductLine | undefined {
  const line = cn.startsWith('ARK-') ? cn.slice(4) : undefined;
  return isSnpProductLine(line) ? line : undefined;
}

/** Product line and signer kind named by an intermediate subject CN (`SEV-Milan`, `SEV-VLEK-Genoa` …); undefined otherwise. */
export function productOfIntermediateCommonName(cn: string): { productLine: SnpProductLine; signer: SnpSigner } | undefined {
  if (cn.startsWith('SEV-VLEK-')) {
    const line = cn.slice('SEV-VLEK-'.length);
    return isSnpProductLine(line) ? { productLine: line, signer: 'VLEK' } : undefined;
  }
  if (cn.startsWith('SEV-')) {
    const line = cn.slice('SEV-'.length);
    return isSnpProductLine(line) ? { productLine: line, signer: 'VCEK' } : undefined;
  }
  return undefined;
}

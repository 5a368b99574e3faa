/**
 * The AMD certificate chain of an SEV-SNP report (sev-snp-attestation.md §6,
 * §8, §9.1): VCEK/VLEK ← ASK/ASVK ← ARK, with go-sev-guest's checks on the
 * endorsement certificate and Go's x509.Verify rules on the path, plus the
 * trust-anchor rules of this service.
 *
 * Order (go-sev-guest verify.SnpAttestation → decodeCerts; each failure is a
 * JoinServiceError whose message names the check, `details.check` too):
 *  1. parse the VCEK/VLEK (Go x509.ParseCertificate rules; serial 0 is fine)
 *     → AttestationMalformed `parsing VCEK certificate: …`;
 *  2. validateKDSCertificateProductNonspecific: X.509 v3, signature
 *     algorithm SHA384-RSAPSS (exact PSS parameters), ECDSA P-384 key,
 *     subject with AMD's location fields and CN SEV-VCEK / SEV-VLEK, the KDS
 *     extensions (kds-extensions.ts);
 *  3. product line: the report's (v3+ CPUID, `reportProductLine` of
 *     product.ts) or, for v2 / zero CPUID, the productName extension, which
 *     must then be an accepted name; "Unknown" is refused;
 *  4. trust anchor for the product line (below) and, when the node sent an
 *     ARK, that ARK must be the anchor (same DER, or same subject and key);
 *  5. validateKDSCertIssuer: the VCEK/VLEK issuer has AMD's location fields
 *     and CN SEV-<line> / SEV-VLEK-<line>;
 *  6. x509.Verify(roots = {ARK}, intermediates = {ASK or ASVK}, now), which
 *     for these certificates is one fixed path, checked in Go's order: the
 *     leaf's unhandled critical extensions and validity; issuer DN = the
 *     intermediate's subject DN and the leaf's signature by it
 *     (CheckSignatureFrom: the intermediate must be a CA, keyCertSign if it
 *     has a keyUsage, RSA-PSS salt = hash length); the intermediate's
 *     critical extensions, validity, cA and path length; its issuer DN = the
 *     ARK's subject and its signature by the ARK; the ARK's critical
 *     extensions, validity and path length. Name constraints and policy
 *     constraints/mappings (never present in AMD certificates) are refused
 *     where Go would have to evaluate them (fail closed, as
 *     ak-certificate-chain.ts does). Key usage: only keyCertSign of a
 *     signing parent that has a keyUsage extension (CheckSignatureFrom).
 *     EKU: Go's Verify defaults to serverAuth, and a certificate without an
 *     EKU extension passes (AMD's have none; a VCEK/VLEK cannot have one,
 *     the KDS rules forbid other extensions); an ASK/ASVK or ARK with an EKU
 *     must list serverAuth or anyExtendedKeyUsage.
 *
 * Trust anchors (§8; the Go validator's network fallback is replaced by the
 * embedded roots of amd-roots.ts):
 *  - `amdRootKey` non-empty: that certificate is the only trusted root; it
 *    must be a self-signed RSA-4096 certificate signed with SHA384-RSAPSS
 *    whose CN is ARK-Milan / ARK-Genoa / ARK-Turin, and only chains of that
 *    product line verify (Constellation's default is ARK-Milan, so by default
 *    only Milan verifies, as in Go);
 *  - `amdRootKey` empty: the embedded ARK of the chain's product line;
 *  - the ASK/ASVK is the node's (InstanceInfo.CertChain) if it sent one
 *    (exclusively, as in Go); else `amdSigningKey` if its subject is the
 *    endorsement certificate's issuer; else the embedded intermediate of the
 *    product line. (Go uses `amdSigningKey` even when it cannot match, then
 *    fails; here a mismatching one falls through to the embedded
 *    intermediate, which still has to verify against the trusted ARK.)
 *  - Go never checks the root's own signature (CertPool roots are trusted as
 *    is); the ARK's self-signature is checked here, once per anchor.
 *
 * Costs: anchors are parsed and self-verified once (embedded: once per
 * process; configured: once per AmdTrust); an intermediate verified under an
 * anchor is remembered per AmdTrust (by DER hash), so a chain miss for a new
 * chip costs one parse of the VCEK and one RSA-PSS verification. Repeated
 * chains are served by chain-cache.ts.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError, type ErrorDetails } from '../../../../shared/errors.js';
import { decodePem } from '../../../../shared/pem.js';
import { OID_ANY_EXTENDED_KEY_USAGE, OID_SERVER_AUTH } from '../../../certificate/extensions.js';
import { formatRfc3339, type GoTime } from '../../../certificate/go-time.js';
import { ERR_NOT_AUTHORIZED_TO_SIGN, ERR_TOO_MANY_INTERMEDIATES, ERR_UNHANDLED_CRITICAL_EXTENSION } from '../../vtpm/azure/ak-certificate-chain.js';
import { analyseCertificate, type ChainCertificate } from '../../vtpm/azure/chain-certificate.js';
import { checkSignatureFrom } from '../../vtpm/azure/check-signature.js';
import { amdLocationError, readAmdName } from './amd-name.js';
import { embeddedAmdCertificates } from './amd-roots.js';
import { parseKdsExtensions, type KdsExtensions } from './kds-extensions.js';
import {
  arkCommonName,
  endorsementCommonName,
  intermediateCommonName,
  intermediateRole,
  parseKdsProductName,
  productLineOfArkCommonName,
  SNP_PRODUCT_LINES,
  type KdsProduct,
  type ReportProductLine,
  type SnpProductLine,
  type SnpSigner,
} from './product.js';

/** The signature algorithm every AMD certificate uses (Go's name). */
const SHA384_RSAPSS = 'SHA384-RSAPSS';
/** Key size of AMD's ARK/ASK/ASVK. */
export const AMD_ROOT_RSA_BITS = 4096;
/** Remembered verified intermediates per AmdTrust. */
const MAX_REMEMBERED_INTERMEDIATES = 64;

export type SnpCertRole = SnpSigner | 'ASK' | 'ASVK' | 'ARK';
export type SnpCertSource = 'node' | 'amdSigningKey' | 'amdRootKey' | 'embedded';

/** What the chain result keeps of each certificate (enough to re-check validity on a cache hit). */
export interface SnpCertInfo {
  role: SnpCertRole;
  commonName: string;
  /** SHA-256 of the DER, hex. */
  sha256: string;
  notBefore: GoTime;
  notAfter: GoTime;
  source: SnpCertSource;
}

export interface VerifiedSnpChain {
  signer: SnpSigner;
  productLine: SnpProductLine;
  /** The VCEK/VLEK P-384 public key, imported once. */
  endorsementKey: KeyObject;
  kds: KdsExtensions;
  /** The productName reading when it decided the product line (v2 reports); undefined when the report's CPUID did. */
  kdsProduct: KdsProduct | undefined;
  endorsement: SnpCertInfo;
  intermediate: SnpCertInfo;
  ark: SnpCertInfo;
}

export interface SnpChainInput {
  /** The report's SIGNING_KEY: which certificate signed it. */
  signer: SnpSigner;
  /** The VCEK or VLEK, DER. */
  endorsement: Uint8Array;
  /** The ASK/ASVK the node sent (InstanceInfo.CertChain), DER; absent when it sent none. */
  intermediate?: Uint8Array | undefined;
  /** The ARK the node sent, DER: if present it must be the trusted root. */
  ark?: Uint8Array | undefined;
  /**
   * The report's product line as product.ts `reportProductLine` gives it:
   * undefined for v2 reports and zero CPUID (the productName extension
   * decides), else the CPUID's line or "Unknown".
   */
  reportProductLine?: ReportProductLine | undefined;
}

export interface AmdTrustConfig {
  /** The attestation config's `amdRootKey` (PEM). Empty, null or absent: the embedded ARK of the chain's product line. */
  amdRootKey?: string | null | undefined;
  /** The attestation config's `amdSigningKey` (PEM). Empty, null or absent: none. */
  amdSigningKey?: string | null | undefined;
}

export interface AmdTrustAnchor {
  productLine: SnpProductLine;
  cert: ChainCertificate;
  sha256: string;
  source: 'amdRootKey' | 'embedded';
  /** For messages: `the trusted Milan root (amdRootKey)`. */
  label: string;
}

// ---- errors ------------------------------------------------------------------

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function rejected(message: string, details: ErrorDetails): never {
  throw new JoinServiceError(ErrorCode.AttestationRejected, message, details);
}

function malformed(message: string, details: ErrorDetails, cause: unknown): never {
  throw new JoinServiceError(ErrorCode.AttestationMalformed, message, details, { cause });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

const commonNames = new WeakMap<ChainCertificate, string>();

/** The subject CN (Go's Subject.CommonName), memoised per parsed certificate. */
function cn(cert: ChainCertificate): string {
  let name = commonNames.get(cert);
  if (name === undefined) {
    name = readAmdName(cert.rawSubject).commonName;
    commonNames.set(cert, name);
  }
  return name;
}

// ---- anchors -----------------------------------------------------------------

/**
 * Why `cert` cannot be an ARK, or undefined: RSA-4096, SHA384-RSAPSS,
 * CN ARK-<line>, self-issued, its signature verifying with its own key
 * (Go's CheckSignatureFrom, which also requires cA and keyCertSign).
 */
function arkProblem(cert: ChainCertificate): string | undefined {
  const pk = cert.parsed.publicKey;
  if (pk.algorithm !== 'rsa' || pk.rsaModulusBits !== AMD_ROOT_RSA_BITS) {
    const got = pk.algorithm === 'rsa' ? `RSA-${pk.rsaModulusBits}` : pk.curve ? `${pk.algorithm} ${pk.curve}` : pk.algorithm;
    return `is not an RSA-${AMD_ROOT_RSA_BITS} key (got ${got})`;
  }
  if (cert.signatureAlgorithm.name !== SHA384_RSAPSS) return `is not signed with SHA-384 RSASSA-PSS (got ${algorithmName(cert)})`;
  const name = cn(cert);
  if (productLineOfArkCommonName(name) === undefined) {
    return `has subject CN ${JSON.stringify(name)}, expected one of ${SNP_PRODUCT_LINES.map((l) => arkCommonName(l)).join(', ')}`;
  }
  if (!bytesEqual(cert.rawIssuer, cert.rawSubject)) return 'is not self-issued (issuer differs from subject)';
  const sigErr = checkSignatureFrom(cert, cert);
  if (sigErr !== undefined) return `is not validly self-signed: ${sigErr}`;
  return undefined;
}

function algorithmName(cert: ChainCertificate): string {
  return cert.signatureAlgorithm.name === '0' ? `unknown algorithm ${cert.parsed.signatureAlgorithm.oid}` : cert.signatureAlgorithm.name;
}

const embeddedAnchors = new Map<SnpProductLine, AmdTrustAnchor>();

/** The embedded ARK of a product line, parsed and self-verified once per process. */
export function embeddedAnchor(productLine: SnpProductLine): AmdTrustAnchor {
  const hit = embeddedAnchors.get(productLine);
  if (hit) return hit;
  const der = embeddedAmdCertificates(productLine, 'VCEK').ark;
  const cert = analyseCertificate(der);
  const problem = arkProblem(cert);
  if (problem !== undefined || productLineOfArkCommonName(cn(cert)) !== productLine) {
    throw new JoinServiceError(ErrorCode.Internal, `embedded ${arkCommonName(productLine)} ${problem ?? 'names another product line'}`);
  }
  const anchor: AmdTrustAnchor = { productLine, cert, sha256: sha256Hex(der), source: 'embedded', label: `the trusted ${productLine} root (embedded ${arkCommonName(productLine)})` };
  embeddedAnchors.set(productLine, anchor);
  return anchor;
}

/** The first PEM block of a config value as Go's config reader takes it; undefined for an empty value. */
function configCertificate(field: 'amdRootKey' | 'amdSigningKey', text: string | null | undefined): Uint8Array | undefined {
  if (text === undefined || text === null || text.trim() === '') return undefined;
  const first = decodePem(text);
  if (!first) throw new JoinServiceError(ErrorCode.ConfigInvalid, `${field}: no PEM block found`, { field });
  if (first.block.type !== 'CERTIFICATE') {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `${field}: PEM block is ${JSON.stringify(first.block.type)}, expected CERTIFICATE`, { field });
  }
  return new Uint8Array(first.block.bytes);
}

function parseConfigCertificate(field: 'amdRootKey' | 'amdSigningKey', der: Uint8Array): ChainCertificate {
  try {
    return analyseCertificate(der);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `${field}: ${messageOf(err)}`, { field }, { cause: err });
  }
}

/**
 * The AMD trust configuration of one attestation config generation: the
 * anchors, the configured ASK/ASVK and the intermediates already verified
 * under them. Build it once per config (createAmdTrust) and reuse it.
 */
export class AmdTrust {
  /** Identity of the configuration (SHA-256 over the configured DERs), for cache keys. */
  readonly id: string;
  private readonly verifiedIntermediates = new Map<string, ChainCertificate>();

  constructor(
    /** The configured `amdRootKey`; undefined = the embedded root of each product line. */
    readonly configuredRoot: AmdTrustAnchor | undefined,
    /** The configured `amdSigningKey`, parsed; undefined when empty. */
    readonly signingKey: ChainCertificate | undefined,
  ) {
    const h = createHash('sha256').update('amd-trust/v1\0');
    h.update(configuredRoot ? configuredRoot.cert.raw : new Uint8Array(0)).update('\0');
    h.update(signingKey ? signingKey.raw : new Uint8Array(0));
    this.id = h.digest('hex');
  }

  /** The trust anchor for a product line; AttestationRejected when the configured root is another line's. */
  anchorFor(productLine: SnpProductLine, signer: SnpSigner): AmdTrustAnchor {
    const root = this.configuredRoot;
    if (!root) return embeddedAnchor(productLine);
    if (root.productLine !== productLine) {
      rejected(`${signer} chain is for product line ${productLine}, but the trusted root (amdRootKey) is ${arkCommonName(root.productLine)}`, {
        check: 'trust-anchor',
        signer,
        productLine,
        trustedRoot: arkCommonName(root.productLine),
      });
    }
    return root;
  }

  /** An intermediate whose static checks and signature already passed under `anchor`. */
  rememberedIntermediate(anchor: AmdTrustAnchor, derSha256: string): ChainCertificate | undefined {
    return this.verifiedIntermediates.get(`${anchor.sha256}/${derSha256}`);
  }

  remember(anchor: AmdTrustAnchor, derSha256: string, cert: ChainCertificate): void {
    if (this.verifiedIntermediates.size >= MAX_REMEMBERED_INTERMEDIATES) {
      const oldest = this.verifiedIntermediates.keys().next().value;
      if (oldest !== undefined) this.verifiedIntermediates.delete(oldest);
    }
    this.verifiedIntermediates.set(`${anchor.sha256}/${derSha256}`, cert);
  }
}

/**
 * Builds the trust of an attestation config. `amdRootKey` must be a
 * self-signed RSA-4096 ARK (SHA384-RSAPSS, CN ARK-<line>) or empty;
 * `amdSigningKey` any certificate or empty. Throws ConfigInvalid.
 */
export function createAmdTrust(config: AmdTrustConfig = {}): AmdTrust {
  let root: AmdTrustAnchor | undefined;
  const rootDer = configCertificate('amdRootKey', config.amdRootKey);
  if (rootDer) {
    const cert = parseConfigCertificate('amdRootKey', rootDer);
    const problem = arkProblem(cert);
    if (problem !== undefined) throw new JoinServiceError(ErrorCode.ConfigInvalid, `amdRootKey ${problem}`, { field: 'amdRootKey' });
    const productLine = productLineOfArkCommonName(cn(cert))!;
    root = { productLine, cert, sha256: sha256Hex(cert.raw), source: 'amdRootKey', label: `the trusted ${productLine} root (amdRootKey)` };
  }
  const signingDer = configCertificate('amdSigningKey', config.amdSigningKey);
  const signingKey = signingDer ? parseConfigCertificate('amdSigningKey', signingDer) : undefined;
  return new AmdTrust(root, signingKey);
}

// ---- the chain ---------------------------------------------------------------

function certInfo(cert: ChainCertificate, role: SnpCertRole, source: SnpCertSource, sha256: string): SnpCertInfo {
  return { role, commonName: cn(cert), sha256, notBefore: cert.parsed.notBefore, notAfter: cert.parsed.notAfter, source };
}

/** Go's validity check of one certificate with a message naming it; undefined when valid at `nowMs`. */
function validityError(info: SnpCertInfo, nowMs: number): string | undefined {
  if (nowMs >= info.notBefore.ms && nowMs <= info.notAfter.ms) return undefined;
  const what = `${info.role} certificate (CN ${info.commonName})`;
  const now = formatRfc3339(nowMs);
  if (nowMs < info.notBefore.ms) {
    return `${what} is not yet valid: x509: certificate has expired or is not yet valid: current time ${now} is before ${formatRfc3339(info.notBefore.ms, info.notBefore.offsetMinutes)}`;
  }
  return `${what} has expired: x509: certificate has expired or is not yet valid: current time ${now} is after ${formatRfc3339(info.notAfter.ms, info.notAfter.offsetMinutes)}`;
}

function checkValidity(info: SnpCertInfo, nowMs: number, signer: SnpSigner): void {
  const err = validityError(info, nowMs);
  if (err !== undefined) rejected(err, { check: 'validity', signer, certificate: info.role, commonName: info.commonName });
}

/**
 * Re-checks the validity windows of a verified chain (leaf, intermediate,
 * ARK — Go's order) at `nowMs`; what a cache hit costs besides the lookup.
 */
export function checkSnpChainValidity(chain: VerifiedSnpChain, nowMs: number): void {
  checkValidity(chain.endorsement, nowMs, chain.signer);
  checkValidity(chain.intermediate, nowMs, chain.signer);
  checkValidity(chain.ark, nowMs, chain.signer);
}

/** The time-independent checks of the intermediate as Go's isValid/CheckSignatureFrom apply them, then its signature by the anchor. */
function verifyIntermediateStatic(ica: ChainCertificate, anchor: AmdTrustAnchor, signer: SnpSigner): void {
  const role = intermediateRole(signer);
  const d = { signer, certificate: role, commonName: cn(ica) };
  if (ica.parsed.processed.unhandledCritical.length > 0) {
    rejected(`${role} certificate (CN ${cn(ica)}): ${ERR_UNHANDLED_CRITICAL_EXTENSION} ${ica.parsed.processed.unhandledCritical.join(', ')}`, { check: 'critical-extension', ...d });
  }
  const bc = ica.basicConstraints;
  if (!bc.valid || !bc.isCA) rejected(`${role} certificate (CN ${cn(ica)}) is not a CA: ${ERR_NOT_AUTHORIZED_TO_SIGN}`, { check: 'intermediate-ca', ...d });
  // Path length: below the intermediate is only the leaf (0 intermediates), so any maxPathLen ≥ 0 holds.
  if (ica.hasPolicyMappings || ica.requireExplicitPolicy !== undefined) {
    rejected(`${role} certificate (CN ${cn(ica)}) carries certificate policy constraints or mappings, which this verifier does not evaluate`, { check: 'policies', ...d });
  }
  const anchorCert = anchor.cert;
  if (!bytesEqual(ica.rawIssuer, anchorCert.rawSubject)) {
    rejected(`${role} certificate (CN ${cn(ica)}) is not issued by ${anchor.label}: issuer CN ${readAmdName(ica.rawIssuer).commonName} (x509: certificate signed by unknown authority)`, {
      check: 'intermediate-signature',
      ...d,
    });
  }
  const sigErr = checkSignatureFrom(ica, anchorCert);
  if (sigErr !== undefined) {
    rejected(`${role} certificate (CN ${cn(ica)}) is not signed by ${anchor.label}: ${sigErr}`, { check: 'intermediate-signature', ...d });
  }
  const arkBc = anchorCert.basicConstraints;
  if (arkBc.valid && arkBc.maxPathLen >= 0n && arkBc.maxPathLen < 1n) {
    rejected(`${anchor.label}: ${ERR_TOO_MANY_INTERMEDIATES}`, { check: 'root', signer, certificate: 'ARK' });
  }
  if (anchorCert.parsed.processed.unhandledCritical.length > 0) {
    rejected(`${anchor.label}: ${ERR_UNHANDLED_CRITICAL_EXTENSION} ${anchorCert.parsed.processed.unhandledCritical.join(', ')}`, { check: 'critical-extension', signer, certificate: 'ARK' });
  }
  for (const [cert, what] of [
    [ica, `${role} certificate (CN ${cn(ica)})`],
    [anchorCert, anchor.label],
  ] as const) {
    const eku = cert.parsed.processed.extKeyUsage;
    if (eku.length > 0 && !eku.includes(OID_ANY_EXTENDED_KEY_USAGE) && !eku.includes(OID_SERVER_AUTH)) {
      rejected(`${what}: x509: certificate specifies an incompatible key usage (extended key usage ${eku.join(', ')})`, { check: 'extended-key-usage', signer, certificate: cert === ica ? role : 'ARK' });
    }
  }
  // Stricter than Go, which only evaluates rfc822Name/dNSName/URI/iPAddress entries: any SAN below a constrained ARK is refused.
  if (anchorCert.hasNameConstraints && ica.subjectAltName !== undefined) {
    rejected(`${anchor.label} has name constraints, which this verifier does not evaluate, and the ${role} carries a subjectAltName`, { check: 'name-constraints', signer, certificate: 'ARK' });
  }
}

interface ResolvedIntermediate {
  cert: ChainCertificate;
  sha256: string;
  source: SnpCertSource;
  /** True when its static checks and signature already passed under the anchor. */
  verified: boolean;
}

function resolveIntermediate(input: SnpChainInput, trust: AmdTrust, anchor: AmdTrustAnchor, ek: ChainCertificate): ResolvedIntermediate {
  const { signer } = input;
  const role = intermediateRole(signer);
  let der: Uint8Array;
  let source: SnpCertSource;
  if (input.intermediate !== undefined && input.intermediate.length > 0) {
    der = input.intermediate;
    source = 'node';
  } else if (trust.signingKey && bytesEqual(trust.signingKey.rawSubject, ek.rawIssuer)) {
    der = trust.signingKey.raw;
    source = 'amdSigningKey';
  } else {
    der = embeddedAmdCertificates(anchor.productLine, signer).intermediate;
    source = 'embedded';
  }
  const sha256 = sha256Hex(der);
  const remembered = trust.rememberedIntermediate(anchor, sha256);
  if (remembered) return { cert: remembered, sha256, source, verified: true };
  if (source === 'amdSigningKey') return { cert: trust.signingKey!, sha256, source, verified: false };
  let cert: ChainCertificate;
  try {
    cert = analyseCertificate(der);
  } catch (err) {
    if (source === 'embedded') throw new JoinServiceError(ErrorCode.Internal, `embedded ${role}: ${messageOf(err)}`, undefined, { cause: err });
    malformed(`parsing ${role} certificate: ${messageOf(err)}`, { check: 'intermediate-parse', signer, certificate: role }, err);
  }
  return { cert, sha256, source, verified: false };
}

/** The node's ARK must be the anchor: the same DER, or the same subject and public key. */
function checkPresentedArk(der: Uint8Array, anchor: AmdTrustAnchor, signer: SnpSigner): void {
  if (bytesEqual(der, anchor.cert.raw)) return;
  let presented: ChainCertificate;
  try {
    presented = analyseCertificate(der);
  } catch (err) {
    malformed(`parsing ARK certificate sent by the node: ${messageOf(err)}`, { check: 'presented-ark', signer, certificate: 'ARK' }, err);
  }
  const details = { check: 'presented-ark', signer, certificate: 'ARK', productLine: anchor.productLine };
  if (bytesEqual(presented.rawSubject, anchor.cert.rawSubject) && bytesEqual(presented.parsed.publicKey.raw, anchor.cert.parsed.publicKey.raw)) {
    // Same name and key, other bytes (e.g. a re-issued ARK): acceptable only as a well-formed ARK itself.
    const problem = arkProblem(presented);
    if (problem !== undefined) rejected(`ARK sent by the node (CN ${cn(presented)}, SHA-256 ${sha256Hex(der)}) has the key of ${anchor.label} but ${problem}`, details);
    return;
  }
  rejected(`ARK sent by the node (CN ${cn(presented)}, SHA-256 ${sha256Hex(der)}) is not ${anchor.label}`, details);
}

/**
 * Verifies the chain of a report's signing certificate at `nowMs` under
 * `trust` (see the module comment for the checks and their order). Returns
 * the VCEK/VLEK key and KDS extensions; throws JoinServiceError
 * (AttestationMalformed for unparsable certificates, AttestationRejected for
 * failed checks, Internal for a damaged embedded root).
 */
export function verifySnpChain(input: SnpChainInput, trust: AmdTrust, nowMs: number): VerifiedSnpChain {
  const { signer } = input;
  const role = intermediateRole(signer);
  const base = { signer };

  // 1. parse
  let ek: ChainCertificate;
  try {
    ek = analyseCertificate(input.endorsement);
  } catch (err) {
    malformed(`parsing ${signer} certificate: ${messageOf(err)}`, { check: 'endorsement-parse', ...base }, err);
  }
  const ekDetails = { check: 'endorsement-metadata', ...base, certificate: signer };

  // 2. validateKDSCertificateProductNonspecific
  if (ek.parsed.version !== 3) rejected(`${signer} certificate version is ${ek.parsed.version}, expected 3`, ekDetails);
  if (ek.signatureAlgorithm.name !== SHA384_RSAPSS) {
    rejected(`${signer} certificate signature algorithm is ${algorithmName(ek)}, expected SHA-384 with RSASSA-PSS`, ekDetails);
  }
  const pk = ek.parsed.publicKey;
  if (pk.algorithm !== 'ecdsa') rejected(`${signer} certificate public key type is ${pk.algorithm}, expected ECDSA`, ekDetails);
  if (pk.curve !== 'P-384') rejected(`${signer} certificate public key curve is ${pk.curve ?? 'unknown'}, expected P-384`, ekDetails);
  const subject = readAmdName(ek.rawSubject);
  const subjectErr = amdLocationError(subject, `${signer} subject`);
  if (subjectErr !== undefined) rejected(subjectErr, ekDetails);
  if (subject.commonName !== endorsementCommonName(signer)) {
    rejected(`${signer} certificate subject common name ${JSON.stringify(subject.commonName)} not expected. Expected ${endorsementCommonName(signer)}`, ekDetails);
  }
  const kds = parseKdsExtensions(ek.parsed.extensions, signer);

  // 3. product line
  let productLine: SnpProductLine;
  let kdsProduct: KdsProduct | undefined;
  const hint = input.reportProductLine;
  if (hint === undefined) {
    kdsProduct = parseKdsProductName(kds.productName, signer);
    if (!kdsProduct) {
      rejected(`${signer} productName extension ${JSON.stringify(kds.productName)} is not a known ${signer} product name`, { check: 'product', ...base });
    }
    productLine = kdsProduct.productLine;
  } else if (hint === 'Unknown') {
    rejected(`the report's CPUID family/model is not a known SEV-SNP product line (${SNP_PRODUCT_LINES.join(', ')})`, { check: 'product', ...base });
  } else {
    productLine = hint;
  }
  const lineDetails = { ...base, productLine };

  // 4. anchor; the node's ARK
  const anchor = trust.anchorFor(productLine, signer);
  if (input.ark !== undefined && input.ark.length > 0) checkPresentedArk(input.ark, anchor, signer);

  // 5. validateKDSCertIssuer
  const issuer = readAmdName(ek.rawIssuer);
  const issuerErr = amdLocationError(issuer, `${signer} issuer`);
  if (issuerErr !== undefined) rejected(issuerErr, { check: 'endorsement-issuer', ...lineDetails });
  const wantIssuer = intermediateCommonName(productLine, signer);
  if (issuer.commonName !== wantIssuer) {
    rejected(`${signer} certificate issuer common name ${JSON.stringify(issuer.commonName)} not expected. Expected ${wantIssuer}`, {
      check: 'endorsement-issuer',
      ...lineDetails,
    });
  }

  // 6. x509.Verify
  const ica = resolveIntermediate(input, trust, anchor, ek);
  const ekInfo = certInfo(ek, signer, 'node', sha256Hex(ek.raw));
  if (ek.parsed.processed.unhandledCritical.length > 0) {
    rejected(`${signer} certificate: ${ERR_UNHANDLED_CRITICAL_EXTENSION} ${ek.parsed.processed.unhandledCritical.join(', ')}`, {
      check: 'critical-extension',
      ...lineDetails,
      certificate: signer,
    });
  }
  checkValidity(ekInfo, nowMs, signer);
  const icaName = cn(ica.cert);
  if (!bytesEqual(ek.rawIssuer, ica.cert.rawSubject)) {
    rejected(`${signer} certificate issuer (CN ${issuer.commonName}) is not the subject of the ${role} (CN ${icaName}, from ${ica.source}): x509: certificate signed by unknown authority`, {
      check: 'endorsement-signature',
      ...lineDetails,
      intermediateSource: ica.source,
    });
  }
  const sigErr = checkSignatureFrom(ek, ica.cert);
  if (sigErr !== undefined) {
    rejected(`${signer} certificate is not signed by the ${role} (CN ${icaName}, from ${ica.source}): ${sigErr}`, {
      check: 'endorsement-signature',
      ...lineDetails,
      intermediateSource: ica.source,
    });
  }
  const icaInfo = certInfo(ica.cert, role, ica.source, ica.sha256);
  if (!ica.verified) {
    // Go's isValid order: critical extensions, then validity, then cA — the static part is split around the validity check.
    if (ica.cert.parsed.processed.unhandledCritical.length === 0) checkValidity(icaInfo, nowMs, signer);
    verifyIntermediateStatic(ica.cert, anchor, signer);
    trust.remember(anchor, ica.sha256, ica.cert);
  } else {
    checkValidity(icaInfo, nowMs, signer);
  }
  const arkInfo = certInfo(anchor.cert, 'ARK', anchor.source, anchor.sha256);
  checkValidity(arkInfo, nowMs, signer);

  const endorsementKey = ek.publicKey;
  if (!endorsementKey) throw new JoinServiceError(ErrorCode.Internal, `${signer} key was not imported`);
  return { signer, productLine, endorsementKey, kds, kdsProduct, endorsement: ekInfo, intermediate: icaInfo, ark: arkInfo };
}

export interface VerifiedAmdCertChain {
  productLine: SnpProductLine;
  signer: SnpSigner;
  intermediate: SnpCertInfo;
  ark: SnpCertInfo;
}

/**
 * Verifies a product chain on its own (a KDS `cert_chain` answer, the
 * embedded chains, an ASK/ASVK before it is cached): the ARK as an anchor is
 * checked (RSA-4096, SHA384-RSAPSS, CN ARK-<line>, self-signed), the
 * intermediate must be named for the same product line and signer kind
 * (SEV-<line> / SEV-VLEK-<line>) and pass the intermediate checks of
 * verifySnpChain under that ARK, and both must be valid at `nowMs`.
 * Go's certificate cache does not verify at all (§8.2).
 */
export function verifyAmdCertChain(intermediateDer: Uint8Array, arkDer: Uint8Array, signer: SnpSigner, nowMs: number): VerifiedAmdCertChain {
  const role = intermediateRole(signer);
  const parse = (der: Uint8Array, what: 'ARK' | 'ASK' | 'ASVK'): ChainCertificate => {
    try {
      return analyseCertificate(der);
    } catch (err) {
      malformed(`parsing ${what} certificate: ${messageOf(err)}`, { check: what === 'ARK' ? 'root' : 'intermediate-parse', signer, certificate: what }, err);
    }
  };
  const arkCert = parse(arkDer, 'ARK');
  const problem = arkProblem(arkCert);
  if (problem !== undefined) rejected(`ARK certificate (CN ${cn(arkCert)}) ${problem}`, { check: 'root', signer, certificate: 'ARK' });
  const productLine = productLineOfArkCommonName(cn(arkCert))!;
  const anchor: AmdTrustAnchor = { productLine, cert: arkCert, sha256: sha256Hex(arkCert.raw), source: 'embedded', label: `the ${arkCommonName(productLine)} root` };
  const ica = parse(intermediateDer, role);
  const want = intermediateCommonName(productLine, signer);
  if (cn(ica) !== want) {
    rejected(`${role} certificate subject common name ${JSON.stringify(cn(ica))} not expected. Expected ${want}`, { check: 'intermediate-name', signer, certificate: role, productLine });
  }
  const icaInfo = certInfo(ica, role, 'node', sha256Hex(ica.raw));
  if (ica.parsed.processed.unhandledCritical.length === 0) checkValidity(icaInfo, nowMs, signer);
  verifyIntermediateStatic(ica, anchor, signer);
  const arkInfo = certInfo(arkCert, 'ARK', 'node', anchor.sha256);
  checkValidity(arkInfo, nowMs, signer);
  return { productLine, signer, intermediate: icaInfo, ark: arkInfo };
}

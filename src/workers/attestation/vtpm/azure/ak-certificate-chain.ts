/**
 * Go's x509.Certificate.Verify (crypto/x509/verify.go, Go 1.24) with the
 * options Constellation's azure-trustedlaunch validator passes —
 * Roots = the trust anchors, Intermediates = {the InstanceInfo CA},
 * KeyUsages = [ExtKeyUsageAny], CurrentTime = now — reproduced as far as it
 * decides anything for such chains, with Go's error texts:
 *
 * 1. the leaf's isValid: unhandled critical extensions ("x509: unhandled
 *    critical extension"), validity ("x509: certificate has expired or is not
 *    yet valid: current time … is after …"); those errors are returned as is;
 * 2. a leaf that is itself a root (same DER) is its own one-certificate chain;
 * 3. buildChains: candidates are the roots, then the intermediates, whose
 *    RawSubject equals the child's RawIssuer (ordered by AKID/SKID match as
 *    CertPool.findPotentialParents orders them); a candidate with a nil Go
 *    public key or already in the chain is skipped; CheckSignatureFrom
 *    failures only become the hint of "x509: certificate signed by unknown
 *    authority (possibly because of … while trying to verify candidate
 *    authority certificate …)"; a candidate's isValid failure (expired root
 *    or CA, CA without cA, path length exceeded, …) becomes the returned
 *    error, exactly as Go's buildChains assigns it;
 * 4. Go 1.24's policy validation (RFC 5280/9618), decided here only where
 *    its outcome is certain (see below); with ExtKeyUsageAny, no EKU check.
 *
 * Deviations (fail closed; for docs/attestation.md):
 * - Name constraints: Go checks the rfc822Name/dNSName/URI/iPAddress SAN
 *   entries of the certificates below a constrained CA. We do not evaluate
 *   name constraints: a CA or root with a nameConstraints extension is
 *   accepted only when no certificate below it carries such names (then Go's
 *   check is vacuous too — it ignores the other SAN types); otherwise the
 *   candidate fails with "x509: name constraints of … are not evaluated by this
 *   verifier".
 * - Certificate policies: Go's policy graph can only reject a chain when an
 *   intermediate carries requireExplicitPolicy or policy mappings, or the leaf
 *   has requireExplicitPolicy 0 (the anchor's own constraints are ignored). Such chains are rejected here with "x509: no valid chains
 *   built: certificate policy constraints and mappings are not evaluated by
 *   this verifier"; all other chains are policy-valid in Go as well.
 */
import { createHash } from 'node:crypto';
import { DerCursor, T } from '../../../certificate/der-cursor.js';
import { formatRfc3339 } from '../../../certificate/go-time.js';
import { goQuote } from '../../../signing/go-quote.js';
import { hintName, type ChainCertificate } from './chain-certificate.js';
import { checkSignatureFrom } from './check-signature.js';

/** Go's maxChainSignatureChecks. */
const MAX_CHAIN_SIGNATURE_CHECKS = 100;

export const ERR_UNHANDLED_CRITICAL_EXTENSION = 'x509: unhandled critical extension';
export const ERR_UNKNOWN_AUTHORITY = 'x509: certificate signed by unknown authority';
export const ERR_NOT_AUTHORIZED_TO_SIGN = 'x509: certificate is not authorized to sign other certificates';
export const ERR_TOO_MANY_INTERMEDIATES = 'x509: too many intermediates for path length constraint';

/** A verification failure: Go's error text, plus which certificate it is about (for diagnostics). */
export class ChainVerifyError extends Error {
  constructor(
    message: string,
    readonly kind: 'leaf-invalid' | 'candidate-invalid' | 'unknown-authority' | 'policies' | 'limit',
    readonly certificate?: ChainCertificate,
  ) {
    super(message);
    this.name = 'ChainVerifyError';
  }
}

/** Go's CertPool for this use: certificates indexed by RawSubject, deduplicated by their DER. */
export class CertificatePool {
  private readonly byName = new Map<string, ChainCertificate[]>();
  private readonly sums = new Set<string>();
  readonly certificates: ChainCertificate[] = [];

  constructor(certificates: Iterable<ChainCertificate> = []) {
    for (const c of certificates) this.add(c);
  }

  add(cert: ChainCertificate): void {
    const sum = digest(cert.raw);
    if (this.sums.has(sum)) return;
    this.sums.add(sum);
    this.certificates.push(cert);
    const key = hex(cert.rawSubject);
    const list = this.byName.get(key);
    if (list) list.push(cert);
    else this.byName.set(key, [cert]);
  }

  contains(cert: ChainCertificate): boolean {
    return this.sums.has(digest(cert.raw));
  }

  /** CertPool.findPotentialParents: AKID = SKID first, then one of them missing, then mismatching. */
  findPotentialParents(cert: ChainCertificate): ChainCertificate[] {
    const matching: ChainCertificate[] = [];
    const oneKeyId: ChainCertificate[] = [];
    const mismatch: ChainCertificate[] = [];
    for (const candidate of this.byName.get(hex(cert.rawIssuer)) ?? []) {
      const ski = candidate.subjectKeyId;
      const aki = cert.authorityKeyId;
      if (Buffer.from(ski).equals(aki)) matching.push(candidate);
      else if ((ski.length === 0 && aki.length > 0) || (ski.length > 0 && aki.length === 0)) oneKeyId.push(candidate);
      else mismatch.push(candidate);
    }
    return [...matching, ...oneKeyId, ...mismatch];
  }
}

export interface ChainVerifyOptions {
  roots: CertificatePool;
  intermediates: CertificatePool;
  /** Go's VerifyOptions.CurrentTime. */
  now: Date;
}

const LEAF = 0;
const INTERMEDIATE = 1;
const ROOT = 2;
type CertType = typeof LEAF | typeof INTERMEDIATE | typeof ROOT;

/**
 * leaf.Verify(opts) with KeyUsages = [ExtKeyUsageAny]. Returns the verified
 * chains (leaf first, anchor last); throws ChainVerifyError with Go's text.
 */
export function verifyCertificateChain(leaf: ChainCertificate, opts: ChainVerifyOptions): ChainCertificate[][] {
  const leafErr = isValid(leaf, LEAF, [], opts);
  if (leafErr !== undefined) throw new ChainVerifyError(leafErr, 'leaf-invalid', leaf);

  let candidates: ChainCertificate[][];
  if (opts.roots.contains(leaf)) {
    candidates = [[leaf]];
  } else {
    const result = buildChains(leaf, [leaf], { count: 0 }, opts);
    if (result.err) throw result.err;
    candidates = result.chains;
  }

  const chains = candidates.filter((chain) => policiesDecidable(chain));
  if (chains.length === 0) {
    throw new ChainVerifyError(
      'x509: no valid chains built: certificate policy constraints and mappings are not evaluated by this verifier',
      'policies',
      leaf,
    );
  }
  // KeyUsages contains ExtKeyUsageAny: no EKU check.
  return chains;
}

interface BuildResult {
  chains: ChainCertificate[][];
  err: ChainVerifyError | undefined;
}

/** Go's buildChains, including its handling of `err` across candidates. */
function buildChains(c: ChainCertificate, currentChain: ChainCertificate[], sigChecks: { count: number }, opts: ChainVerifyOptions): BuildResult {
  const chains: ChainCertificate[][] = [];
  let err: ChainVerifyError | undefined;
  let hintErr: string | undefined;
  let hintCert: ChainCertificate | undefined;

  const consider = (certType: CertType, candidate: ChainCertificate): void => {
    if (!candidate.publicKey && !hasGoPublicKey(candidate)) return;
    if (alreadyInChain(candidate, currentChain)) return;
    sigChecks.count++;
    if (sigChecks.count > MAX_CHAIN_SIGNATURE_CHECKS) {
      err = new ChainVerifyError('x509: signature check attempts limit reached while verifying certificate chain', 'limit');
      return;
    }
    const sigErr = checkSignatureFrom(c, candidate);
    if (sigErr !== undefined) {
      if (hintErr === undefined) {
        hintErr = sigErr;
        hintCert = candidate;
      }
      return;
    }
    const invalid = isValid(candidate, certType, currentChain, opts);
    err = invalid === undefined ? undefined : new ChainVerifyError(invalid, 'candidate-invalid', candidate);
    if (invalid !== undefined) {
      if (hintErr === undefined) {
        hintErr = invalid;
        hintCert = candidate;
      }
      return;
    }
    if (certType === ROOT) {
      chains.push([...currentChain, candidate]);
    } else {
      const child = buildChains(candidate, [...currentChain, candidate], sigChecks, opts);
      err = child.err;
      chains.push(...child.chains);
    }
  };

  for (const root of opts.roots.findPotentialParents(c)) consider(ROOT, root);
  for (const intermediate of opts.intermediates.findPotentialParents(c)) consider(INTERMEDIATE, intermediate);

  if (chains.length > 0) err = undefined;
  if (chains.length === 0 && err === undefined) {
    let message = ERR_UNKNOWN_AUTHORITY;
    if (hintErr !== undefined && hintCert) {
      message += ` (possibly because of ${goQuote(hintErr)} while trying to verify candidate authority certificate ${goQuote(hintName(hintCert))})`;
    }
    err = new ChainVerifyError(message, 'unknown-authority', c);
  }
  return { chains, err };
}

/** Go's PublicKey is non-nil for RSA, ECDSA, Ed25519, X25519 and DSA keys. */
function hasGoPublicKey(cert: ChainCertificate): boolean {
  const alg = cert.parsed.publicKey.algorithm;
  return alg === 'dsa' || alg === 'x25519';
}

/** Go's alreadyInChain: same subject, same SPKI and the same SAN extension value (or both without). */
function alreadyInChain(candidate: ChainCertificate, chain: readonly ChainCertificate[]): boolean {
  for (const cert of chain) {
    if (!Buffer.from(candidate.rawSubject).equals(cert.rawSubject)) continue;
    if (!Buffer.from(candidate.parsed.publicKey.raw).equals(cert.parsed.publicKey.raw)) continue;
    const a = candidate.subjectAltName;
    const b = cert.subjectAltName;
    if (a === undefined && b === undefined) return true;
    if (a === undefined || b === undefined) return false;
    if (Buffer.from(a).equals(b)) return true;
  }
  return false;
}

/** Go's isValid: undefined when `c` may be appended to `currentChain` as `certType`, else Go's error text. */
function isValid(c: ChainCertificate, certType: CertType, currentChain: readonly ChainCertificate[], opts: ChainVerifyOptions): string | undefined {
  if (c.parsed.processed.unhandledCritical.length > 0) return ERR_UNHANDLED_CRITICAL_EXTENSION;

  const child = currentChain[currentChain.length - 1];
  if (child && !Buffer.from(child.rawIssuer).equals(c.rawSubject)) return 'x509: issuer name does not match subject from issuing certificate';

  const now = opts.now.getTime();
  const nowText = formatRfc3339(now);
  if (now < c.parsed.notBefore.ms) {
    return `x509: certificate has expired or is not yet valid: current time ${nowText} is before ${formatRfc3339(c.parsed.notBefore.ms, c.parsed.notBefore.offsetMinutes)}`;
  }
  if (now > c.parsed.notAfter.ms) {
    return `x509: certificate has expired or is not yet valid: current time ${nowText} is after ${formatRfc3339(c.parsed.notAfter.ms, c.parsed.notAfter.offsetMinutes)}`;
  }

  if (certType !== LEAF && c.hasNameConstraints) {
    const constrained = currentChain.filter((cert) => cert.subjectAltName !== undefined && hasConstrainableNames(cert.subjectAltName));
    if (constrained.length > 0) {
      return `x509: name constraints of ${goQuote(hintName(c))} are not evaluated by this verifier (certificates below it carry rfc822Name, dNSName, URI or iPAddress names)`;
    }
  }

  const bc = c.basicConstraints;
  if (certType === INTERMEDIATE && (!bc.valid || !bc.isCA)) return ERR_NOT_AUTHORIZED_TO_SIGN;
  if (bc.valid && bc.maxPathLen >= 0n) {
    const numIntermediates = BigInt(currentChain.length - 1);
    if (numIntermediates > bc.maxPathLen) return ERR_TOO_MANY_INTERMEDIATES;
  }
  return undefined;
}

/** Whether a SAN value holds a name type Go checks against name constraints (forEachSAN tags 1, 2, 6, 7). */
function hasConstrainableNames(san: Uint8Array): boolean {
  const seq = DerCursor.of(san).read(T.Sequence);
  if (!seq) return true; // cannot happen after parsing; be conservative
  const c = DerCursor.inside(seq);
  while (!c.empty()) {
    const el = c.readAny();
    if (!el) return true;
    const tag = el.tag ^ 0x80;
    if (tag === 1 || tag === 2 || tag === 6 || tag === 7) return true;
  }
  return false;
}

/**
 * Whether Go's policiesValid is certainly true for the chain (leaf first,
 * anchor last): it can only be false when a non-anchor certificate other than
 * the leaf carries requireExplicitPolicy or policy mappings, or the leaf has
 * requireExplicitPolicy 0. Chains where it could be false are refused (see
 * the file comment).
 */
function policiesDecidable(chain: readonly ChainCertificate[]): boolean {
  if (chain.length === 1) return true;
  const n = chain.length - 1;
  for (let i = 0; i < n; i++) {
    const cert = chain[i]!;
    if (i === 0) {
      if (cert.requireExplicitPolicy === 0n) return false;
      continue;
    }
    if (cert.requireExplicitPolicy !== undefined || cert.hasPolicyMappings) return false;
  }
  return true;
}

function digest(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

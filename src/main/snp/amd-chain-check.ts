/**
 * The sanity check of AMD intermediate/root certificates before the start-up
 * certificate cache (cert-cache.ts) uses or stores them. Go does not check
 * the chain at cache time (sev-snp-attestation.md §8.2); we do, so that a
 * damaged ConfigMap value or a bad KDS answer is neither written to the
 * cluster nor injected as `amdSigningKey`:
 *
 * - each certificate parses (OpenSSL, via node:crypto — this runs once at
 *   start-up on the main thread; the Go-exact X.509 checks of every
 *   verification stay in the worker);
 * - subject CNs: ASK `SEV-<product>` (VCEK chain) or ASVK `SEV-VLEK-<product>`
 *   (VLEK chain), ARK `ARK-<product>`, exactly one CN each;
 * - the ARK is self-signed; the intermediate is issued and signed by it;
 * - the intermediate is signed by the *trusted* ARK: the config's
 *   `amdRootKey` when given, else the embedded ARK of the product line
 *   (src/workers/attestation/snp/chain/amd-roots.ts) — `verifyAskSignedByArk`;
 * - both are within their validity period now.
 *
 * This is not the verification (the worker verifies every chain it uses
 * with Go's rules); it keeps garbage out of the cache.
 */
import { X509Certificate } from 'node:crypto';
import { decodePem, encodePem } from '../../shared/pem.js';
import { embeddedAmdCertificates } from '../../workers/attestation/snp/chain/amd-roots.js';
import type { AmdProduct, KdsKeyKind } from '../../workers/attestation/snp/kds/kds-client.js';

/** Subject CN of the intermediate of a chain: ASK `SEV-Milan`, ASVK `SEV-VLEK-Milan`. */
export function expectedIntermediateCn(product: AmdProduct, kind: KdsKeyKind): string {
  return kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`;
}

export function expectedArkCn(product: AmdProduct): string {
  return `ARK-${product}`;
}

/** `ASK` or `ASVK`. */
export function intermediateName(kind: KdsKeyKind): 'ASK' | 'ASVK' {
  return kind === 'vcek' ? 'ASK' : 'ASVK';
}

export interface AmdChainCheckContext {
  product: AmdProduct;
  kind: KdsKeyKind;
  /** The trusted ARK (DER); default: the embedded ARK of `product`. */
  trustedArkDer?: Uint8Array;
  nowMs: number;
}

/** The DER of a PEM value as Go's crypto.PemToX509Cert reads it: the first PEM block, which must be a CERTIFICATE. */
export function certificateDerFromPem(pem: string): Uint8Array {
  const r = decodePem(pem);
  if (!r) throw new Error('decoding PEM: no PEM data found');
  if (r.block.type !== 'CERTIFICATE') throw new Error(`decoding PEM: block type is ${JSON.stringify(r.block.type)}, want "CERTIFICATE"`);
  return new Uint8Array(r.block.bytes);
}

/** Canonical PEM (64 columns, no headers) of a certificate DER. */
export function certificatePem(der: Uint8Array): string {
  return encodePem('CERTIFICATE', der);
}

function parse(der: Uint8Array, role: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new Error(`parsing ${role} certificate: ${(err as Error).message}`, { cause: err });
  }
}

function commonNames(dn: string): string[] {
  return dn
    .split('\n')
    .filter((l) => l.startsWith('CN='))
    .map((l) => l.slice(3));
}

function checkCn(cert: X509Certificate, role: string, want: string): void {
  const cns = commonNames(cert.subject);
  if (cns.length !== 1 || cns[0] !== want) {
    throw new Error(`${role} subject CN is ${cns.length === 0 ? 'missing' : cns.map((c) => JSON.stringify(c)).join(', ')}, want ${JSON.stringify(want)}`);
  }
}

function checkValidity(cert: X509Certificate, role: string, nowMs: number): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(nowMs >= from && nowMs <= to)) throw new Error(`${role} certificate is not valid now (valid ${cert.validFrom} – ${cert.validTo})`);
}

function trustedArk(ctx: AmdChainCheckContext): X509Certificate {
  const der = ctx.trustedArkDer ?? embeddedAmdCertificates(ctx.product, ctx.kind === 'vcek' ? 'VCEK' : 'VLEK').ark;
  return parse(der, 'trusted ARK');
}

/**
 * Whether `intermediateDer` carries a valid signature by `arkDer`'s key and
 * names it as issuer (RSASSA-PSS as AMD uses it, via OpenSSL). Throws Error
 * with the reason. The one signature check of the start-up cache; the
 * worker's chain verification (snp/chain/) is authoritative at join time.
 */
export function verifyAskSignedByArk(intermediateDer: Uint8Array, arkDer: Uint8Array, role = 'ASK'): void {
  const ask = parse(intermediateDer, role);
  const ark = parse(arkDer, 'ARK');
  if (!ask.checkIssued(ark)) throw new Error(`${role} is not issued by ARK ${JSON.stringify(commonNames(ark.subject).join(','))} (issuer/subject or key usage mismatch)`);
  if (!ask.verify(ark.publicKey)) throw new Error(`${role} signature does not verify with the ARK's key`);
}

/** Checks an intermediate (ASK/ASVK) on its own: parse, CN, validity, signed by the trusted ARK. Throws Error. */
export function checkAmdIntermediate(der: Uint8Array, ctx: AmdChainCheckContext): void {
  const role = intermediateName(ctx.kind);
  const cert = parse(der, role);
  checkCn(cert, role, expectedIntermediateCn(ctx.product, ctx.kind));
  checkValidity(cert, role, ctx.nowMs);
  const ark = trustedArk(ctx);
  try {
    verifyAskSignedByArk(der, new Uint8Array(ark.raw), role);
  } catch (err) {
    throw new Error(`${(err as Error).message} (trusted ARK: ${ctx.trustedArkDer ? 'amdRootKey of the attestation config' : `embedded ${expectedArkCn(ctx.product)}`})`, { cause: err });
  }
}

/** Checks an ARK on its own: parse, CN, validity, self-signed. Throws Error. */
export function checkAmdArk(der: Uint8Array, ctx: AmdChainCheckContext): void {
  const cert = parse(der, 'ARK');
  checkCn(cert, 'ARK', expectedArkCn(ctx.product));
  checkValidity(cert, 'ARK', ctx.nowMs);
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) throw new Error('ARK is not self-signed');
}

/** Both certificates and their link: the intermediate is signed by this ARK and by the trusted one. Throws Error. */
export function checkAmdCertChain(intermediateDer: Uint8Array, arkDer: Uint8Array, ctx: AmdChainCheckContext): void {
  checkAmdArk(arkDer, ctx);
  checkAmdIntermediate(intermediateDer, ctx);
  verifyAskSignedByArk(intermediateDer, arkDer, intermediateName(ctx.kind));
}

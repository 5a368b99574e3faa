/**
 * `azure-trustedlaunch` (tpm-attestation.md §11.3): the trusted AK is the key
 * of the AK certificate Azure issued for the VM's vTPM, carried in
 * InstanceInfo as `{"AkCert":"<b64 DER>","CA":"<b64 DER>"}`, after the
 * certificate chain leaf → CA → trust anchor has been verified the way Go's
 * x509.Certificate.Verify does (ak-certificate-chain.ts). There is no CVM
 * check and no network access.
 *
 * Order and texts as in Constellation's verifyAttestationKey (the pipeline
 * adds "validating attestation public key: "):
 *   1. tpm2.DecodePublic(ak_pub)       → "decoding attestation key public area: …"
 *   2. json.Unmarshal(InstanceInfo)    → "unmarshaling attestation key signer info: …"
 *   3. x509.ParseCertificate(AkCert)   → "parsing attestation key certificate: …"
 *   4. x509.ParseCertificate(CA)       → "parsing attestation key CA certificate: …"
 *   5. AkCert.Verify(roots, {CA}, any) → "verifying attestation key certificate: …"
 *   6. Public.Key()                    → "getting public key: …"
 *   7. not RSA                         → "attestation key is not an RSA key"
 *   8. n/e differ from the certificate → "certificate public key does not match attestation key"
 * The trusted AK returned is the certificate's SubjectPublicKeyInfo (DER).
 *
 * Trust anchors (§14 G5, §15 Q2) are configuration. The default is the AME
 * root Go embeds, which expired on 2026-05-24 22:57:03 UTC: with the default
 * set every document now fails in step 5 (Go: "x509: certificate has expired
 * or is not yet valid: current time … is after 2026-05-24T22:57:03Z", or
 * "certificate signed by unknown authority" for certificates from Azure's
 * newer hierarchies). Whenever step 5 fails while a configured anchor is
 * outside its validity period, the message says so and names the
 * configuration to change. Anchors need not be self-signed: as in Go's
 * CertPool, an anchor's own signature is never checked, only its validity,
 * basic constraints and path length.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { parseGoJson } from '../../../../shared/go-json/go-json.js';
import { byteSliceBytes, goBytesField, unmarshalGoStruct } from '../../../../shared/go-json/go-json-decode.js';
import { decodeAllPem } from '../../../../shared/pem.js';
import { formatRfc3339 } from '../../../certificate/go-time.js';
import { akVerificationKey, decodeTpmtPublic, identityFromKeyObject, keyEquals, type TpmtPublic } from '../tpm/tpmt-public.js';
import type { MachineState, VtpmDocument, VtpmVariantPolicy } from '../types.js';
import { CertificatePool, ChainVerifyError, verifyCertificateChain } from './ak-certificate-chain.js';
import { AME_ROOT_DER, AME_ROOT_DESCRIPTION, AME_ROOT_SHA256 } from './ame-root.js';
import { analyseCertificate, hintName, type ChainCertificate } from './chain-certificate.js';

export interface AzureTrustedLaunchPolicyOptions {
  /**
   * Trust anchors (DER certificates). Default: [the AME root] — expired since
   * 2026-05-24, so the default accepts nothing any more. An empty list is a
   * configuration error.
   */
  trustedRoots?: readonly Uint8Array[];
  /** The verification time (Go's VerifyOptions.CurrentTime); default the wall clock. */
  now?: () => Date;
}

/** Where operators configure the anchors; quoted in every "expired anchor" message. */
export const TRUST_ANCHOR_CONFIG_HINT =
  'configure the current Azure vTPM root certificates in the azure-trustedlaunch attestation config member "trustedRootCertificates" (see docs/attestation.md)';

/** A configured trust anchor, for start-up logs and diagnostics. */
export interface TrustAnchorInfo {
  /** CN, else first O, else serial (as Go's UnknownAuthorityError names certificates). */
  name: string;
  /** Lowercase hex SHA-256 of the DER. */
  sha256: string;
  notBefore: string;
  notAfter: string;
  /** Whether this is the shipped default (the AME root). */
  isDefaultAmeRoot: boolean;
  /** Validity at the time of the call: 'valid', 'expired' or 'not-yet-valid'. */
  status: 'valid' | 'expired' | 'not-yet-valid';
}

export interface AzureTrustedLaunchPolicy extends VtpmVariantPolicy {
  /** The configured anchors and their validity now (e.g. to warn at start-up). */
  trustAnchors(): TrustAnchorInfo[];
}

/** The InstanceInfo struct (`trustedlaunch.akSigner`). */
const AK_SIGNER = {
  goType: 'trustedlaunch.akSigner',
  structName: 'akSigner',
  fields: { AkCert: goBytesField, CA: goBytesField },
};

export function createAzureTrustedLaunchPolicy(o: AzureTrustedLaunchPolicyOptions = {}): AzureTrustedLaunchPolicy {
  const anchors = parseAnchors(o.trustedRoots ?? [AME_ROOT_DER]);
  const roots = new CertificatePool(anchors);
  const clock = o.now ?? (() => new Date());

  const anchorInfo = (now: Date): TrustAnchorInfo[] =>
    roots.certificates.map((a) => {
      const sha256 = sha256Hex(a.raw);
      return {
        name: Buffer.from(hintName(a)).toString('utf8'),
        sha256,
        notBefore: formatRfc3339(a.parsed.notBefore.ms),
        notAfter: formatRfc3339(a.parsed.notAfter.ms),
        isDefaultAmeRoot: sha256 === AME_ROOT_SHA256,
        status: validityStatus(a, now),
      };
    });

  return {
    trustAnchors: () => anchorInfo(clock()),

    trustedAk(doc: VtpmDocument): Promise<Uint8Array> {
      try {
        return Promise.resolve(trustedAk(doc, roots, clock(), anchorInfo));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },

    cvmCheck(_doc: VtpmDocument, _state: MachineState): Promise<void> {
      return Promise.resolve();
    },
  };
}

function trustedAk(doc: VtpmDocument, roots: CertificatePool, now: Date, anchorInfo: (now: Date) => TrustAnchorInfo[]): Uint8Array {
  let akPublic: TpmtPublic;
  try {
    akPublic = decodeTpmtPublic(doc.attestation.akPub);
  } catch (err) {
    throw malformed(`decoding attestation key public area: ${messageOf(err)}`, err);
  }

  let signer;
  try {
    signer = unmarshalGoStruct(parseGoJson(doc.instanceInfo ?? new Uint8Array(0)), AK_SIGNER);
  } catch (err) {
    throw malformed(`unmarshaling attestation key signer info: ${messageOf(err)}`, err);
  }

  let akCert: ChainCertificate;
  try {
    akCert = analyseCertificate(byteSliceBytes(signer.AkCert));
  } catch (err) {
    throw malformed(`parsing attestation key certificate: ${messageOf(err)}`, err);
  }
  let akCertCa: ChainCertificate;
  try {
    akCertCa = analyseCertificate(byteSliceBytes(signer.CA));
  } catch (err) {
    throw malformed(`parsing attestation key CA certificate: ${messageOf(err)}`, err);
  }

  try {
    verifyCertificateChain(akCert, { roots, intermediates: new CertificatePool([akCertCa]), now });
  } catch (err) {
    if (!(err instanceof ChainVerifyError)) throw err;
    const invalidAnchors = anchorInfo(now).filter((a) => a.status !== 'valid');
    throw new JoinServiceError(
      ErrorCode.AttestationRejected,
      `verifying attestation key certificate: ${err.message}${anchorNote(invalidAnchors, roots.certificates.length)}`,
      {
        variant: 'azure-trustedlaunch',
        failure: err.kind,
        ...(invalidAnchors.length > 0 ? { invalidTrustAnchors: invalidAnchors.map((a) => `${a.name} (${a.status} ${a.notAfter})`) } : {}),
      },
      { cause: err },
    );
  }

  let akKey;
  try {
    akKey = akVerificationKey(akPublic);
  } catch (err) {
    throw malformed(`getting public key: ${messageOf(err)}`, err);
  }
  if (akKey.identity.type !== 'rsa') {
    throw new JoinServiceError(ErrorCode.AttestationRejected, 'attestation key is not an RSA key', { variant: 'azure-trustedlaunch' });
  }
  const certKey = akCert.publicKey ? identityFromKeyObject(akCert.publicKey) : undefined;
  if (!certKey || !keyEquals(akKey.identity, certKey)) {
    throw new JoinServiceError(ErrorCode.AttestationRejected, 'certificate public key does not match attestation key', {
      variant: 'azure-trustedlaunch',
    });
  }
  return akCert.parsed.publicKey.raw.slice();
}

/** The operator hint appended when anchors are outside their validity period. */
function anchorNote(invalid: readonly TrustAnchorInfo[], total: number): string {
  if (invalid.length === 0) return '';
  const described = invalid
    .map((a) => {
      const what = a.isDefaultAmeRoot ? `${AME_ROOT_DESCRIPTION}, the default shipped for parity with Constellation` : `"${a.name}" (SHA-256 ${a.sha256})`;
      return a.status === 'expired' ? `${what} expired at ${a.notAfter}` : `${what} is not valid before ${a.notBefore}`;
    })
    .join('; ');
  const scope = invalid.length === total ? 'no configured trust anchor is currently valid' : 'some configured trust anchors are not currently valid';
  return ` [${scope}: ${described}; ${TRUST_ANCHOR_CONFIG_HINT}]`;
}

function validityStatus(cert: ChainCertificate, now: Date): TrustAnchorInfo['status'] {
  const t = now.getTime();
  if (t < cert.parsed.notBefore.ms) return 'not-yet-valid';
  if (t > cert.parsed.notAfter.ms) return 'expired';
  return 'valid';
}

function parseAnchors(ders: readonly Uint8Array[]): ChainCertificate[] {
  if (ders.length === 0) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `azure-trustedlaunch: no trust anchors configured; ${TRUST_ANCHOR_CONFIG_HINT}`);
  }
  return ders.map((der, i) => {
    try {
      return analyseCertificate(der);
    } catch (err) {
      throw new JoinServiceError(ErrorCode.ConfigInvalid, `azure-trustedlaunch: trust anchor ${i}: ${messageOf(err)}`, undefined, { cause: err });
    }
  });
}

/**
 * Turns the proposed config member `trustedRootCertificates` (an array of PEM
 * texts, each holding one or more CERTIFICATE blocks) into DER anchors.
 * Anything that is not a CERTIFICATE block, or a text without one, is a
 * configuration error; certificates are parsed when the policy is built.
 */
export function trustedRootsFromPem(texts: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  texts.forEach((text, i) => {
    const blocks = decodeAllPem(text);
    if (blocks.length === 0) {
      throw new JoinServiceError(ErrorCode.ConfigInvalid, `azure-trustedlaunch: trustedRootCertificates[${i}] contains no PEM block`);
    }
    for (const b of blocks) {
      if (b.type !== 'CERTIFICATE') {
        throw new JoinServiceError(
          ErrorCode.ConfigInvalid,
          `azure-trustedlaunch: trustedRootCertificates[${i}] contains a ${JSON.stringify(b.type)} PEM block, expected CERTIFICATE`,
        );
      }
      out.push(new Uint8Array(b.bytes));
    }
  });
  return out;
}

function malformed(message: string, cause: unknown): JoinServiceError {
  return new JoinServiceError(ErrorCode.AttestationMalformed, message, { variant: 'azure-trustedlaunch' }, { cause });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

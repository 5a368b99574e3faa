/**
 * The shared model of Constellation's vTPM attestation document
 * (tpm-attestation.md §2) and of what its verification yields (§6.1). The
 * envelope decoder produces these; the quote verifier, the event-log
 * processor, the measurement comparison and the variants consume them.
 */

/** TPM_ALG_ID values of the PCR banks (tpm-attestation.md §4.1). */
export const TpmAlg = {
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
} as const;

/** One quote's PCR values (`tpm.PCRs`): bank hash and index → value. */
export interface QuotedPcrs {
  /** Bank hash as TPM_ALG_ID (0 when absent). */
  hash: number;
  /** PCR index → value, as decoded from the document (indices are uint32). */
  pcrs: Map<number, Uint8Array>;
}

/** One quote (`tpm.Quote`). */
export interface TpmQuote {
  /** TPMS_ATTEST bytes (no TPM2B size prefix). */
  quote: Uint8Array;
  /** TPMT_SIGNATURE bytes. */
  rawSig: Uint8Array;
  /** The quoted bank's PCR values; null when the document has no `pcrs` member. */
  pcrs: QuotedPcrs | null;
}

/** go-tpm-tools `attest.Attestation`, the members Constellation's validation reads. */
export interface TpmAttestation {
  /** TPMT_PUBLIC of the attestation key (no TPM2B size prefix). */
  akPub: Uint8Array;
  quotes: TpmQuote[];
  /** Raw TCG event log; empty when absent. */
  eventLog: Uint8Array;
  /** DER AK certificate (gcp-sev-es usually, azure-trustedlaunch); empty when absent. */
  akCert: Uint8Array;
  /** DER intermediates (unused by the TPM-only variants); empty when absent. */
  intermediateCerts: Uint8Array[];
  /** Which TeeAttestation form the document carried (content is not evaluated by the TPM-only variants). */
  teeAttestation: 'null' | 'absent' | 'sev-snp' | 'tdx' | 'empty';
  /** `instance_info` (never set by Constellation issuers, not evaluated); absent when the document has no such member. */
  gceInstanceInfo?: GceInstanceInfo;
  /** `canonical_event_log` (never set by Constellation issuers, not evaluated); absent when the document has no such member. */
  canonicalEventLog?: Uint8Array;
}

/** go-tpm-tools `attest.GCEInstanceInfo`; Go zero values (`''`, `0n`) stand for omitted members. */
export interface GceInstanceInfo {
  zone: string;
  projectId: string;
  projectNumber: bigint;
  instanceName: string;
  instanceId: bigint;
}

/** The decoded envelope (`AttestationDocument`). */
export interface VtpmDocument {
  attestation: TpmAttestation;
  /** Variant-specific instance info as carried (hashed exactly as these bytes); null when `null`. */
  instanceInfo: Uint8Array | null;
  /** The aTLS user data; null when `null`. */
  userData: Uint8Array | null;
}

/** GCE confidential technology from the Non-Host-Info event (tpm-attestation.md §6.1). */
export const GceTechnology = { NONE: 0, AMD_SEV: 1, AMD_SEV_ES: 2, INTEL_TDX: 3, AMD_SEV_SNP: 4 } as const;

/** What event-log processing derives for the accepted quote (the parts Constellation reads, §6.1). */
export interface MachineState {
  /** Bank hash of the accepted quote. */
  hash: number;
  platform: {
    /** From the S-CRTM version event when it is GCE's; undefined otherwise. */
    gceVersion?: number;
    /** Raw S-CRTM version id (empty when the log has none). */
    scrtmVersionId: Uint8Array;
    /** GceTechnology value (0 when absent). */
    technology: number;
  };
  secureBoot: { enabled: boolean };
  /** Number of replay-verified events (for inspection). */
  verifiedEvents: number;
}

/**
 * Event-log processing for one candidate quote (tpm-attestation.md §7):
 * parse, replay against the quote's PCRs of bank `bank`, derive the
 * MachineState. Throws an Error with Go's text on any failure; an empty log
 * yields the trivial state (§7.1).
 */
export type EventLogProcessor = (eventLog: Uint8Array, bank: number, pcrs: Map<number, Uint8Array>) => MachineState;

/**
 * A variant's trust decisions around the common vTPM pipeline
 * (tpm-attestation.md §8, §11): which attestation key it trusts and what it
 * checks about the confidential VM. Implementations may use the network
 * (GCP, AWS) and must bound their calls in time.
 */
export interface VtpmVariantPolicy {
  /**
   * The AK public key (SubjectPublicKeyInfo DER) the document's `ak_pub` must
   * equal, or 'document' to trust the document's own AK (qemu-vtpm, aws-nitro-tpm).
   * Throws with Go's text (prefixed by the caller with "validating attestation public key: ").
   */
  trustedAk(doc: VtpmDocument, extraData: Uint8Array): Promise<Uint8Array | 'document'>;
  /** Throws with Go's text (prefixed by the caller with "verifying VM confidential computing capabilities: "). */
  cvmCheck(doc: VtpmDocument, state: MachineState): Promise<void>;
}

/**
 * A software TPM issuer: produces qemu-vtpm attestation documents
 * (tpm-attestation.md §2, §3, §11.1, §12) without a TPM, for `joinservice dev`,
 * benchmarks and tests. It holds an AK (RSA-2048/RSASSA-SHA256 or ECC
 * P-256/ECDSA-SHA256, owner-hierarchy primary like go-tpm-tools'
 * AttestationKeyRSA/ECC) and PCR banks, and for every document signs one
 * TPM2_Quote per bank over all 24 PCRs with qualifyingData = tpmNonce,
 * exactly as a node's go-tpm-tools `Key.Attest` against swtpm would.
 *
 * Per document only the TPMS_ATTEST (nonce and clock) is built and signed;
 * AK public area, qualified name, selections and PCR digests are cached.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TpmAttestation, TpmQuote, VtpmDocument } from '../types.js';
import { TpmAlg } from '../types.js';
import { deriveEccKey, deriveRsaKey } from './deterministic-keys.js';
import { DEFAULT_BOOT_EVENTS, PCR_COUNT, PcrBanks, type PcrEvent } from './pcr-banks.js';
import {
  BANKS,
  bankName,
  encodeAkPublic,
  encodeEcdsaP1363Signature,
  encodePcrSelection,
  encodeQuoteAttest,
  encodeRsassaSignature,
  primaryQualifiedName,
  quotePcrDigest,
  type BankName,
  type ClockInfo,
} from './tpm-structures.js';

export type AkType = 'rsa' | 'ecc';

/** PCR values of one bank: index → value (bytes or hex). */
export type PcrValueInput = Map<number, Uint8Array | string> | Readonly<Record<number, Uint8Array | string>>;

export interface SoftwareTpmIssuerOptions {
  akType: AkType;
  /** The AK private key (RSA-2048 or ECC P-256 matching akType); default: derived from `seed`, else freshly generated. */
  akPrivateKey?: KeyObject;
  /** Seed (UTF-8 when a string) for a reproducible AK and reproducible obfuscated TPM counters. */
  seed?: Uint8Array | string;
  /** Allocated PCR banks in the order the TPM reports them (one quote each); default sha1, sha256. */
  banks?: readonly BankName[];
  /** Measurements extended into every bank from the reset values; default DEFAULT_BOOT_EVENTS. */
  events?: readonly PcrEvent[];
  /** Explicit PCR values per bank, applied after `events`. */
  pcrs?: Partial<Record<BankName, PcrValueInput>>;
  /** TPMS_CLOCK_INFO.clock in milliseconds; default: a start value plus the milliseconds since construction. */
  clock?: () => bigint;
}

/** The PCR indices the qemu-vtpm (QEMU) measurements enforce (tpm-attestation.md §9.3). */
export const QEMU_VTPM_MEASUREMENT_INDICES: readonly number[] = [4, 8, 9, 11, 12, 13, 15];

/** extraData = SHA-256(userData ‖ nonce); tpmNonce = SHA-256(instanceInfo ‖ extraData) (tpm-attestation.md §3). */
export function tpmNonceFor(userData: Uint8Array | null, nonce: Uint8Array, instanceInfo: Uint8Array | null = null): Uint8Array {
  const extraData = createHash('sha256')
    .update(userData ?? new Uint8Array(0))
    .update(nonce)
    .digest();
  return new Uint8Array(
    createHash('sha256')
      .update(instanceInfo ?? new Uint8Array(0))
      .update(extraData)
      .digest(),
  );
}

interface BankCache {
  alg: number;
  selection: Uint8Array;
  pcrDigest: Uint8Array;
  pcrs: Map<number, Uint8Array>;
}

export class SoftwareTpmIssuer {
  readonly akType: AkType;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly akPub: Uint8Array;
  private readonly qualifiedSigner: Uint8Array;
  private readonly banks: PcrBanks;
  private bankCache: BankCache[] | null = null;
  private readonly clock: () => bigint;
  private readonly resetCount: number;
  private readonly restartCount: number;
  private readonly firmwareVersion: bigint;

  constructor(o: SoftwareTpmIssuerOptions) {
    if (o.akType !== 'rsa' && o.akType !== 'ecc') throw new Error(`unknown AK type ${JSON.stringify(o.akType)}`);
    this.akType = o.akType;
    const seed = o.seed === undefined ? undefined : typeof o.seed === 'string' ? new TextEncoder().encode(o.seed) : o.seed;
    this.privateKey = o.akPrivateKey ?? generateAk(o.akType, seed);
    const expectedType = o.akType === 'rsa' ? 'rsa' : 'ec';
    if (this.privateKey.type !== 'private' || this.privateKey.asymmetricKeyType !== expectedType) {
      throw new Error(`the AK private key must be a private ${expectedType} key`);
    }
    this.publicKey = createPublicKey(this.privateKey);
    this.akPub = encodeAkPublic(this.publicKey);
    this.qualifiedSigner = primaryQualifiedName(this.akPub);

    const bankList = o.banks ?? ['sha1', 'sha256'];
    if (bankList.length === 0 || new Set(bankList).size !== bankList.length) throw new Error('banks must be distinct and not empty');
    this.banks = new PcrBanks(bankList.map((b) => bankName(b)));
    for (const e of o.events ?? DEFAULT_BOOT_EVENTS) this.banks.event(e.pcr, e.data);
    for (const [bank, values] of Object.entries(o.pcrs ?? {}) as [BankName, PcrValueInput][]) {
      const entries = values instanceof Map ? [...values] : Object.entries(values).map(([k, v]) => [Number(k), v] as const);
      for (const [i, v] of entries) this.banks.set(bank, i, typeof v === 'string' ? Buffer.from(v, 'hex') : v);
    }

    // Counters a TPM obfuscates for owner-hierarchy keys: fixed per TPM instance.
    const counters = seed ? createHash('sha256').update('software-tpm counters').update(seed).digest() : randomBytes(32);
    this.resetCount = counters.readUInt32BE(0);
    this.restartCount = counters.readUInt32BE(4);
    this.firmwareVersion = counters.readBigUInt64BE(8);
    const clockStart = BigInt(counters.readUInt32BE(16) % 3_600_000) + 10_000n;
    const t0 = performance.now();
    this.clock = o.clock ?? (() => clockStart + BigInt(Math.floor(performance.now() - t0)));
  }

  /** The AK's TPMT_PUBLIC (`ak_pub`). */
  akPublic(): Uint8Array {
    return new Uint8Array(this.akPub);
  }

  /** The AK public key (what a verifier derives from `ak_pub`). */
  akPublicKey(): KeyObject {
    return this.publicKey;
  }

  /** TPMS_ATTEST.qualifiedSigner: the AK's qualified name as an owner-hierarchy primary. */
  akQualifiedName(): Uint8Array {
    return new Uint8Array(this.qualifiedSigner);
  }

  /** The allocated banks in reporting order. */
  bankNames(): readonly BankName[] {
    return this.banks.banks;
  }

  /** Current values of a bank, index → value (copies). */
  pcrValues(bank: BankName | number): Map<number, Uint8Array> {
    return this.banks.map(bank);
  }

  /** TPM2_PCR_Event: every bank's PCR := H(PCR ‖ H(data)) (e.g. PCR 15 with the cluster ID after bootstrapping, §12.4). */
  pcrEvent(pcr: number, data: Uint8Array | string): void {
    this.banks.event(pcr, data);
    this.bankCache = null;
  }

  /** Sets one PCR of one bank. */
  setPcr(bank: BankName | number, pcr: number, value: Uint8Array): void {
    this.banks.set(bank, pcr, value);
    this.bankCache = null;
  }

  private cachedBanks(): BankCache[] {
    if (this.bankCache) return this.bankCache;
    const all = Array.from({ length: PCR_COUNT }, (_, i) => i);
    this.bankCache = this.banks.banks.map((bank) => ({
      alg: BANKS[bank].alg,
      selection: encodePcrSelection(BANKS[bank].alg, all),
      // The digest is computed with the signing scheme's hash (SHA-256), whatever the bank.
      pcrDigest: quotePcrDigest(this.banks.list(bank), 'sha256'),
      pcrs: this.banks.map(bank),
    }));
    return this.bankCache;
  }

  private clockInfo(): ClockInfo {
    return { clock: this.clock(), resetCount: this.resetCount, restartCount: this.restartCount, safe: true };
  }

  private signAttest(attest: Uint8Array): Uint8Array {
    if (this.akType === 'rsa') return encodeRsassaSignature(TpmAlg.SHA256, sign('sha256', attest, this.privateKey));
    return encodeEcdsaP1363Signature(TpmAlg.SHA256, sign('sha256', attest, { key: this.privateKey, dsaEncoding: 'ieee-p1363' }));
  }

  /** One TPM2_Quote per bank with qualifyingData = `tpmNonce`, as go-tpm-tools `Key.Attest` returns them. */
  quotes(tpmNonce: Uint8Array): TpmQuote[] {
    return this.cachedBanks().map((b) => {
      const quote = encodeQuoteAttest({
        qualifiedSigner: this.qualifiedSigner,
        extraData: tpmNonce,
        clockInfo: this.clockInfo(),
        firmwareVersion: this.firmwareVersion,
        pcrSelection: b.selection,
        pcrDigest: b.pcrDigest,
      });
      const pcrs = new Map<number, Uint8Array>();
      for (const [i, v] of b.pcrs) pcrs.set(i, new Uint8Array(v));
      return { quote, rawSig: this.signAttest(quote), pcrs: { hash: b.alg, pcrs } };
    });
  }

  /** go-tpm-tools `attest.Attestation` for `tpmNonce` (no event log, no certificates, TeeAttestation null). */
  attest(tpmNonce: Uint8Array): TpmAttestation {
    return {
      akPub: this.akPublic(),
      quotes: this.quotes(tpmNonce),
      eventLog: new Uint8Array(0),
      akCert: new Uint8Array(0),
      intermediateCerts: [],
      teeAttestation: 'null',
    };
  }

  /**
   * The attestation document for `userData` and the aTLS `nonce` (Constellation
   * `vtpm.Issuer.Issue`, §12.1). qemu-vtpm's issuer has no instance info
   * (null); other variants' instance-info bytes can be passed to bind them.
   */
  issue(userData: Uint8Array, nonce: Uint8Array, instanceInfo: Uint8Array | null = null): VtpmDocument {
    return {
      attestation: this.attest(tpmNonceFor(userData, nonce, instanceInfo)),
      instanceInfo: instanceInfo === null ? null : new Uint8Array(instanceInfo),
      userData: new Uint8Array(userData),
    };
  }
}

function generateAk(akType: AkType, seed: Uint8Array | undefined): KeyObject {
  if (seed) return akType === 'rsa' ? deriveRsaKey(seed) : deriveEccKey(seed);
  if (akType === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 }).privateKey;
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** Anything that can report SHA-256 PCR values (a SoftwareTpmIssuer, or a swtpm test helper's values). */
export interface PcrSource {
  pcrValues(bank: 'sha256'): Map<number, Uint8Array>;
}

/**
 * The attestation config (`/var/config/attestationConfig`, §9.2) that accepts
 * `source`'s SHA-256 PCR values at `indices` (default: qemu-vtpm's 4, 8, 9,
 * 11, 12, 13, 15), all enforced, rendered as Go's encoding/json writes it
 * (keys sorted as strings, lowercase hex).
 */
export function devAttestationConfig(source: PcrSource, indices: readonly number[] = QEMU_VTPM_MEASUREMENT_INDICES): string {
  const values = source.pcrValues('sha256');
  const keys = [...new Set(indices)].map(String).sort();
  const members = keys.map((k) => {
    const v = values.get(Number(k));
    if (!v) throw new Error(`no SHA-256 value for PCR ${k}`);
    return `${JSON.stringify(k)}:{"expected":"${Buffer.from(v).toString('hex')}","warnOnly":false}`;
  });
  return `{"measurements":{${members.join(',')}}}`;
}

/** The dev attestation config for any issuer with the default banks and events (the values do not depend on the AK). */
export function defaultDevAttestationConfig(): string {
  const banks = new PcrBanks(['sha256']);
  for (const e of DEFAULT_BOOT_EVENTS) banks.event(e.pcr, e.data);
  return devAttestationConfig({ pcrValues: () => banks.map('sha256') });
}

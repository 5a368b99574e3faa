/**
 * VerifyAttestation as Constellation calls it (tpm-attestation.md §6, §8) plus
 * the steering decision on GAP G1 (§14): the SHA-256 quote whose PCR values
 * are compared against the measurements must itself pass the full per-quote
 * verification (§5 + event log §7 + not SHA-1).
 *
 * - `goVerifyAttestation` mirrors go-tpm-tools `server.VerifyAttestation`
 *   (TrustedAKs mode, AllowSHA1 false, no HashNonce) with Go's texts: AK
 *   decode/derive/trust, then the candidate loop SHA-512, SHA-384, SHA-256,
 *   SHA-1 (first quote per bank), remembering the last error.
 * - `verifyTpmAttestation` is what the vTPM validators call: Constellation's
 *   trusted-key step for the variants that trust the document's own AK
 *   ('any': qemu-vtpm, aws-nitro-tpm), Validate step 5 (Go's loop, for the
 *   MachineState and error parity), step 7 (GetSHA256QuoteIndex) and the G1
 *   rule. Messages carry Validate's prefixes, so they are final.
 */
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import type { EventLogProcessor, MachineState, TpmAttestation, TpmQuote, VtpmDocument } from '../types.js';
import { Alg, toAlg } from './tpm-alg.js';
import { wrapError } from './tpm-reader.js';
import { keyEquals, loadAk, type AkVerificationKey, type PublicKeyIdentity } from './tpmt-public.js';
import { verifyQuote } from './verify-quote.js';

/** A trusted attestation key as the variant's trusted-key step yields it. */
export type TrustedAk = PublicKeyIdentity;

/** go-tpm-tools' bank preference (SignatureHashAlgs followed by SHA-1). */
export const BANK_PREFERENCE: readonly number[] = [Alg.SHA512, Alg.SHA384, Alg.SHA256, Alg.SHA1];

const MACHINE_STATE_PREFIX = 'failed to parse machine state from TCG event log';
const PCCLIENT_PREFIX = 'failed to validate the PCClient event log';
const SHA1_NOT_ALLOWED = 'SHA-1 is not allowed for verification (set VerifyOpts.AllowSHA1 to true to allow)';

export interface GoVerifyOptions {
  /** VerifyOpts.Nonce (= tpmNonce). */
  nonce: Uint8Array;
  /** VerifyOpts.TrustedAKs. */
  trustedAks: readonly TrustedAk[];
  processEventLog: EventLogProcessor;
}

export interface GoVerifyResult {
  machineState: MachineState;
  /** The candidate quote that was accepted. */
  quote: TpmQuote;
  /** The attestation key the quotes were verified with. */
  ak: AkVerificationKey;
}

/** go-tpm-tools supportedQuotes: the first quote per bank, in preference order (bank compared as tpm2.Algorithm). */
export function supportedQuotes(quotes: readonly (TpmQuote | null)[]): { bank: number; quote: TpmQuote }[] {
  const out: { bank: number; quote: TpmQuote }[] = [];
  for (const bank of BANK_PREFERENCE) {
    for (const q of quotes) {
      if (q && toAlg(q.pcrs?.hash ?? 0) === bank) {
        out.push({ bank, quote: q });
        break;
      }
    }
  }
  return out;
}

/** §6 step 4.2: the event log against one quote; errors get go-tpm-tools' two prefixes. */
function machineStateFor(processEventLog: EventLogProcessor, eventLog: Uint8Array, bank: number, quote: TpmQuote): MachineState {
  try {
    return processEventLog(eventLog, bank, quote.pcrs?.pcrs ?? new Map<number, Uint8Array>());
  } catch (err) {
    const inner = err instanceof Error ? err.message : String(err);
    const code = err instanceof JoinServiceError ? err.code : ErrorCode.AttestationRejected;
    // Tolerate a processor that already added go-tpm-tools' wrapping.
    const message = inner.startsWith(`${MACHINE_STATE_PREFIX}: `)
      ? inner
      : `${MACHINE_STATE_PREFIX}: ${inner.startsWith(`${PCCLIENT_PREFIX}: `) ? inner : `${PCCLIENT_PREFIX}: ${inner}`}`;
    throw new JoinServiceError(code, message, undefined, { cause: err });
  }
}

/**
 * The full per-quote pipeline of the candidate loop (§6 steps 4.1–4.3) for
 * one quote: verify it, process the event log against it, refuse SHA-1.
 */
function verifyCandidate(a: TpmAttestation, ak: AkVerificationKey, bank: number, quote: TpmQuote, o: GoVerifyOptions): MachineState {
  try {
    verifyQuote(quote, ak, o.nonce);
  } catch (err) {
    throw wrapError('failed to verify quote', err);
  }
  const state = machineStateFor(o.processEventLog, a.eventLog, bank, quote);
  if (bank === Alg.SHA1) throw new JoinServiceError(ErrorCode.AttestationRejected, SHA1_NOT_ALLOWED);
  return state;
}

/** go-tpm-tools validateAK in TrustedAKs mode (`ak_cert` and intermediates are ignored). */
function validateAk(a: TpmAttestation, trustedAks: readonly TrustedAk[]): AkVerificationKey {
  let ak: AkVerificationKey;
  try {
    ak = loadAk(a.akPub);
  } catch (err) {
    const stage = err instanceof JoinServiceError ? err.details?.akStage : undefined;
    throw wrapError(stage === 'key' ? 'failed to get AK public key' : 'failed to decode AK public area', err);
  }
  if (!trustedAks.some((t) => keyEquals(ak.identity, t))) {
    throw new JoinServiceError(ErrorCode.AttestationRejected, 'failed to validate AK public key: key not trusted');
  }
  return ak;
}

/**
 * go-tpm-tools `server.VerifyAttestation` as Constellation configures it.
 * Throws JoinServiceError with Go's text (without Validate's
 * "verifying attestation document: " prefix).
 */
export function goVerifyAttestation(a: TpmAttestation, o: GoVerifyOptions): GoVerifyResult {
  if (o.trustedAks.length === 0) {
    throw new JoinServiceError(ErrorCode.AttestationRejected, 'bad options: no trust mechanism provided, either use TrustedAKs or TrustedRootCerts');
  }
  let ak: AkVerificationKey;
  try {
    ak = validateAk(a, o.trustedAks);
  } catch (err) {
    throw wrapError('failed to parse and validate AK', err);
  }
  return candidateLoop(a, ak, o);
}

/** VerifyAttestation after validateAK: the candidate loop with last-error semantics. */
function candidateLoop(a: TpmAttestation, ak: AkVerificationKey, o: GoVerifyOptions): GoVerifyResult {
  let lastErr: unknown;
  for (const { bank, quote } of supportedQuotes(a.quotes)) {
    try {
      return { machineState: verifyCandidate(a, ak, bank, quote, o), quote, ak };
    } catch (err) {
      lastErr = err;
    }
  }
  if (lastErr !== undefined) throw lastErr;
  throw new JoinServiceError(ErrorCode.AttestationRejected, 'attestation does not contain a supported quote');
}

/** Constellation's GetSHA256QuoteIndex (its errors are returned unwrapped by Validate). */
export function selectSha256Quote(quotes: readonly (TpmQuote | null)[]): TpmQuote {
  const fail = (message: string) => new JoinServiceError(ErrorCode.AttestationRejected, message, { stage: 'select-sha256-quote' });
  if (quotes.length === 0) throw fail('attestation is missing quotes');
  for (const q of quotes) {
    if (q === null || q === undefined) throw fail('quote is nil');
    if (q.pcrs === null) throw fail('no PCR data in attestation');
    if (q.pcrs.hash === Alg.SHA256) return q;
  }
  throw fail('attestation did not include SHA256 hashed PCRs');
}

export interface VerifyTpmAttestationOptions {
  /** SHA-256(InstanceInfo ‖ extraData), see nonceBinding. */
  tpmNonce: Uint8Array;
  /** The variant's trusted AK, or 'any' for the variants that trust the document's own AK (qemu-vtpm, aws-nitro-tpm). */
  trustedAk: TrustedAk | 'any';
  processEventLog: EventLogProcessor;
}

const VERIFYING = 'verifying attestation document';

function staged(err: unknown, prefix: string, stage: string): JoinServiceError {
  const e = wrapError(prefix, err);
  return new JoinServiceError(e.code, e.message, { ...e.details, stage }, { cause: err });
}

/**
 * Validate steps 3 ('any' only), 5 and 7 plus the G1 rule. Returns Go's
 * MachineState (for the CVM check) and the SHA-256 quote whose `pcrs` are to
 * be compared with the measurements. Throws JoinServiceError whose message is
 * the final Validate text: "validating attestation public key: …" (stage
 * 'trusted-key'), "verifying attestation document: …" (stage 'verify' for Go's
 * loop, 'verify-sha256-quote' for the G1 rule — Go has no such error) or
 * GetSHA256QuoteIndex's unwrapped text (stage 'select-sha256-quote').
 *
 * Go runs the CVM check between steps 5 and 7; a caller doing it afterwards
 * sees a different text only when both fail.
 */
export function verifyTpmAttestation(
  doc: VtpmDocument,
  o: VerifyTpmAttestationOptions,
): { machineState: MachineState; sha256Quote: TpmQuote } {
  const a = doc.attestation;
  let ownAk: AkVerificationKey | undefined;
  if (o.trustedAk === 'any') {
    // Constellation's unconditionalTrust / getTrustedKey: DecodePublic + Key() of ak_pub itself.
    try {
      ownAk = loadAk(a.akPub);
    } catch (err) {
      throw staged(err, 'validating attestation public key', 'trusted-key');
    }
  }
  const trusted = ownAk ? ownAk.identity : (o.trustedAk as TrustedAk);
  const opts: GoVerifyOptions = { nonce: o.tpmNonce, trustedAks: [trusted], processEventLog: o.processEventLog };
  let result: GoVerifyResult;
  try {
    // With 'any', Go's validateAK decodes the same ak_pub again and finds it equal to itself.
    result = ownAk ? candidateLoop(a, ownAk, opts) : goVerifyAttestation(a, opts);
  } catch (err) {
    throw staged(err, VERIFYING, 'verify');
  }
  const sha256Quote = selectSha256Quote(a.quotes);
  if (sha256Quote !== result.quote) {
    // G1: Go's loop accepted another quote (SHA-512/384, or a bank that only truncates to SHA-256).
    try {
      verifyCandidate(a, result.ak, Alg.SHA256, sha256Quote, opts);
    } catch (err) {
      throw staged(err, `${VERIFYING}: verifying the SHA-256 quote used for the measurements`, 'verify-sha256-quote');
    }
  }
  return { machineState: result.machineState, sha256Quote };
}

/**
 * Event log replay against one quote's PCR values (tpm-attestation.md §7.3),
 * mirroring go-attestation v0.5.1 `EventLog.Verify` for a single bank:
 *
 * - only the PCR indices present in the quote are replayed; the events of
 *   other PCRs are dropped;
 * - EV_NO_ACTION events are skipped; a 17-byte PCR-0 `StartupLocality…`
 *   event sets the initial locality byte;
 * - every other event must carry a digest of the bank's class (the first
 *   one counts) of the PCR value's length;
 * - a PCR without events always replays, whatever its value.
 *
 * Omitted: go-attestation's PCR-5 "Exit Boot Services" workaround logs. Each
 * injects a PCR-5 event whose digest is H_B("Exit Boot Services Invocation")
 * with event type 0, which the EFI-state derivation (§7.4.3) always rejects,
 * so the outcome is the same rejection; only the error text differs (the
 * replay error here instead of "PCR5 contains ExitBootServices event but non
 * EFIAction type: 0").
 *
 * Go lists the failing registers in map order (random); we sort them.
 */
import { createHash } from 'node:crypto';
import { GoParseError } from './binary-reader.js';
import { EV_NO_ACTION, type DigestClass, type RawEvent } from './parse-event-log.js';

/** Node hash names of the banks the event log code supports (go-tpm `Algorithm.Hash`). */
export type BankHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface VerifiedEvent {
  sequence: number;
  index: number;
  type: number;
  data: Uint8Array;
  /** The digest of the bank's class that was extended into the PCR. */
  digest: Uint8Array;
}

const DIGEST_SIZE: Readonly<Record<BankHash, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** The digest class go-attestation can match to a bank (none for SHA-384/512). */
function bankClass(bank: BankHash): DigestClass | undefined {
  return bank === 'sha1' || bank === 'sha256' ? bank : undefined;
}

function isStartupLocality(e: RawEvent): boolean {
  return e.index === 0 && e.data.length === 17 && Buffer.from(e.data.buffer, e.data.byteOffset, 15).toString('latin1') === 'StartupLocality';
}

/** Replays one PCR; returns whether it matches. */
function replayPcr(events: readonly RawEvent[], bank: BankHash, value: Uint8Array): boolean {
  const cls = bankClass(bank);
  let locality = 0;
  let acc: Uint8Array | undefined;
  for (const e of events) {
    if (e.type === EV_NO_ACTION) {
      if (isStartupLocality(e)) locality = e.data[16] as number;
      continue;
    }
    const digest = cls === undefined ? undefined : e[cls];
    if (digest === undefined || digest.length !== value.length) return false;
    let start = acc;
    if (start === undefined) {
      start = new Uint8Array(DIGEST_SIZE[bank]);
      start[start.length - 1] = locality;
    }
    acc = createHash(bank).update(start).update(digest).digest();
  }
  return acc === undefined || Buffer.from(acc).equals(value);
}

/**
 * Replays `events` against `pcrs` (index → value) of bank `bank`. Returns the
 * verified events (those of the replayed PCRs, without EV_NO_ACTION, in log
 * order) or throws GoParseError with go-attestation's ReplayError text.
 */
export function replayEventLog(events: readonly RawEvent[], bank: BankHash, pcrs: ReadonlyMap<number, Uint8Array>): VerifiedEvent[] {
  const byIndex = new Map<number, RawEvent[]>();
  for (const e of events) {
    if (!pcrs.has(e.index)) continue;
    let list = byIndex.get(e.index);
    if (!list) byIndex.set(e.index, (list = []));
    list.push(e);
  }
  const failed: number[] = [];
  for (const [index, value] of pcrs) {
    if (!replayPcr(byIndex.get(index) ?? [], bank, value)) failed.push(index);
  }
  if (failed.length > 0) {
    failed.sort((a, b) => a - b);
    throw new GoParseError(`event log failed to verify: the following registers failed to replay: [${failed.join(' ')}]`);
  }
  const cls = bankClass(bank);
  const verified: VerifiedEvent[] = [];
  for (const e of events) {
    if (e.type === EV_NO_ACTION || !pcrs.has(e.index)) continue;
    // Replay succeeded, so every such event has a digest of the bank's class.
    const digest = cls === undefined ? undefined : e[cls];
    if (digest === undefined) continue;
    verified.push({ sequence: e.sequence, index: e.index, type: e.type, data: e.data, digest });
  }
  return verified;
}

/**
 * TCG firmware event log processing for one candidate quote
 * (tpm-attestation.md §7): go-tpm-tools v0.4.6 `parseMachineStateFromTPM`
 * → `parsePCClientEventLog` with Constellation's VerifyOpts.
 *
 * Error texts: the thrown message is exactly what Go's
 * `parseMachineStateFromTPM` returns, i.e. it starts with
 * "failed to validate the PCClient event log: " followed by go-tpm-tools'
 * GroupedError text (prefix "" for a parse/replay failure, giving
 * "…event log: \nfailed to parse event log: …"; prefix
 * "failed to fully parse MachineState:" for derivation failures, one line per
 * error). VerifyAttestation's loop adds
 * "failed to parse machine state from TCG event log: " (EVENT_LOG_ERROR_PREFIX)
 * — that is the caller's job.
 */
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { TpmAlg, type EventLogProcessor, type MachineState } from '../types.js';
import { GoParseError } from './binary-reader.js';
import { emptySecureBootState, getEfiState, getPlatformState, getSecureBootState, toStateEvents, type EfiState, type SecureBootState, type StateEvent } from './machine-state.js';
import { parseEventLog, type RawEvent } from './parse-event-log.js';
import { replayEventLog, type BankHash, type VerifiedEvent } from './replay.js';

export { MAX_EVENT_DATA_BYTES, MAX_EVENT_LOG_BYTES, MAX_EVENTS } from './parse-event-log.js';

/** What VerifyAttestation puts in front of this processor's error text. */
export const EVENT_LOG_ERROR_PREFIX = 'failed to parse machine state from TCG event log: ';

/** MachineState plus what go-tpm-tools derives beyond the fields Constellation reads (§6.1). */
export interface ExtendedMachineState extends MachineState {
  secureBoot: SecureBootState;
  /** Present only if an ExitBootServices event was seen (go-tpm-tools EfiState). */
  efi?: EfiState;
  /** The replay-verified events (go-tpm-tools raw_events). */
  rawEvents: StateEvent[];
}

const BANKS: ReadonlyMap<number, BankHash> = new Map([
  [TpmAlg.SHA1, 'sha1'],
  [TpmAlg.SHA256, 'sha256'],
  [TpmAlg.SHA384, 'sha384'],
  [TpmAlg.SHA512, 'sha512'],
]);

const PREFIX = 'failed to validate the PCClient event log: ';

function fail(groupPrefix: string, errors: string[]): never {
  throw new JoinServiceError(ErrorCode.AttestationRejected, PREFIX + groupPrefix + errors.map((e) => `\n${e}`).join(''), {
    stage: 'event-log',
    errors,
  });
}

function goText(err: unknown): string {
  if (err instanceof GoParseError) return err.message;
  throw err; // a bug, not a verdict on the log
}

function trivialState(bank: number): ExtendedMachineState {
  return { hash: bank, platform: { scrtmVersionId: new Uint8Array(0), technology: 0 }, secureBoot: emptySecureBootState(), rawEvents: [], verifiedEvents: 0 };
}

export function processEventLogExtended(eventLog: Uint8Array, bank: number, pcrs: ReadonlyMap<number, Uint8Array>): ExtendedMachineState {
  if (eventLog.length === 0) return trivialState(bank); // §7.1: no parsing, no replay
  const hash = BANKS.get(bank);
  if (hash === undefined) fail('', [`received bad PCR proto: hash algorithm not supported: 0x${bank.toString(16)}`]);

  let parsed: RawEvent[];
  try {
    parsed = parseEventLog(eventLog).events;
  } catch (err) {
    fail('', [`failed to parse event log: ${goText(err)}`]);
  }
  let verified: VerifiedEvent[];
  try {
    verified = replayEventLog(parsed, hash, pcrs);
  } catch (err) {
    fail('', [`failed to replay event log: ${goText(err)}`]);
  }

  const rawEvents = toStateEvents(hash, verified);
  const errors: string[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      errors.push(goText(err));
      return undefined;
    }
  };
  const platform = attempt(() => getPlatformState(hash, rawEvents));
  const secureBoot = attempt(() => getSecureBootState(verified));
  const efi = attempt(() => getEfiState(hash, rawEvents));
  if (errors.length > 0 || !platform || !secureBoot) fail('failed to fully parse MachineState:', errors);

  return { hash: bank, platform, secureBoot, ...(efi ? { efi } : {}), rawEvents, verifiedEvents: rawEvents.length };
}

/**
 * The EventLogProcessor (types.ts): parse, replay against `pcrs` of bank
 * `bank`, derive the MachineState; an empty log yields the trivial state.
 * Throws JoinServiceError(AttestationRejected) with Go's text (see above);
 * details.errors lists the grouped errors.
 */
export const processEventLog: EventLogProcessor = (eventLog, bank, pcrs) => processEventLogExtended(eventLog, bank, pcrs);

/**
 * TCG firmware event log parsing (tpm-attestation.md §7.2), mirroring
 * go-attestation v0.5.1 `ParseEventLog`: the first event in the legacy SHA-1
 * layout; a Spec ID event (EV_NO_ACTION with at least 28 bytes of data)
 * switches to the crypto-agile layout, anything else makes the whole log a
 * legacy SHA-1 log. Error texts are go-attestation's (without the
 * "failed to parse event log: " that go-tpm-tools adds).
 *
 * Bounded (the only deviation from Go, which has no limits): at most
 * MAX_EVENT_LOG_BYTES in total, MAX_EVENT_DATA_BYTES of data per event and
 * MAX_EVENTS events. Honest firmware logs are far smaller (GCE / COS / Ubuntu
 * / RHEL logs: 15–50 KiB, 25–120 events; the largest single event is the dbx
 * variable, ~25 KiB), and the aTLS certificate list that carries the document
 * is itself limited (256 KiB by default). The bound matters for CPU: the
 * derivations parse every X.509 certificate in PCR 7 (~50 µs each), and the
 * log is processed once per candidate quote. Event data and digests are views
 * into the input, never copies, and a declared size is checked against the
 * bytes left before anything is sliced.
 */
import { GoParseError, LeReader, readU32 } from './binary-reader.js';
import { goHex } from './go-format.js';

export const MAX_EVENT_LOG_BYTES = 1024 * 1024;
export const MAX_EVENT_DATA_BYTES = 256 * 1024;
export const MAX_EVENTS = 16384;

export const EV_NO_ACTION = 0x00000003;

/**
 * The digest classes go-attestation can match against a PCR bank: it maps an
 * algorithm id through `HashAlg(uint8(id))`, so only ids whose low byte is
 * 0x04 (SHA-1) or 0x0B (SHA-256) are recognised. Every other digest (SHA-384,
 * SHA-512, SM3, …) is consumed but can never match (§7.2 step 5).
 */
export type DigestClass = 'sha1' | 'sha256';

export interface RawEvent {
  /** go-attestation's order number: legacy logs count from 0, crypto-agile logs from 1 (the Spec ID event is not an event). */
  sequence: number;
  /** PCR index (uint32). */
  index: number;
  /** Untrusted event type (uint32). */
  type: number;
  data: Uint8Array;
  /**
   * The first digest of each recognised class, in the event's order. Replay
   * only ever uses the first digest of the bank's class, so later ones and
   * unrecognised ones are consumed and dropped.
   */
  sha1?: Uint8Array;
  sha256?: Uint8Array;
}

export interface SpecIdAlgorithm {
  id: number;
  size: number;
}

export interface ParsedEventLog {
  /** The Spec ID event's algorithms; null for a legacy SHA-1 log. */
  specIdAlgorithms: SpecIdAlgorithm[] | null;
  events: RawEvent[];
}

const SPEC_ID_HEADER_SIZE = 28;
const SPEC_ID_SIGNATURE = Buffer.from('Spec ID Event03\0', 'latin1');
const LEGACY_HEADER_SIZE = 32;
const ALG_SHA1 = 0x0004;
const ALG_SHA256 = 0x000b;

function digestClass(algId: number): DigestClass | undefined {
  switch (algId & 0xff) {
    case ALG_SHA1:
      return 'sha1';
    case ALG_SHA256:
      return 'sha256';
    default:
      return undefined;
  }
}

function limitError(message: string): never {
  throw new GoParseError(message);
}

function checkEventSize(size: number, left: number): void {
  if (size > left) throw new GoParseError(`event data size (${size} bytes) is greater than remaining measurement log (${left} bytes)`);
  if (size > MAX_EVENT_DATA_BYTES) limitError(`event data size (${size} bytes) exceeds the limit of ${MAX_EVENT_DATA_BYTES} bytes`);
}

/** One event in the TPM 1.2 / SHA-1 layout (go-attestation parseRawEvent). */
function parseLegacyEvent(r: LeReader, sequence: number): RawEvent {
  const h = r.bytes(LEGACY_HEADER_SIZE, 'header deserialization error: ');
  const size = readU32(h, 28);
  checkEventSize(size, r.remaining);
  return { sequence, index: readU32(h, 0), type: readU32(h, 4), sha1: h.subarray(8, 28), data: r.bytes(size) };
}

/** Per algorithm id, what go-attestation's digest loop does with it (last matching entry wins, every matching entry's size is checked). */
interface AlgorithmEntry {
  lastSize: number;
  maxSize: number;
}

/** One event in the crypto-agile layout (go-attestation parseRawEvent2). */
function parseAgileEvent(r: LeReader, algs: Map<number, AlgorithmEntry>, sequence: number): RawEvent {
  const h = r.bytes(8);
  const event: RawEvent = { sequence, index: readU32(h, 0), type: readU32(h, 4), data: new Uint8Array(0) };
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const algId = r.u16();
    const entry = algs.get(algId);
    if (entry && r.remaining < entry.maxSize) throw new GoParseError('reading digest: unexpected EOF');
    if (!entry || entry.lastSize === 0) throw new GoParseError(`unknown algorithm ID ${algId.toString(16)}`);
    const digest = r.bytes(entry.lastSize);
    const cls = digestClass(algId);
    if (cls !== undefined && event[cls] === undefined) event[cls] = digest;
  }
  const size = r.u32();
  checkEventSize(size, r.remaining);
  event.data = r.bytes(size);
  return event;
}

/** TCG_EfiSpecIDEventStruct (go-attestation parseSpecIDEvent); texts without "failed to parse spec ID event: ". */
function parseSpecIdEvent(data: Uint8Array): SpecIdAlgorithm[] {
  const r = new LeReader(data);
  const h = r.bytes(SPEC_ID_HEADER_SIZE); // data is at least that long
  const signature = h.subarray(0, 16);
  if (!SPEC_ID_SIGNATURE.equals(signature)) throw new GoParseError(`invalid spec id signature: ${goHex(signature)}`);
  const minor = h[20] as number;
  const major = h[21] as number;
  const hex2 = (n: number) => n.toString(16).padStart(2, '0');
  if (major !== 2) throw new GoParseError(`invalid spec major version, got ${hex2(major)}, wanted 02`);
  // sic: go-attestation prints the major version in the minor-version error.
  if (minor !== 0) throw new GoParseError(`invalid spec minor version, got ${hex2(major)}, wanted 00`);
  const count = readU32(h, 24);
  const algs: SpecIdAlgorithm[] = [];
  for (let i = 0; i < count; i++) {
    const a = r.bytes(4, 'reading algorithm: ');
    algs.push({ id: (a[0] as number) | ((a[1] as number) << 8), size: (a[2] as number) | ((a[3] as number) << 8) });
  }
  const vendorInfoSize = r.u8('reading vender info size: ');
  if (r.remaining !== vendorInfoSize) {
    throw new GoParseError(`reading vendor info, expected ${vendorInfoSize} remaining bytes, got ${r.remaining}`);
  }
  return algs;
}

/**
 * Parses a non-empty event log. Throws GoParseError with go-attestation's text
 * (or a limit text) on any failure.
 */
export function parseEventLog(log: Uint8Array): ParsedEventLog {
  if (log.length > MAX_EVENT_LOG_BYTES) limitError(`event log size (${log.length} bytes) exceeds the limit of ${MAX_EVENT_LOG_BYTES} bytes`);
  const r = new LeReader(log);
  let first: RawEvent;
  try {
    first = parseLegacyEvent(r, 0);
  } catch (err) {
    if (err instanceof GoParseError) throw new GoParseError(`parse first event: ${err.message}`);
    throw err;
  }

  const events: RawEvent[] = [];
  let specIdAlgorithms: SpecIdAlgorithm[] | null = null;
  let algs: Map<number, AlgorithmEntry> | null = null;
  if (first.type === EV_NO_ACTION && first.data.length >= SPEC_ID_HEADER_SIZE) {
    try {
      specIdAlgorithms = parseSpecIdEvent(first.data);
    } catch (err) {
      if (err instanceof GoParseError) throw new GoParseError(`failed to parse spec ID event: ${err.message}`);
      throw err;
    }
    if (!specIdAlgorithms.some((a) => a.id === ALG_SHA1 || a.id === ALG_SHA256)) {
      throw new GoParseError("measurement log didn't use sha1 or sha256 digests");
    }
    algs = new Map();
    for (const a of specIdAlgorithms) {
      const prev = algs.get(a.id);
      algs.set(a.id, { lastSize: a.size, maxSize: Math.max(a.size, prev?.maxSize ?? 0) });
    }
  } else {
    events.push(first);
  }

  let sequence = 1;
  while (r.remaining !== 0) {
    if (events.length >= MAX_EVENTS) limitError(`event log contains more than ${MAX_EVENTS} events`);
    events.push(algs ? parseAgileEvent(r, algs, sequence) : parseLegacyEvent(r, sequence));
    sequence++;
  }
  return { specIdAlgorithms, events };
}

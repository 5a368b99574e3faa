/**
 * Expected measurements: parsing the `measurements` member of the
 * attestation config (tpm-attestation.md §9.2, config-and-operations.md
 * §2.2) with Go's measurements.M.UnmarshalJSON semantics and texts, and the
 * comparison of §9.1.
 *
 * The config is operator input written by the CLI with Go's encoder, so the
 * parser mirrors Go's lenient decoder (case-insensitive member names,
 * duplicates: last wins, `"04"` = 4, unknown members ignored) rather than
 * the strict rules applied to attestation documents; configs Go accepts load
 * here too. One deliberate difference: Go reports the inconsistent-length
 * error for whichever index its random map iteration meets; here the first
 * entry in ascending index order sets the length.
 *
 * Comparison: every enforced mismatch is collected and reported as
 * `PCR[i]: expected <hex>, got <hex>` (`got <missing>` when the quote has no
 * or an empty value), warnOnly mismatches as warnings in the same format.
 * Go's texts (`untrusted measurement value <hex> at index <i>`, `missing
 * measurement value for index <i>`, warnings prefixed `Encountered `) are
 * returned alongside.
 */
import { ErrorCode, JoinServiceError } from '../../../shared/errors.js';
import { GoJsonSyntaxError, parseGoJson, type GoJsonValue } from '../../../shared/go-json/go-json.js';
import { foldGoKey } from '../../../shared/go-json/go-json-decode.js';

export interface Measurement {
  /** Expected value: 32 bytes (vTPM PCRs) or 48 (TDX). */
  expected: Uint8Array;
  /** true: a mismatch is only a warning (Go's WarnOnly); false: enforced. */
  warnOnly: boolean;
}

/** Index (uint32) → expected value. */
export type Measurements = Map<number, Measurement>;

const utf8 = new TextDecoder('utf-8');

function configError(message: string): never {
  throw new JoinServiceError(ErrorCode.ConfigInvalid, message);
}

/** Go's UnmarshalTypeError text. */
function typeError(value: string, goType: string, structField?: string): string {
  return structField === undefined
    ? `json: cannot unmarshal ${value} into Go value of type ${goType}`
    : `json: cannot unmarshal ${value} into Go struct field ${structField} of type ${goType}`;
}

const M_TYPE = 'map[uint32]measurements.Measurement';

/** An error of the kind Go returns from M.UnmarshalJSON; `typeError` marks *json.UnmarshalTypeError (outer decoders add context to those). */
class MeasurementsError extends Error {
  constructor(
    message: string,
    readonly typeErr?: { value: string; goType: string },
  ) {
    super(message);
  }
}

function parseText(json: string | Uint8Array): GoJsonValue {
  const bytes = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  try {
    return parseGoJson(bytes);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) configError(err.message);
    throw err;
  }
}

/**
 * Parses the JSON text of a measurements map (the value of `measurements`),
 * as Go's json.Unmarshal into measurements.M. Throws
 * JoinServiceError(ConfigInvalid) with Go's error text.
 */
export function parseMeasurements(json: string | Uint8Array): Measurements {
  try {
    return decodeM(parseText(json));
  } catch (err) {
    if (err instanceof MeasurementsError) configError(err.message);
    throw err;
  }
}

/**
 * Decodes a whole vTPM attestation config (`{"measurements": …}`; other
 * members ignored, as by Go for the four TPM-only variants) and returns its
 * measurements; an absent or `null` member yields an empty map, which
 * accepts any PCR values (§9.1). `goStructName` is the Go config type named
 * in type errors (QEMUVTPM, AWSNitroTPM, GCPSEVES, AzureTrustedLaunch, …).
 */
export function parseMeasurementsConfig(configText: string | Uint8Array, goStructName = 'QEMUVTPM'): Measurements {
  const root = parseText(configText);
  if (root.kind === 'null') configError('attestation config is null');
  if (root.kind !== 'object') configError(typeError(root.kind, `config.${goStructName}`));
  let result: Measurements = new Map();
  for (const { key, value } of root.members) {
    if (foldGoKey(key) !== 'MEASUREMENTS') continue;
    try {
      // Each occurrence runs M.UnmarshalJSON again and replaces the map (last wins).
      result = decodeM(value);
    } catch (err) {
      if (!(err instanceof MeasurementsError)) throw err;
      // Go's outer decoder puts its struct context into type errors coming out of UnmarshalJSON.
      if (err.typeErr) configError(typeError(err.typeErr.value, err.typeErr.goType, `${goStructName}.measurements`));
      configError(err.message);
    }
  }
  return result;
}

/** measurements.M.UnmarshalJSON on a parsed value. */
function decodeM(v: GoJsonValue): Measurements {
  const out: Measurements = new Map();
  if (v.kind === 'null') return out;
  if (v.kind !== 'object') throw new MeasurementsError(typeError(v.kind, M_TYPE), { value: v.kind, goType: M_TYPE });
  let saved: MeasurementsError | undefined;
  for (const { key, value } of v.members) {
    // Go decodes the value first (an UnmarshalJSON error aborts at once), then converts the key (a key error is saved).
    const m = decodeMeasurement(value);
    const k = utf8.decode(key);
    const idx = /^[0-9]+$/.test(k) && (k.length <= 10 || /^0+[0-9]{1,10}$/.test(k)) ? Number(k) : NaN;
    if (!(idx <= 0xffffffff)) {
      saved ??= new MeasurementsError(typeError(`number ${k}`, 'uint32'), { value: `number ${k}`, goType: 'uint32' });
      continue;
    }
    out.set(idx, m);
  }
  if (saved) throw saved;
  let length: number | undefined;
  for (const idx of [...out.keys()].sort((a, b) => a - b)) {
    const n = out.get(idx)!.expected.length;
    if (length === undefined) length = n;
    else if (n !== length) throw new MeasurementsError(`inconsistent measurement length: index ${idx}: expected ${length}, got ${n}`);
  }
  return out;
}

const ENCODED = 'measurements.encodedMeasurement';
const OPTION = 'measurements.MeasurementValidationOption';

/** measurements.Measurement.UnmarshalJSON: `{"expected", "warnOnly"}` or, legacy, a bare hex string. */
function decodeMeasurement(v: GoJsonValue): Measurement {
  let expected: Uint8Array = new Uint8Array(0);
  let warnOnly = false;
  let err: string | undefined;
  if (v.kind === 'object') {
    for (const m of v.members) {
      const name = foldGoKey(m.key);
      if (name === 'EXPECTED') {
        if (m.value.kind === 'string') expected = m.value.bytes;
        else if (m.value.kind !== 'null') err ??= typeError(m.value.kind, 'string', 'encodedMeasurement.expected');
      } else if (name === 'WARNONLY') {
        if (m.value.kind === 'bool') warnOnly = m.value.value;
        else if (m.value.kind !== 'null') err ??= typeError(m.value.kind, OPTION, 'encodedMeasurement.warnOnly');
      }
    }
  } else if (v.kind !== 'null') {
    err = typeError(v.kind, ENCODED);
  }
  if (err !== undefined) {
    // Legacy format: the value as a plain string.
    if (v.kind !== 'string') throw new MeasurementsError(`${err}\ntrying legacy format: ${typeError(v.kind, 'string')}`);
    expected = v.bytes;
  }
  const decoded = goHexDecode(expected);
  if (typeof decoded === 'string') throw new MeasurementsError(`unmarshalling json: decoding measurement: ${decoded}`);
  if (decoded.length !== 32 && decoded.length !== 48) {
    throw new MeasurementsError(`unmarshalling json: invalid measurement: invalid length: ${decoded.length}`);
  }
  return { expected: decoded, warnOnly };
}

const hexValue = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;

/** Go's hex.DecodeString: the bytes, or Go's error text. */
export function goHexDecode(s: Uint8Array): Uint8Array | string {
  const out = new Uint8Array(s.length >> 1);
  let j = 1;
  for (; j < s.length; j += 2) {
    const a = hexValue(s[j - 1]!);
    const b = hexValue(s[j]!);
    if (a < 0) return invalidHexByte(s[j - 1]!);
    if (b < 0) return invalidHexByte(s[j]!);
    out[j >> 1] = (a << 4) | b;
  }
  if (s.length % 2 === 1) {
    if (hexValue(s[j - 1]!) < 0) return invalidHexByte(s[j - 1]!);
    return 'encoding/hex: odd length hex string';
  }
  return out;
}

/** Go's InvalidByteError text: `%#U` of the byte as a rune. */
function invalidHexByte(c: number): string {
  const code = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  const printable = (c >= 0x20 && c <= 0x7e) || (c >= 0xa1 && c !== 0xad);
  return `encoding/hex: invalid byte: ${printable ? `${code} '${String.fromCharCode(c)}'` : code}`;
}

export interface MeasurementComparison {
  /** Enforced mismatches, `PCR[i]: expected X, got Y`, ascending index. */
  errors: string[];
  /** warnOnly mismatches in the same format. */
  warnings: string[];
  /** Go's texts for the same errors (`untrusted measurement value … at index i` / `missing measurement value for index i`). */
  goErrors: string[];
  /** Go's warning texts (`Encountered …`). */
  goWarnings: string[];
  /** Every compared index → the quoted value in lower-case hex (`''` when missing). */
  checked: Record<string, string>;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * §9.1: every index of `m` in ascending order against `pcrs` (the selected
 * SHA-256 quote's values); indices only in `pcrs` are ignored, an empty `m`
 * accepts anything.
 */
export function compareMeasurements(m: ReadonlyMap<number, Measurement>, pcrs: ReadonlyMap<number, Uint8Array>): MeasurementComparison {
  const result: MeasurementComparison = { errors: [], warnings: [], goErrors: [], goWarnings: [], checked: {} };
  for (const idx of [...m.keys()].sort((a, b) => a - b)) {
    const { expected, warnOnly } = m.get(idx)!;
    const actual = pcrs.get(idx) ?? new Uint8Array(0);
    result.checked[String(idx)] = hex(actual);
    if (bytesEqual(expected, actual)) continue;
    const missing = actual.length === 0;
    const msg = `PCR[${idx}]: expected ${hex(expected)}, got ${missing ? '<missing>' : hex(actual)}`;
    const goMsg = missing ? `missing measurement value for index ${idx}` : `untrusted measurement value ${hex(actual)} at index ${idx}`;
    if (warnOnly) {
      result.warnings.push(msg);
      result.goWarnings.push(`Encountered ${goMsg}`);
    } else {
      result.errors.push(msg);
      result.goErrors.push(goMsg);
    }
  }
  return result;
}

/**
 * compareMeasurements, throwing JoinServiceError(MeasurementMismatch) with
 * `measurement validation failed:\n` + one line per enforced mismatch when
 * there is any (details: Go's message in `goMessage`, the warnings).
 */
export function enforceMeasurements(m: ReadonlyMap<number, Measurement>, pcrs: ReadonlyMap<number, Uint8Array>): MeasurementComparison {
  const result = compareMeasurements(m, pcrs);
  if (result.errors.length > 0) {
    throw new JoinServiceError(ErrorCode.MeasurementMismatch, `measurement validation failed:\n${result.errors.join('\n')}`, {
      goMessage: `measurement validation failed:\n${result.goErrors.join('\n')}`,
      mismatches: result.errors,
      warnings: result.warnings,
    });
  }
  return result;
}

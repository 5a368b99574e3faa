/**
 * Decoding a parsed JSON tree into Go-shaped values with encoding/json's
 * json.Unmarshal semantics (Go 1.24):
 *
 * - object keys select struct fields by exact name first, then
 *   case-insensitively; unknown keys are ignored; a repeated key decodes again
 *   into the same field (so the last one wins, with Go's slice reuse);
 * - `null` leaves non-pointer scalars alone and resets slices to nil;
 * - type mismatches do not stop decoding: the first error (in document order)
 *   is returned at the end, as Go's decodeState.savedError is;
 * - error texts are Go's: `json: cannot unmarshal array into Go value of type
 *   atls.FakeAttestationDoc`, `json: cannot unmarshal number into Go struct
 *   field FakeAttestationDoc.Nonce of type []uint8`, and base64's
 *   `illegal base64 data at input byte N`.
 *
 * Case-insensitive matching uses Go's fold (Unicode simple case folding to
 * the smallest rune of the fold orbit). Field names here are ASCII; the only
 * non-ASCII runes that fold onto ASCII letters are U+017F ſ (→ S) and
 * U+212A Kelvin sign (→ K), which are handled, so matching is exact for ASCII
 * field names.
 */
import { CorruptInputError, goBase64StdDecode } from './go-base64.js';
import type { GoJsonValue } from './go-json.js';

export class UnmarshalTypeError extends Error {
  constructor(
    readonly value: string,
    readonly goType: string,
    readonly struct = '',
    readonly field = '',
  ) {
    super(
      struct !== '' || field !== ''
        ? `json: cannot unmarshal ${value} into Go struct field ${struct}.${field} of type ${goType}`
        : `json: cannot unmarshal ${value} into Go value of type ${goType}`,
    );
    this.name = 'UnmarshalTypeError';
  }
}

/** Collects the first decoding error and the context Go adds to type errors. */
export class DecodeState {
  error: Error | undefined;
  structName = '';
  readonly fieldStack: string[] = [];

  typeError(value: string, goType: string): void {
    this.save(new UnmarshalTypeError(value, goType, this.structName, this.fieldStack.join('.')));
  }

  save(err: Error): void {
    this.error ??= err;
  }
}

export interface GoField<V> {
  /** The Go zero value. */
  initial: V;
  /** Decodes `value` into the field's current Go value and returns the new one. */
  decode(value: GoJsonValue, current: V, state: DecodeState): V;
}

export interface GoStructSpec<F extends Record<string, GoField<unknown>>> {
  /** Go's reflect type string of the struct, e.g. `atls.FakeAttestationDoc`. */
  goType: string;
  /** The bare struct name used in field errors, e.g. `FakeAttestationDoc`. */
  structName: string;
  /** JSON field names (Go field names unless tagged) → decoders. */
  fields: F;
}

export type GoStructValue<F extends Record<string, GoField<unknown>>> = { [K in keyof F]: F[K]['initial'] };

/**
 * json.Unmarshal of a top-level document into a struct. Throws the first
 * decoding error (UnmarshalTypeError, CorruptInputError, …).
 */
export function unmarshalGoStruct<F extends Record<string, GoField<unknown>>>(root: GoJsonValue, spec: GoStructSpec<F>): GoStructValue<F> {
  const state = new DecodeState();
  const out = {} as Record<string, unknown>;
  for (const [name, field] of Object.entries(spec.fields)) out[name] = field.initial;
  if (root.kind === 'object') {
    decodeObjectInto(root, spec, out, state);
  } else if (root.kind !== 'null') {
    state.save(new UnmarshalTypeError(kindName(root), spec.goType));
  }
  if (state.error) throw state.error;
  return out as GoStructValue<F>;
}

function decodeObjectInto<F extends Record<string, GoField<unknown>>>(
  obj: Extract<GoJsonValue, { kind: 'object' }>,
  spec: GoStructSpec<F>,
  out: Record<string, unknown>,
  state: DecodeState,
): void {
  const names = Object.keys(spec.fields);
  const folded = new Map(names.map((n) => [foldAscii(n), n]));
  const savedStruct = state.structName;
  for (const { key, value } of obj.members) {
    const keyText = Buffer.from(key).toString('latin1');
    let name = Object.hasOwn(spec.fields, keyText) && isAscii(key) ? keyText : undefined;
    if (name === undefined) {
      const f = foldGoKey(key);
      name = f === undefined ? undefined : folded.get(f);
    }
    if (name === undefined) continue;
    state.structName = spec.structName;
    state.fieldStack.push(name);
    out[name] = spec.fields[name]!.decode(value, out[name], state);
    state.fieldStack.pop();
    state.structName = savedStruct;
  }
}

/** The JSON kind word Go uses in UnmarshalTypeError.Value. */
export function kindName(v: GoJsonValue): string {
  return v.kind;
}

function isAscii(b: Uint8Array): boolean {
  return b.every((c) => c < 0x80);
}

function foldAscii(s: string): string {
  return s.toUpperCase();
}

/**
 * Go's foldName restricted to keys that can equal a folded ASCII name:
 * returns undefined when the key contains a rune that folds outside ASCII.
 */
export function foldGoKey(key: Uint8Array): string | undefined {
  let out = '';
  for (let i = 0; i < key.length; ) {
    const c = key[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
      i++;
    } else if (c === 0xc5 && key[i + 1] === 0xbf) {
      out += 'S'; // U+017F LATIN SMALL LETTER LONG S
      i += 2;
    } else if (c === 0xe2 && key[i + 1] === 0x84 && key[i + 2] === 0xaa) {
      out += 'K'; // U+212A KELVIN SIGN
      i += 3;
    } else {
      return undefined;
    }
  }
  return out;
}

/**
 * A Go []byte value: `backing` models the slice's array, which Go reuses when
 * a repeated key decodes a JSON array into the same field (stale elements
 * survive under `null` entries), `len` its length; null is a nil slice.
 */
export type GoByteSlice = { backing: Uint8Array; len: number } | null;

export function byteSliceBytes(v: GoByteSlice): Uint8Array {
  return v ? v.backing.subarray(0, v.len) : new Uint8Array(0);
}

/** A Go `[]byte` field: base64 string, array of 0–255 numbers, or null. */
export const goBytesField: GoField<GoByteSlice> = {
  initial: null,
  decode(value, current, state) {
    switch (value.kind) {
      case 'null':
        return null;
      case 'string':
        try {
          const bytes = goBase64StdDecode(value.bytes);
          return { backing: bytes, len: bytes.length };
        } catch (err) {
          if (!(err instanceof CorruptInputError)) throw err;
          state.save(err);
          return current;
        }
      case 'array':
        return decodeByteArray(value.items, current, state);
      default:
        state.typeError(kindName(value), '[]uint8');
        return current;
    }
  },
};

function decodeByteArray(items: readonly GoJsonValue[], current: GoByteSlice, state: DecodeState): GoByteSlice {
  if (items.length === 0) return { backing: new Uint8Array(0), len: 0 };
  let backing = current?.backing ?? new Uint8Array(0);
  if (items.length > backing.length) {
    // Go grows the array keeping its old contents (up to the old capacity) and zeroing the rest.
    const grown = new Uint8Array(Math.max(items.length, backing.length * 2));
    grown.set(backing);
    backing = grown;
  }
  items.forEach((item, i) => {
    switch (item.kind) {
      case 'null':
        return; // Go ignores null for a uint8 element
      case 'number':
        if (/^[0-9]+$/.test(item.text) && item.text.length <= 3 && Number(item.text) <= 255) backing[i] = Number(item.text);
        else state.typeError(`number ${item.text}`, 'uint8');
        return;
      default:
        state.typeError(kindName(item), 'uint8');
    }
  });
  return { backing, len: items.length };
}

/** A Go `string` field: JSON string; `null` keeps the current value; anything else is a type error. */
export const goStringField: GoField<string> = {
  initial: '',
  decode(value, current, state) {
    if (value.kind === 'string') return Buffer.from(value.bytes).toString('utf8');
    if (value.kind !== 'null') state.typeError(kindName(value), 'string');
    return current;
  },
};

/** A Go `bool` field: JSON true/false; `null` keeps the current value; anything else is a type error. */
export const goBoolField: GoField<boolean> = {
  initial: false,
  decode(value, current, state) {
    if (value.kind === 'bool') return value.value;
    if (value.kind !== 'null') state.typeError(kindName(value), 'bool');
    return current;
  },
};

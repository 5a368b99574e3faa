/**
 * A plain Uint8Array copy of src[start:end]. (Buffer#slice returns a view, not
 * a copy, so `.slice` on input that may be a Buffer must not be used where a
 * copy is meant.)
 */
export function copyBytes(src: Uint8Array, start = 0, end = src.length): Uint8Array {
  return new Uint8Array(src.subarray(start, end));
}

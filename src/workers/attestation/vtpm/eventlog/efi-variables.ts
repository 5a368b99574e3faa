/**
 * The UEFI structures the secure-boot derivation (tpm-attestation.md §7.4.2)
 * parses, mirroring go-attestation v0.5.1 `attest/internal/events.go`:
 * UEFI_VARIABLE_DATA, EFI_SIGNATURE_LIST sequences, EFI_SIGNATURE_DATA of
 * authority events and UEFI_IMAGE_LOAD_EVENT with its device path. All
 * integers little-endian; errors are GoParseError with go-attestation's texts
 * (the raw `EOF` / `unexpected EOF` of binary.Read included).
 *
 * X.509 (tpm-attestation.md §15 Q5): certificates in PK/KEK/db/dbx and in
 * authority events are parsed with the repository's port of Go 1.24's
 * x509.ParseCertificate (src/workers/certificate/parse-certificate.ts) rather
 * than node:crypto's X509Certificate (OpenSSL accepts and rejects a different
 * set), plus Go's ECDSA on-curve check, which that parser leaves to the key
 * import. Residual divergence from Go, all in certificates no UEFI vendor
 * ships (the real ones are RSA-2048 CA certificates in canonical DER):
 * - the shared parser requires a canonical SubjectPublicKeyInfo for RSA,
 *   ECDSA and Ed25519 keys (no trailing data, no unused bits) — Go ignores
 *   trailing data there;
 * - it does not look inside DSA and X25519 keys, which Go validates;
 * - URI-SAN / rfc822 name-constraint checks are approximations (see
 *   extensions.ts).
 * Like Go 1.24 (GODEBUG x509negativeserial=0) a negative serial number is
 * rejected; Go ≤ 1.22 accepted it, and real platform keys with one exist
 * (go-tpm-tools' glinux-alex test log).
 */
import { JoinServiceError } from '../../../../shared/errors.js';
import { parseCertificate, type ParsedCertificate } from '../../../certificate/parse-certificate.js';
import { GoParseError, LeReader, readU32 } from './binary-reader.js';
import { goUtf16Decode } from './go-format.js';

/** go-attestation maxNameLen: variable names (UTF-16 units), device paths. */
export const MAX_NAME_LEN = 2048;
/** go-attestation maxDataLen: variable data, signature lists. */
export const MAX_DATA_LEN = 1024 * 1024;

/** An EFI_GUID in its on-disk (mixed-endian) byte form. */
export function guidBytes(text: string): Uint8Array {
  const h = text.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  const out = Uint8Array.from(b);
  out.set([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] as number[], 0);
  return out;
}

/** The EFI_GUID's String() in go-attestation: `%x-%x-%x-%x-%x` of the canonical fields. */
export function guidString(g: Uint8Array): string {
  const hex = (a: number[]) => Buffer.from(a).toString('hex');
  const b = Array.from(g);
  return `${hex([b[3], b[2], b[1], b[0]] as number[])}-${hex([b[5], b[4]] as number[])}-${hex([b[7], b[6]] as number[])}-${hex(b.slice(8, 10))}-${hex(b.slice(10, 16))}`;
}

export const EFI_CERT_X509_GUID = guidBytes('a5c059a1-94e4-4aa7-87b5-ab155c2bf072');
export const EFI_CERT_SHA256_GUID = guidBytes('c1c41626-504c-4092-aca9-41f936934328');
export const SHIM_LOCK_GUID = guidBytes('605dab50-e046-4300-abb6-3dd810dd8b23');

/** Signature types go-attestation recognises but refuses, with its error texts. */
const UNHANDLED_SIGNATURE_TYPES: ReadonlyMap<string, string> = new Map([
  ['3c5766e8-269c-4e34-aa14-ed776e85b3b6', 'unhandled RSA2048 key'],
  ['e2b36190-879b-4a3d-ad8d-f2e7bba32784', 'unhandled RSA2048-SHA256 key'],
  ['826ca512-cf10-4ac9-b187-be01496631bd', 'unhandled SHA1 hash'],
  ['67f8444f-8743-48f1-a328-1eaab8736080', 'unhandled RSA2048-SHA1 key'],
  ['0b6e5233-a65c-44c9-9407-d9ab83bfc8bd', 'unhandled SHA224 hash'],
  ['ff3e5307-9fd0-48c9-85f1-8ad56c701e01', 'unhandled SHA384 hash'],
  ['093e0fae-a6c4-4f50-9f1b-d41e2b89c19a', 'unhandled SHA512 hash'],
  ['3bd2a492-96c0-4079-b420-fcf98ef103ed', 'unhandled X509-SHA256 hash metadata'],
  ['7076876e-80c2-4ee6-aad2-28b349a6865b', 'unhandled X509-SHA384 hash metadata'],
  ['446dbf63-2502-4cda-bcfa-2465d2b0fe9d', 'unhandled X509-SHA512 hash metadata'],
]);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Field prime and coefficient b of the NIST curves (a = -3), for Go's on-curve check. */
const NIST_CURVES: Readonly<Record<string, { p: bigint; b: bigint; bytes: number }>> = {
  'P-224': { p: 2n ** 224n - 2n ** 96n + 1n, b: 0xb4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4n, bytes: 28 },
  'P-256': { p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n, b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn, bytes: 32 },
  'P-384': {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    bytes: 48,
  },
  'P-521': {
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    bytes: 66,
  },
};

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`);
}

/**
 * elliptic.Unmarshal's check on an uncompressed point (04 ‖ X ‖ Y): both
 * coordinates below p and y² = x³ − 3x + b (mod p).
 */
export function isOnNistCurve(curve: string, point: Uint8Array): boolean {
  const c = NIST_CURVES[curve];
  if (!c || point.length !== 1 + 2 * c.bytes || point[0] !== 0x04) return false;
  const x = toBigInt(point.subarray(1, 1 + c.bytes));
  const y = toBigInt(point.subarray(1 + c.bytes));
  if (x >= c.p || y >= c.p) return false;
  const rhs = (((x * x) % c.p) * x - 3n * x + c.b) % c.p;
  return (((y * y - rhs) % c.p) + c.p) % c.p === 0n;
}

/**
 * Go's x509.ParseCertificate; throws GoParseError with Go's text. On top of
 * the shared parser: Go's elliptic.Unmarshal also refuses an ECDSA point that
 * is not on the curve.
 */
export function parseX509(der: Uint8Array): Uint8Array {
  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(der);
  } catch (err) {
    if (err instanceof JoinServiceError) throw new GoParseError(err.message);
    throw err;
  }
  const key = cert.publicKey;
  if (key.algorithm === 'ecdsa' && key.curve !== undefined) {
    // The shared parser has checked the canonical SPKI form: the BIT STRING
    // (no unused bits) ends the element and holds exactly 1 + 2n bytes.
    const n = (NIST_CURVES[key.curve] as { bytes: number }).bytes;
    if (!isOnNistCurve(key.curve, key.raw.subarray(key.raw.length - (1 + 2 * n)))) {
      throw new GoParseError('x509: failed to unmarshal elliptic curve point');
    }
  }
  return cert.raw;
}

export interface UefiVariableData {
  guid: Uint8Array;
  /** The name's UTF-16 code units. */
  nameUnits: number[];
  /** `string(utf16.Decode(name))`: Go's VarName(). */
  name: string;
  data: Uint8Array;
}

/** UEFI_VARIABLE_DATA (ParseUEFIVariableData); trailing bytes are ignored. */
export function parseUefiVariableData(buf: Uint8Array): UefiVariableData {
  const r = new LeReader(buf);
  const h = r.bytes(32);
  const guid = h.subarray(0, 16);
  const nameLen = BigInt(readU32(h, 16)) | (BigInt(readU32(h, 20)) << 32n);
  const dataLen = BigInt(readU32(h, 24)) | (BigInt(readU32(h, 28)) << 32n);
  if (nameLen > BigInt(MAX_NAME_LEN)) throw new GoParseError(`unicode name too long: ${nameLen} > ${MAX_NAME_LEN}`);
  const nameUnits: number[] = [];
  for (let i = 0; i < Number(nameLen); i++) nameUnits.push(r.u16());
  if (dataLen > BigInt(MAX_DATA_LEN)) throw new GoParseError(`variable data too long: ${dataLen} > ${MAX_DATA_LEN}`);
  const data = r.bytes(Number(dataLen));
  return { guid, nameUnits, name: goUtf16Decode(nameUnits), data };
}

export interface SignatureDatabase {
  /** DER certificates. */
  certs: Uint8Array[];
  hashes: Uint8Array[];
}

/**
 * A sequence of EFI_SIGNATURE_LISTs (parseEfiSignatureList). Mirrors Go's
 * uint32 arithmetic: a SignatureListSize below 28 or a SignatureSize below
 * 16 wraps around and ends in a failing over-long read (Go would first
 * allocate the wrapped size; we only check it against the bytes left).
 */
export function parseEfiSignatureList(buf: Uint8Array): SignatureDatabase {
  const out: SignatureDatabase = { certs: [], hashes: [] };
  if (buf.length < 28) return out; // "an empty signature list here appears to be valid"
  const r = new LeReader(buf);
  while (r.remaining > 0) {
    const h = r.bytes(28);
    const type = h.subarray(0, 16);
    const listSize = readU32(h, 16);
    const headerSize = readU32(h, 20);
    const sigSize = readU32(h, 24);
    if (headerSize > MAX_DATA_LEN) throw new GoParseError(`signature header too large: ${headerSize} > ${MAX_DATA_LEN}`);
    if (listSize > MAX_DATA_LEN) throw new GoParseError(`signature list too large: ${listSize} > ${MAX_DATA_LEN}`);
    const isX509 = equalBytes(type, EFI_CERT_X509_GUID);
    if (!isX509 && !equalBytes(type, EFI_CERT_SHA256_GUID)) {
      const id = guidString(type);
      throw new GoParseError(UNHANDLED_SIGNATURE_TYPES.get(id) ?? `unhandled signature type ${id}`);
    }
    const limit = (listSize - 28) >>> 0;
    const dataLen = (sigSize - 16) >>> 0;
    for (let offset = 0; offset < limit; offset += sigSize) {
      r.bytes(16); // SignatureOwner
      const payload = r.bytes(dataLen);
      if (isX509) out.certs.push(parseX509(payload));
      else out.hashes.push(payload);
    }
  }
  return out;
}

export interface VariableAuthority {
  /** DER certificates (zero or one). */
  certs: Uint8Array[];
  /** go-attestation's ErrSigMissingGUID: the certificate filled the whole variable data (old shim). */
  missingOwnerGuid: boolean;
}

const SBAT_LEVEL = 'SbatLevel';
const MOK_LIST_TRUSTED = 'MokListTrusted';

function unitsEqual(units: readonly number[], ascii: string): boolean {
  return units.length === ascii.length && units.every((u, i) => u === ascii.charCodeAt(i));
}

/** ParseUEFIVariableAuthority + parseEfiSignature. */
export function parseVariableAuthority(v: UefiVariableData): VariableAuthority {
  if (equalBytes(v.guid, SHIM_LOCK_GUID) && (unitsEqual(v.nameUnits, SBAT_LEVEL) || unitsEqual(v.nameUnits, MOK_LIST_TRUSTED))) {
    return { certs: [], missingOwnerGuid: false };
  }
  const b = v.data;
  if (b.length < 16) throw new GoParseError(`invalid signature: buffer smaller than header (${b.length} < 16)`);
  try {
    return { certs: [parseX509(b.subarray(16))], missingOwnerGuid: false };
  } catch (err) {
    if (!(err instanceof GoParseError)) throw err;
    try {
      return { certs: [parseX509(b)], missingOwnerGuid: true };
    } catch (err2) {
      if (!(err2 instanceof GoParseError)) throw err2;
      throw err;
    }
  }
}

export interface DevicePathElement {
  type: number;
  subType: number;
  data: Uint8Array;
}

/** UEFI_IMAGE_LOAD_EVENT (ParseEFIImageLoad): returns the device path bytes. */
export function parseEfiImageLoad(buf: Uint8Array): Uint8Array {
  const r = new LeReader(buf);
  const h = r.bytes(32);
  const pathLen = BigInt(readU32(h, 24)) | (BigInt(readU32(h, 28)) << 32n);
  if (pathLen > BigInt(MAX_NAME_LEN)) throw new GoParseError(`device path structure too long: ${pathLen} > ${MAX_NAME_LEN}`);
  return r.bytes(Number(pathLen));
}

/** The device path elements up to the end marker (EFIImageLoad.DevicePath). */
export function parseDevicePath(buf: Uint8Array): DevicePathElement[] {
  const r = new LeReader(buf);
  const out: DevicePathElement[] = [];
  while (r.remaining > 0) {
    const type = r.u8('reading type: ');
    const subType = r.u8('reading subtype: ');
    const len = r.u16('reading data len: ');
    if (len > MAX_NAME_LEN) throw new GoParseError(`device path data too long: ${len} > ${MAX_NAME_LEN}`);
    if (len < 4) throw new GoParseError(`device path data too short: ${len} < 4`);
    const data = r.bytes(len - 4, 'reading data: ');
    if (type === 0x7f) return out;
    out.push({ type, subType, data });
  }
  return out;
}

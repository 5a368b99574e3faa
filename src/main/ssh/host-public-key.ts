import { ECDH } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { bitLength, compareMagnitudes, decodeMpint, SshReader, SshWriter, type Mpint } from './ssh-wire.js';

/**
 * Step 5 of IssueJoinTicket (join-protocol.md §4): the host public key in SSH
 * wire format (RFC 4253 §6.6), accepted like x/crypto/ssh `ParsePublicKey`
 * accepts it, with Go's error texts (without the step prefix, which the ticket
 * logic adds).
 *
 * The acceptance rules are those of x/crypto v0.43 (the version the Go
 * service uses); every input v0.43 rejects is rejected here with v0.43's text
 * (certificate types aside, which are refused by name). On top of that, for inputs the Go bootstrapper never sends, some keys v0.43
 * accepts are refused (with x/crypto's newer texts where it has them):
 * - certificate key types (Go parses them and then crashes while building a
 *   certificate around a certificate);
 * - an ECDSA key whose curve does not match its key type (x/crypto ≥ 2026 text
 *   `ssh: algorithm type mismatch: …`; v0.43 silently switches to the curve's type);
 * - an RSA modulus over 16384 bits (`ssh: rsa modulus too large`, as newer
 *   x/crypto; OpenSSH cannot load such keys either) or a negative one;
 * - DSA parameters out of range: generator not in (0, p), y not in (0, p)
 *   (newer x/crypto texts), negative q.
 */

export const SSH_KEY_TYPES = [
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-ed25519',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'sk-ssh-ed25519@openssh.com',
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

export type EcdsaCurve = 'nistp256' | 'nistp384' | 'nistp521';

/** OpenSSH certificate type name per key type (PROTOCOL.certkeys). */
export const CERTIFICATE_TYPE: Readonly<Record<SshKeyType, string>> = {
  'ssh-rsa': 'ssh-rsa-cert-v01@openssh.com',
  'ssh-dss': 'ssh-dss-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384': 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521': 'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'ssh-ed25519': 'ssh-ed25519-cert-v01@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'sk-ssh-ed25519@openssh.com': 'sk-ssh-ed25519-cert-v01@openssh.com',
};

/** Type-specific fields. Integers are big-endian magnitudes without leading zeros; byte strings are copies of the input. */
export type SshKeyFields =
  | { type: 'ssh-rsa'; e: Uint8Array; n: Uint8Array }
  | { type: 'ssh-dss'; p: Uint8Array; q: Uint8Array; g: Uint8Array; y: Uint8Array }
  | { type: 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521'; curve: EcdsaCurve; point: Uint8Array }
  | { type: 'sk-ecdsa-sha2-nistp256@openssh.com'; curve: 'nistp256'; point: Uint8Array; application: Uint8Array }
  | { type: 'ssh-ed25519'; key: Uint8Array }
  | { type: 'sk-ssh-ed25519@openssh.com'; key: Uint8Array; application: Uint8Array };

export type SshPublicKey = SshKeyFields & {
  /**
   * The type-specific part in wire form (the key's fields without the leading
   * type string), as it goes into a certificate. Equal to the input for
   * canonically encoded keys; `mpint`s with superfluous leading zero bytes are
   * re-encoded minimally, as Go does.
   */
  readonly keyData: Uint8Array;
  /** The wire blob as received (a copy). */
  readonly blob: Uint8Array;
  /** The matching OpenSSH certificate type name. */
  readonly certificateType: string;
};

const CERTIFICATE_TYPES: ReadonlySet<string> = new Set(Object.values(CERTIFICATE_TYPE));

/** Signature algorithm names that are not key formats (x/crypto/ssh keyFormatForAlgorithm). */
const SIGNATURE_ONLY_ALGORITHMS: Readonly<Record<string, string>> = {
  'rsa-sha2-256': 'ssh-rsa',
  'rsa-sha2-512': 'ssh-rsa',
  'rsa-sha2-256-cert-v01@openssh.com': 'ssh-rsa-cert-v01@openssh.com',
  'rsa-sha2-512-cert-v01@openssh.com': 'ssh-rsa-cert-v01@openssh.com',
};

const ECDSA_CURVES: Readonly<Record<EcdsaCurve, { openssl: string; pointLength: number }>> = {
  nistp256: { openssl: 'prime256v1', pointLength: 1 + 2 * 32 },
  nistp384: { openssl: 'secp384r1', pointLength: 1 + 2 * 48 },
  nistp521: { openssl: 'secp521r1', pointLength: 1 + 2 * 66 },
};

const ED25519_KEY_SIZE = 32;
/** Largest RSA modulus OpenSSH handles (ssh-keygen -b limit, SSHBUF_MAX_BIGNUM). */
const MAX_RSA_MODULUS_BITS = 16384;
/** x/crypto checkDSAParams: FIPS 186-2, p of exactly 1024 bits. */
const DSA_KEY_BITS = 1024;

/** Go's errShortRead: "ssh: short read". */
export const SHORT_READ = 'ssh: short read';

function invalid(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.SshHostKeyInvalid, message);
}

/** Go's reflection-based Unmarshal error for a `string` field of an anonymous struct (empty type name). */
function fieldError(field: string): JoinServiceError {
  return invalid(`ssh: unmarshal error for field ${field} of type `);
}

/** Go's %q for the ASCII algorithm names it is used with. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * Parses an SSH wire-format public key. Throws JoinServiceError
 * (SshHostKeyInvalid) with x/crypto/ssh's error text, e.g. `ssh: short read`
 * for empty input.
 */
export function parseSshPublicKey(wire: Uint8Array): SshPublicKey {
  const input = new Uint8Array(wire); // own copy: fields are views into it
  const r = new SshReader(input);
  const algoBytes = r.string();
  if (algoBytes === undefined) throw invalid(SHORT_READ);
  const algo = Buffer.from(algoBytes.buffer, algoBytes.byteOffset, algoBytes.byteLength).toString('utf8');
  const body = r.rest();

  let parsed: { fields: SshKeyFields; keyData: Uint8Array; rest: Uint8Array };
  switch (algo) {
    case 'ssh-rsa':
      parsed = parseRsa(body);
      break;
    case 'ssh-dss':
      parsed = parseDsa(body);
      break;
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
      parsed = parseEcdsa(body, algo);
      break;
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      parsed = parseSkEcdsa(body);
      break;
    case 'ssh-ed25519':
      parsed = parseEd25519(body);
      break;
    case 'sk-ssh-ed25519@openssh.com':
      parsed = parseSkEd25519(body);
      break;
    default: {
      if (CERTIFICATE_TYPES.has(algo)) {
        throw invalid(`ssh: ${algo} is a certificate; a plain public key is required`);
      }
      const keyFormat = SIGNATURE_ONLY_ALGORITHMS[algo];
      if (keyFormat !== undefined) {
        throw invalid(`ssh: signature algorithm ${goQuote(algo)} isn't a key format; key is malformed and should be re-encoded with type ${goQuote(keyFormat)}`);
      }
      throw invalid(`ssh: unknown key algorithm: ${algo}`);
    }
  }
  if (parsed.rest.length > 0) throw invalid('ssh: trailing junk in public key');
  const { fields, keyData } = parsed;
  return { ...fields, keyData, blob: input, certificateType: CERTIFICATE_TYPE[fields.type] };
}

/** The type-specific fields of a parsed key in wire form (Go: key.Marshal() without the type string). */
function encodeKeyData(f: SshKeyFields): Uint8Array {
  const w = new SshWriter();
  switch (f.type) {
    case 'ssh-rsa':
      w.mpint(f.e).mpint(f.n);
      break;
    case 'ssh-dss':
      w.mpint(f.p).mpint(f.q).mpint(f.g).mpint(f.y);
      break;
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
      w.string(f.curve).string(f.point);
      break;
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      w.string(f.curve).string(f.point).string(f.application);
      break;
    case 'ssh-ed25519':
      w.string(f.key);
      break;
    case 'sk-ssh-ed25519@openssh.com':
      w.string(f.key).string(f.application);
      break;
  }
  return w.finish();
}

function done(fields: SshKeyFields, rest: Uint8Array) {
  return { fields, keyData: encodeKeyData(fields), rest };
}

/** Go's Unmarshal into a struct without a message-type tag fails on empty input with this text. */
function requireNonEmpty(body: Uint8Array): void {
  if (body.length === 0) throw invalid('ssh: parse error in message type 0');
}

function readMpint(r: SshReader): Mpint {
  const s = r.string();
  if (s === undefined) throw invalid(SHORT_READ);
  return decodeMpint(s);
}

function readBytes(r: SshReader): Uint8Array {
  const s = r.string();
  if (s === undefined) throw invalid(SHORT_READ);
  return s;
}

/** A Go `string` field: a short input is a field error, not a short read. */
function readStringField(r: SshReader, field: string): Uint8Array {
  const s = r.string();
  if (s === undefined) throw fieldError(field);
  return s;
}

function parseRsa(body: Uint8Array) {
  requireNonEmpty(body);
  const r = new SshReader(body);
  const e = readMpint(r);
  const n = readMpint(r);
  // Go v0.43: E.BitLen() > 24 (of |E|), then E < 3 or even.
  if (bitLength(e.magnitude) > 24) throw invalid('ssh: exponent too large');
  const eValue = e.magnitude.reduce((acc, b) => acc * 256 + b, 0) * (e.negative ? -1 : 1);
  if (eValue < 3 || eValue % 2 === 0) throw invalid('ssh: incorrect exponent');
  // Beyond v0.43:
  if (bitLength(n.magnitude) > MAX_RSA_MODULUS_BITS) throw invalid('ssh: rsa modulus too large');
  if (n.negative) throw invalid('ssh: negative RSA modulus');
  return done({ type: 'ssh-rsa', e: e.magnitude, n: n.magnitude }, r.rest());
}

function parseDsa(body: Uint8Array) {
  requireNonEmpty(body);
  const r = new SshReader(body);
  const p = readMpint(r);
  const q = readMpint(r);
  const g = readMpint(r);
  const y = readMpint(r);
  const size = bitLength(p.magnitude);
  if (size !== DSA_KEY_BITS) throw invalid(`ssh: unsupported DSA key size ${size}`);
  // Beyond v0.43:
  if (p.negative) throw invalid('ssh: negative DSA modulus');
  if (q.negative) throw invalid('ssh: negative DSA sub-prime');
  if (!g.negative && compareMagnitudes(g.magnitude, p.magnitude) >= 0) throw invalid('ssh: DSA generator larger than modulus');
  if (g.negative || g.magnitude.length === 0) throw invalid('ssh: DSA generator must be positive');
  if (y.negative || y.magnitude.length === 0 || compareMagnitudes(y.magnitude, p.magnitude) >= 0) throw invalid('ssh: DSA public value Y out of range');
  return done({ type: 'ssh-dss', p: p.magnitude, q: q.magnitude, g: g.magnitude, y: y.magnitude }, r.rest());
}

function isEcdsaCurve(name: string): name is EcdsaCurve {
  return name === 'nistp256' || name === 'nistp384' || name === 'nistp521';
}

/** Go's elliptic.Unmarshal: uncompressed form only, exact length, coordinates below p, point on the curve. */
function checkCurvePoint(curve: EcdsaCurve, point: Uint8Array): void {
  const c = ECDSA_CURVES[curve];
  if (point.length !== c.pointLength || point[0] !== 0x04) throw invalid('ssh: invalid curve point');
  try {
    // OpenSSL's EC_POINT_oct2point: rejects coordinates >= p and points off the curve.
    ECDH.convertKey(point, c.openssl, undefined, undefined, 'uncompressed');
  } catch {
    throw invalid('ssh: invalid curve point');
  }
}

function parseEcdsa(body: Uint8Array, algo: 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521') {
  requireNonEmpty(body);
  const r = new SshReader(body);
  const curveBytes = readStringField(r, 'Curve');
  const point = readBytes(r);
  const curve = Buffer.from(curveBytes).toString('utf8');
  if (!isEcdsaCurve(curve)) throw invalid('ssh: unsupported curve');
  // Beyond v0.43 (newer x/crypto checks this, with this text).
  const actual = `ecdsa-sha2-${curve}`;
  if (actual !== algo) throw invalid(`ssh: algorithm type mismatch: expected ${goQuote(algo)}, found curve ${goQuote(curve)} (type ${goQuote(actual)})`);
  checkCurvePoint(curve, point);
  return done({ type: algo, curve, point }, r.rest());
}

function parseSkEcdsa(body: Uint8Array) {
  requireNonEmpty(body);
  const r = new SshReader(body);
  const curveBytes = readStringField(r, 'Curve');
  const point = readBytes(r);
  const application = readStringField(r, 'Application');
  if (Buffer.from(curveBytes).toString('utf8') !== 'nistp256') throw invalid('ssh: unsupported curve');
  checkCurvePoint('nistp256', point);
  return done({ type: 'sk-ecdsa-sha2-nistp256@openssh.com', curve: 'nistp256', point, application }, r.rest());
}

function checkEd25519Size(key: Uint8Array): void {
  if (key.length !== ED25519_KEY_SIZE) throw invalid(`invalid size ${key.length} for Ed25519 public key`);
}

function parseEd25519(body: Uint8Array) {
  requireNonEmpty(body);
  const r = new SshReader(body);
  const key = readBytes(r);
  checkEd25519Size(key);
  return done({ type: 'ssh-ed25519', key }, r.rest());
}

function parseSkEd25519(body: Uint8Array) {
  requireNonEmpty(body);
  const r = new SshReader(body);
  const key = readBytes(r);
  const application = readStringField(r, 'Application');
  checkEd25519Size(key);
  return done({ type: 'sk-ssh-ed25519@openssh.com', key, application }, r.rest());
}

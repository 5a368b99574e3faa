/**
 * Reads the cluster CA for one kubelet certificate (join-protocol.md §4 step
 * 10.1–10.2). The Go service reads `<pkiDir>/ca.crt` and `<pkiDir>/ca.key` on
 * every request, so a rotated CA takes effect at once. Here every task stats
 * both files (following symlinks) and re-reads one only when its version
 * (dev, ino, size, mtimeNs, ctimeNs) changed, or while that version is less
 * than 2 s old (coarse timestamps: the same rules as the main thread's
 * src/main/cluster/cached-file.ts). The parsed certificate and the imported
 * key are cached per worker, keyed by SHA-256 of the file bytes, so a worker
 * parses and imports each CA only once (the CA key never travels in a task:
 * the task carries the PKI directory only).
 *
 * Go's order and texts: read ca.crt (`open <path>: no such file or
 * directory`), decode its first PEM block whatever its type (`decoding pem: no
 * PEM data found`), parse it (`parsing certificate: x509: …`); then read
 * ca.key and parse its first PEM block by type (ca-key.ts).
 *
 * Deliberate difference: the Go service dereferences a nil block and crashes
 * when ca.key contains no PEM block at all; we answer with
 * `decoding pem: no PEM data found in <path>` instead.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import { goFileError } from '../../shared/go-file-error.js';
import { decodePem } from '../../shared/pem.js';
import { DerCursor, T } from '../certificate/der-cursor.js';
import { parseCertificate } from '../certificate/parse-certificate.js';
import type { KeyAlgorithm } from '../certificate/public-key.js';
import { parseCaPrivateKey, type CaPrivateKey } from './ca-key.js';
import { caError, rethrowAs } from './signing-errors.js';

export interface CaCertificate {
  /** The certificate's subject as encoded: the issuer of the kubelet certificate. */
  rawSubject: Uint8Array;
  /** The subjectKeyIdentifier, if the certificate has a non-empty one. */
  subjectKeyId: Uint8Array | undefined;
  /** The certificate's SubjectPublicKeyInfo (canonical DER) and key algorithm. */
  spki: Uint8Array;
  keyAlgorithm: KeyAlgorithm;
}

export interface ClusterCa {
  certificate: CaCertificate;
  key: CaPrivateKey;
}

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';

/** A few entries are plenty: a CA changes rarely, and a worker serves one pkiDir. */
const CACHE_ENTRIES = 4;

class ContentCache<V> {
  private readonly map = new Map<string, V>();

  get(digest: string, parse: () => V): V {
    const hit = this.map.get(digest);
    if (hit !== undefined) {
      // Refresh recency.
      this.map.delete(digest);
      this.map.set(digest, hit);
      return hit;
    }
    const value = parse();
    this.map.set(digest, value);
    if (this.map.size > CACHE_ENTRIES) this.map.delete(this.map.keys().next().value!);
    return value;
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

const certificates = new ContentCache<CaCertificate>();
const keys = new ContentCache<CaPrivateKey>();

/** Path → the value for the file version last read there. */
interface Checked<V> {
  version: BigIntStats;
  racy: boolean;
  value: V;
}
const checkedCertificates = new Map<string, Checked<CaCertificate>>();
const checkedKeys = new Map<string, Checked<CaPrivateKey>>();

/** Counts of parses (not cache hits) and of file reads, for tests and benchmarks. */
export const caParseCounters = { certificates: 0, keys: 0, reads: 0 };

/** Empties the per-worker CA caches (tests). */
export function clearCaCache(): void {
  certificates.clear();
  keys.clear();
  checkedCertificates.clear();
  checkedKeys.clear();
}

export function loadClusterCa(pkiDir: string): ClusterCa {
  const certPath = path.join(pkiDir, CA_CERT_FILE);
  const certificate = checkedRead(checkedCertificates, certPath, (certBytes) =>
    certificates.get(digest(certBytes), () => {
      caParseCounters.certificates++;
      return parseCaCertificate(certBytes);
    }),
  );

  const keyPath = path.join(pkiDir, CA_KEY_FILE);
  const key = checkedRead(checkedKeys, keyPath, (keyBytes) =>
    keys.get(digest(keyBytes), () => {
      caParseCounters.keys++;
      const found = decodePem(keyBytes.toString('latin1'));
      if (!found) throw caError(`decoding pem: no PEM data found in ${keyPath}`);
      return parseCaPrivateKey(found.block);
    }),
  );
  return { certificate, key };
}

/** A version changed less than this long before the stat is not trusted (coarse timestamps). */
const RACY_NS = 2_000_000_000n;

/** The wall clock the racy check uses (tests move it ahead). */
export const caFileClock = { now: (): number => Date.now() };

/**
 * The value for `file`: from `checked` while stat(file) shows the version it
 * was read at, else read (Go's error texts) and derived again. The stat comes
 * before the read, so a stored value is never older than its version.
 * Failures are not stored, and remove what was.
 */
function checkedRead<V>(checked: Map<string, Checked<V>>, file: string, derive: (bytes: Buffer) => V): V {
  const nowNs = BigInt(Math.floor(caFileClock.now())) * 1_000_000n;
  const version = statVersion(file);
  const hit = checked.get(file);
  if (version && hit && !hit.racy && sameVersion(hit.version, version)) return hit.value;
  checked.delete(file);
  caParseCounters.reads++;
  const value = derive(readGoFile(file));
  if (version) {
    const changed = version.ctimeNs > version.mtimeNs ? version.ctimeNs : version.mtimeNs;
    checked.set(file, { version, racy: nowNs - changed < RACY_NS, value });
    if (checked.size > CACHE_ENTRIES) checked.delete(checked.keys().next().value!);
  }
  return value;
}

/** undefined when stat fails: the read then fails with os.ReadFile's text (or succeeds if the file just appeared). */
function statVersion(file: string): BigIntStats | undefined {
  try {
    return statSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function sameVersion(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino === b.ino && a.ctimeNs === b.ctimeNs && a.mtimeNs === b.mtimeNs && a.size === b.size && a.dev === b.dev;
}

function parseCaCertificate(bytes: Buffer): CaCertificate {
  const found = decodePem(bytes.toString('latin1'));
  if (!found) throw caError('decoding pem: no PEM data found');
  const der = found.block.bytes;
  const cert = rethrowAs(caError, () => parseCertificate(new Uint8Array(der.buffer, der.byteOffset, der.byteLength)), 'parsing certificate: ');
  const ski = cert.extensions.find((e) => e.oid === '2.5.29.14');
  // Go's SubjectKeyId: the first OCTET STRING of the value (already validated by the parser).
  const skiEl = ski && DerCursor.of(ski.value).read(T.OctetString);
  const subjectKeyId = skiEl && skiEl.end > skiEl.contentStart ? copy(skiEl.buf.subarray(skiEl.contentStart, skiEl.end)) : undefined;
  return { rawSubject: copy(cert.rawSubject), subjectKeyId, spki: copy(cert.publicKey.raw), keyAlgorithm: cert.publicKey.algorithm };
}

function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

function digest(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('base64');
}

/** os.ReadFile-style read with Go's *PathError text. */
function readGoFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw caError(goFileError(err, file));
  }
}


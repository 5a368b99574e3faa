/**
 * Reads the cluster CA for one kubelet certificate (join-protocol.md §4 step
 * 10.1–10.2): `<pkiDir>/ca.crt` and `<pkiDir>/ca.key` are read on every task,
 * as the Go service does (so a rotated CA takes effect at once), but the
 * parsed certificate and key are cached per worker, keyed by SHA-256 of the
 * file bytes, so a worker parses and imports each CA only once.
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
import { readFileSync } from 'node:fs';
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

/** Counts of parses (not cache hits), for tests and benchmarks. */
export const caParseCounters = { certificates: 0, keys: 0 };

/** Empties the per-worker CA caches (tests). */
export function clearCaCache(): void {
  certificates.clear();
  keys.clear();
}

export function loadClusterCa(pkiDir: string): ClusterCa {
  const certPath = path.join(pkiDir, CA_CERT_FILE);
  const certBytes = readGoFile(certPath);
  const certificate = certificates.get(digest(certBytes), () => {
    caParseCounters.certificates++;
    return parseCaCertificate(certBytes);
  });

  const keyPath = path.join(pkiDir, CA_KEY_FILE);
  const keyBytes = readGoFile(keyPath);
  const key = keys.get(digest(keyBytes), () => {
    caParseCounters.keys++;
    const found = decodePem(keyBytes.toString('latin1'));
    if (!found) throw caError(`decoding pem: no PEM data found in ${keyPath}`);
    return parseCaPrivateKey(found.block);
  });
  return { certificate, key };
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


/**
 * Test-only builder for aTLS-style certificates with every knob the
 * verification tests need (key types, signature algorithms, versions,
 * validity encodings, raw extensions, broken SPKIs and signatures).
 */
import { constants, createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as der from '../../../src/shared/der/encode.js';

export type KeyKind = 'p256' | 'p384' | 'rsa' | 'ed25519';

export interface TestKey {
  kind: KeyKind;
  privateKey: KeyObject;
  spki: Uint8Array;
}

const keyCache = new Map<KeyKind, TestKey>();

/** A key per kind, generated once per test process (RSA generation is slow). */
export function testKey(kind: KeyKind = 'p256'): TestKey {
  let k = keyCache.get(kind);
  if (!k) {
    k = freshKey(kind);
    keyCache.set(kind, k);
  }
  return k;
}

export function freshKey(kind: KeyKind = 'p256'): TestKey {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kind === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: kind === 'p256' ? 'P-256' : 'P-384' });
  return { kind, privateKey: pair.privateKey, spki: pair.publicKey.export({ format: 'der', type: 'spki' }) };
}

export interface SignatureChoice {
  /** Signature AlgorithmIdentifier (the whole SEQUENCE) placed in TBS and outer certificate. */
  algorithmIdentifier: Uint8Array;
  sign(tbs: Uint8Array, key: KeyObject): Uint8Array;
}

export const sigAlg = {
  ecdsa(hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): SignatureChoice {
    const oid = { sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3', sha512: '1.2.840.10045.4.3.4' }[hash];
    return { algorithmIdentifier: der.sequence(der.oid(oid)), sign: (tbs, key) => sign(hash, tbs, { key, dsaEncoding: 'der' }) };
  },
  rsaPkcs1(hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): SignatureChoice {
    const oid = { sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12', sha512: '1.2.840.113549.1.1.13' }[hash];
    return { algorithmIdentifier: der.sequence(der.oid(oid), NULL), sign: (tbs, key) => sign(hash, tbs, { key, padding: constants.RSA_PKCS1_PADDING }) };
  },
  rsaPss(hash: 'sha256' | 'sha384' | 'sha512' = 'sha256', saltLength?: number): SignatureChoice {
    const hashOid = { sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' }[hash];
    const len = { sha256: 32, sha384: 48, sha512: 64 }[hash];
    const salt = saltLength ?? len;
    const hashAi = der.sequence(der.oid(hashOid), NULL);
    const params = der.sequence(
      der.explicit(0, hashAi),
      der.explicit(1, der.sequence(der.oid('1.2.840.113549.1.1.8'), hashAi)),
      der.explicit(2, der.integer(salt)),
    );
    return {
      algorithmIdentifier: der.sequence(der.oid('1.2.840.113549.1.1.10'), params),
      sign: (tbs, key) => sign(hash, tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt }),
    };
  },
  ed25519(): SignatureChoice {
    return { algorithmIdentifier: der.sequence(der.oid('1.3.101.112')), sign: (tbs, key) => sign(null, tbs, key) };
  },
  /** An identifier we do not support, signed with ECDSA/SHA-256 anyway. */
  other(oid: string): SignatureChoice {
    return { algorithmIdentifier: der.sequence(der.oid(oid), NULL), sign: (tbs, key) => sign('sha256', tbs, key) };
  },
};

const NULL = Uint8Array.of(0x05, 0x00);

export function defaultSigAlg(kind: KeyKind): SignatureChoice {
  switch (kind) {
    case 'p256':
      return sigAlg.ecdsa('sha256');
    case 'p384':
      return sigAlg.ecdsa('sha384');
    case 'rsa':
      return sigAlg.rsaPkcs1('sha256');
    case 'ed25519':
      return sigAlg.ed25519();
  }
}

export interface TestExtension {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

export interface TestCertificateOptions {
  key?: TestKey;
  /** Replaces the SubjectPublicKeyInfo element (the certificate is still signed with `key`). */
  spki?: Uint8Array;
  sig?: SignatureChoice;
  /** Replaces the outer signature algorithm only. */
  outerSigAlg?: Uint8Array;
  /** Signs with this key instead of `key` (a bad self-signature). */
  signingKey?: KeyObject;
  /** Post-processes the signature bytes. */
  mangleSignature?: (sig: Uint8Array) => Uint8Array;
  version?: 1 | 2 | 3;
  serial?: Uint8Array;
  /** Raw serial INTEGER element (e.g. negative). */
  serialElement?: Uint8Array;
  notBefore?: number;
  notAfter?: number;
  /** Raw Validity SEQUENCE (overrides notBefore/notAfter). */
  validity?: Uint8Array;
  extensions?: readonly TestExtension[];
  /** Pre-encoded Extension elements appended after `extensions`. */
  rawExtensions?: readonly Uint8Array[];
  /** Emit an extensions field even when there are no extensions. */
  emptyExtensionsField?: boolean;
  commonName?: string;
}

export const HOUR_MS = 60 * 60 * 1000;
/** A fixed "now" (whole seconds) so validity tests need no clock. */
export const NOW_MS = Date.UTC(2025, 5, 1, 12, 0, 0);

export function buildCertificate(o: TestCertificateOptions = {}): Uint8Array {
  const key = o.key ?? testKey('p256');
  const sig = o.sig ?? defaultSigAlg(key.kind);
  const name = der.commonNameOnly(o.commonName ?? 'Constellation');
  const version = o.version ?? 3;
  const exts = [
    ...(o.extensions ?? []).map((e) => encodeExtension(e)),
    ...(o.rawExtensions ?? []),
  ];
  const tbsParts: Uint8Array[] = [];
  if (version > 1) tbsParts.push(der.explicit(0, der.integer(version - 1)));
  tbsParts.push(
    o.serialElement ?? der.integer(o.serial ?? Uint8Array.of(5)),
    sig.algorithmIdentifier,
    name,
    o.validity ?? der.sequence(der.time(o.notBefore ?? NOW_MS - 2 * HOUR_MS), der.time(o.notAfter ?? NOW_MS + 2 * HOUR_MS)),
    name,
    o.spki ?? key.spki,
  );
  if (exts.length > 0 || o.emptyExtensionsField) tbsParts.push(der.tlv(0xa3, der.sequence(...exts)));
  const tbs = der.sequence(...tbsParts);
  let signature = sig.sign(tbs, o.signingKey ?? key.privateKey);
  if (o.mangleSignature) signature = o.mangleSignature(signature);
  return der.sequence(tbs, o.outerSigAlg ?? sig.algorithmIdentifier, der.bitString(signature));
}

export function encodeExtension(e: TestExtension): Uint8Array {
  return der.sequence(der.oid(e.oid), ...(e.critical ? [der.boolean(true)] : []), der.octetString(e.value));
}

export const DUMMY_OID = '1.3.9900.1.1';

/** Go's FakeIssuer document: {"UserData":"<b64>","Nonce":"<b64>"}. */
export function fakeDocument(userData: Uint8Array, nonce: Uint8Array): Uint8Array {
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
  return Buffer.from(`{"UserData":"${b64(userData)}","Nonce":"${b64(nonce)}"}`);
}

export function spkiHash(key: TestKey = testKey('p256')): Uint8Array {
  return createHash('sha256').update(key.spki).digest();
}

/** A dummy-attested client certificate as a Go aTLS client would send it (atls.md §4). */
export function dummyCertificate(nonce: Uint8Array, o: TestCertificateOptions = {}): Uint8Array {
  const key = o.key ?? testKey('p256');
  return buildCertificate({ ...o, key, extensions: [...(o.extensions ?? []), { oid: DUMMY_OID, value: fakeDocument(spkiHash(key), nonce) }] });
}

export const NONCE = Uint8Array.from({ length: 32 }, (_, i) => i);

/** Deterministic PRNG (mulberry32) for the fuzz-style tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Test-only PKI for the kubelet-certificate tests: cluster CAs of every key
 * type (with or without a subjectKeyIdentifier, written the way kubeadm or
 * other tools write them) and PKCS #10 CSRs with every knob the negative
 * tests need (subject RDNs with chosen string types, signature algorithms
 * including SHA-1 and MD5, requested extensions, raw attributes, broken
 * signatures).
 */
import { constants, createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { children, content, readSingle, Tag } from '../../../src/shared/der/decode.js';
import * as der from '../../../src/shared/der/encode.js';
import { encodePem } from '../../../src/shared/pem.js';

export type KeyKind = 'rsa' | 'rsa512' | 'p224' | 'p256' | 'p384' | 'p521' | 'ed25519' | 'x25519' | 'ed448';

export interface KeyPair {
  kind: KeyKind;
  privateKey: KeyObject;
  publicKey: KeyObject;
  spki: Uint8Array;
}

const cache = new Map<KeyKind, KeyPair>();

const CURVE_NAMES: Partial<Record<KeyKind, string>> = { p224: 'P-224', p256: 'P-256', p384: 'P-384', p521: 'P-521' };

export function freshKey(kind: KeyKind): KeyPair {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  if (kind === 'rsa') pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (kind === 'rsa512') pair = generateKeyPairSync('rsa', { modulusLength: 512 });
  else if (kind === 'ed25519') pair = generateKeyPairSync('ed25519');
  else if (kind === 'x25519') pair = generateKeyPairSync('x25519');
  else if (kind === 'ed448') pair = generateKeyPairSync('ed448');
  else pair = generateKeyPairSync('ec', { namedCurve: CURVE_NAMES[kind]! });
  return { kind, ...pair, spki: new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' })) };
}

/** One key per kind per test process (RSA generation is slow). */
export function key(kind: KeyKind): KeyPair {
  let k = cache.get(kind);
  if (!k) {
    k = freshKey(kind);
    cache.set(kind, k);
  }
  return k;
}

// ---- signature algorithms --------------------------------------------------------

export type SigAlg =
  | 'ecdsa-sha1'
  | 'ecdsa-sha256'
  | 'ecdsa-sha384'
  | 'ecdsa-sha512'
  | 'rsa-md5'
  | 'rsa-sha1'
  | 'rsa-sha256'
  | 'rsa-sha384'
  | 'rsa-sha512'
  | 'rsa-pss-sha256'
  | 'ed25519';

const NULL = Uint8Array.of(0x05, 0x00);

const SIG_OIDS: Record<Exclude<SigAlg, 'rsa-pss-sha256'>, { oid: string; params: boolean }> = {
  'ecdsa-sha1': { oid: '1.2.840.10045.4.1', params: false },
  'ecdsa-sha256': { oid: '1.2.840.10045.4.3.2', params: false },
  'ecdsa-sha384': { oid: '1.2.840.10045.4.3.3', params: false },
  'ecdsa-sha512': { oid: '1.2.840.10045.4.3.4', params: false },
  'rsa-md5': { oid: '1.2.840.113549.1.1.4', params: true },
  'rsa-sha1': { oid: '1.2.840.113549.1.1.5', params: true },
  'rsa-sha256': { oid: '1.2.840.113549.1.1.11', params: true },
  'rsa-sha384': { oid: '1.2.840.113549.1.1.12', params: true },
  'rsa-sha512': { oid: '1.2.840.113549.1.1.13', params: true },
  ed25519: { oid: '1.3.101.112', params: false },
};

export function algorithmIdentifier(alg: SigAlg): Uint8Array {
  if (alg === 'rsa-pss-sha256') {
    const sha256 = der.sequence(der.oid('2.16.840.1.101.3.4.2.1'), NULL);
    return der.sequence(
      der.oid('1.2.840.113549.1.1.10'),
      der.sequence(der.explicit(0, sha256), der.explicit(1, der.sequence(der.oid('1.2.840.113549.1.1.8'), sha256)), der.explicit(2, der.integer(32))),
    );
  }
  const a = SIG_OIDS[alg];
  return a.params ? der.sequence(der.oid(a.oid), NULL) : der.sequence(der.oid(a.oid));
}

export function signWith(alg: SigAlg, data: Uint8Array, privateKey: KeyObject): Uint8Array {
  if (alg === 'ed25519') return sign(null, data, privateKey);
  if (alg === 'rsa-pss-sha256') return sign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  const hash = alg.slice(alg.indexOf('-') + 1);
  if (alg.startsWith('ecdsa')) return sign(hash, data, { key: privateKey, dsaEncoding: 'der' });
  return sign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
}

export function defaultSigAlg(kind: KeyKind): SigAlg {
  switch (kind) {
    case 'rsa':
    case 'rsa512':
      return 'rsa-sha256';
    case 'p384':
      return 'ecdsa-sha384';
    case 'p521':
      return 'ecdsa-sha512';
    case 'ed25519':
      return 'ed25519';
    default:
      return 'ecdsa-sha256';
  }
}

// ---- names -------------------------------------------------------------------------

export const OID = {
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  STREET: '2.5.4.9',
  POSTAL_CODE: '2.5.4.17',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
  SERIAL_NUMBER: '2.5.4.5',
  EMAIL: '1.2.840.113549.1.9.1',
  DC: '0.9.2342.19200300.100.1.25',
} as const;

export const STRING_TAG = { utf8: 0x0c, printable: 0x13, t61: 0x14, ia5: 0x16, bmp: 0x1e, visible: 0x1a } as const;

export interface Attribute {
  oid: string;
  value: string | Uint8Array;
  /** String type tag; PrintableString by default. */
  tag?: number;
}

/** A Name from RDNs, each a list of attributes (a multi-valued RDN has several). */
export function name(...rdns: Attribute[][]): Uint8Array {
  return der.sequence(
    ...rdns.map((rdn) =>
      der.set(
        ...rdn.map((a) => {
          const tag = a.tag ?? STRING_TAG.printable;
          const bytes =
            typeof a.value !== 'string'
              ? a.value
              : tag === STRING_TAG.bmp
                ? Buffer.from(a.value, 'utf16le').swap16()
                : Buffer.from(a.value, tag === STRING_TAG.utf8 ? 'utf8' : 'latin1');
          return der.sequence(der.oid(a.oid), der.tlv(tag, bytes));
        }),
      ),
    ),
  );
}

/** O=system:nodes, CN=system:node:<node>, each in its own RDN. */
export function nodeName(node = 'worker-1'): Uint8Array {
  return name([{ oid: OID.O, value: 'system:nodes' }], [{ oid: OID.CN, value: `system:node:${node}` }]);
}

// ---- CSRs ---------------------------------------------------------------------------

export interface TestExtension {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

export function encodeExtension(e: TestExtension): Uint8Array {
  return der.sequence(der.oid(e.oid), ...(e.critical ? [der.boolean(true)] : []), der.octetString(e.value));
}

/** A subjectAltName value. */
export function san(o: { dns?: string[]; ips?: Uint8Array[]; emails?: string[]; uris?: string[]; raw?: Uint8Array[] }): Uint8Array {
  return der.sequence(
    ...(o.dns ?? []).map((d) => der.tlv(0x82, Buffer.from(d, 'latin1'))),
    ...(o.emails ?? []).map((e) => der.tlv(0x81, Buffer.from(e, 'latin1'))),
    ...(o.uris ?? []).map((u) => der.tlv(0x86, Buffer.from(u, 'latin1'))),
    ...(o.ips ?? []).map((ip) => der.tlv(0x87, ip)),
    ...(o.raw ?? []),
  );
}

export function ip(text: string): Uint8Array {
  if (text.includes(':')) {
    const v4 = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
    if (v4) {
      const [a, b, c, d] = [v4[2], v4[3], v4[4], v4[5]].map(Number) as [number, number, number, number];
      text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    }
    const [head, tail] = text.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
  }
  return Uint8Array.from(text.split('.').map(Number));
}

export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
export const OID_SAN = '2.5.29.17';

export function extensionRequest(extensions: TestExtension[]): Uint8Array {
  return der.sequence(der.oid(OID_EXTENSION_REQUEST), der.set(der.sequence(...extensions.map(encodeExtension))));
}

export interface CsrOptions {
  key?: KeyPair;
  /** The subject Name element; O=system:nodes, CN=system:node:worker-1 by default. */
  subject?: Uint8Array;
  sigAlg?: SigAlg;
  /** Replaces the signature AlgorithmIdentifier element. */
  algorithmIdentifier?: Uint8Array;
  /** Requested extensions (one extensionRequest attribute). */
  extensions?: TestExtension[];
  /** Attribute elements placed before the extensionRequest. */
  rawAttributes?: Uint8Array[];
  /** Replaces the SubjectPublicKeyInfo (the CSR is still signed with `key`). */
  spki?: Uint8Array;
  mangleSignature?: (sig: Uint8Array) => Uint8Array;
  signingKey?: KeyObject;
}

export function buildCsr(o: CsrOptions = {}): Uint8Array {
  const k = o.key ?? key('p256');
  const alg = o.sigAlg ?? defaultSigAlg(k.kind);
  const attributes = [...(o.rawAttributes ?? []), ...(o.extensions?.length ? [extensionRequest(o.extensions)] : [])];
  const tbs = der.sequence(der.integer(0), o.subject ?? nodeName(), o.spki ?? k.spki, der.tlv(0xa0, ...attributes));
  let signature = signWith(alg, tbs, o.signingKey ?? k.privateKey);
  if (o.mangleSignature) signature = o.mangleSignature(signature);
  return der.sequence(tbs, o.algorithmIdentifier ?? algorithmIdentifier(alg), der.bitString(signature));
}

export function flipLastByte(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b);
  c[c.length - 1]! ^= 0x01;
  return c;
}

// ---- CAs ----------------------------------------------------------------------------

export interface TestCa {
  key: KeyPair;
  certificate: Uint8Array;
  certificatePem: string;
  subjectKeyId: Uint8Array | undefined;
  rawSubject: Uint8Array;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A self-signed CA certificate like kubeadm's (CN=kubernetes, CA:TRUE, keyCertSign), optionally without SKI. */
export function makeCa(kind: KeyKind, o: { subjectKeyId?: boolean; commonName?: string; nowMs?: number; fresh?: boolean } = {}): TestCa {
  const k = o.fresh ? freshKey(kind) : key(kind);
  const now = o.nowMs ?? Date.now();
  const subject = name([{ oid: OID.CN, value: o.commonName ?? 'kubernetes', tag: STRING_TAG.printable }]);
  const alg = defaultSigAlg(kind);
  const keyBits = subjectPublicKeyBits(k.spki);
  const ski = o.subjectKeyId === false ? undefined : createHash('sha1').update(keyBits).digest();
  const extensions = [
    der.sequence(der.oid('2.5.29.15'), der.boolean(true), der.octetString(der.tlv(0x03, Uint8Array.of(0x02, 0xa4)))), // digitalSignature, keyEncipherment, keyCertSign
    der.sequence(der.oid('2.5.29.19'), der.boolean(true), der.octetString(der.sequence(der.boolean(true)))),
    ...(ski ? [der.sequence(der.oid('2.5.29.14'), der.octetString(der.octetString(ski)))] : []),
  ];
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(Uint8Array.of(0x01, 0x23, 0x45)),
    algorithmIdentifier(alg),
    subject,
    der.sequence(der.time(now - DAY_MS), der.time(now + 3650 * DAY_MS)),
    subject,
    k.spki,
    der.explicit(3, der.sequence(...extensions)),
  );
  const certificate = der.sequence(tbs, algorithmIdentifier(alg), der.bitString(signWith(alg, tbs, k.privateKey)));
  return { key: k, certificate, certificatePem: encodePem('CERTIFICATE', certificate), subjectKeyId: ski, rawSubject: subject };
}

function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const [, bits] = children(readSingle(spki, Tag.Sequence));
  return content(bits!).subarray(1);
}

export type KeyFormat = 'pkcs1' | 'sec1' | 'pkcs8';

export function keyPem(k: KeyPair, format: KeyFormat): string {
  return k.privateKey.export({ format: 'pem', type: format } as never) as unknown as string;
}

/** Writes ca.crt and ca.key into `dir` (created if needed). */
export async function writeCaFiles(dir: string, ca: TestCa, format: KeyFormat): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'ca.crt'), ca.certificatePem);
  await writeFile(path.join(dir, 'ca.key'), keyPem(ca.key, format), { mode: 0o600 });
}

/**
 * A synthetic AMD SEV-SNP PKI for tests and benchmarks (sev-snp-attestation.md
 * §6): ARK → ASK → VCEK and ARK → ASVK → VLEK with AMD's key types, names,
 * extension sets and encodings, so that a validator that accepts AMD's
 * certificates accepts these once its config trusts the synthetic ARK
 * (`amdRootKey`), and nothing else changes.
 *
 * Shape, copied from the real certificates (shared/vectors/amd/ask_ark_milan*.pem,
 * constellation …/snp/testdata/vcek.pem, vlek.pem):
 * - every certificate: X.509 v3, signed RSASSA-PSS (SHA-384, MGF1-SHA-384,
 *   salt 48, trailerField 1 written out as AMD does); subject and issuer
 *   `OU=Engineering (UTF8), C=US (Printable), L=Santa Clara, ST=CA,
 *   O=Advanced Micro Devices, CN=… (UTF8)` in that order;
 * - ARK (`ARK-Milan`, serial 0x10000, RSA-4096, self-signed): KeyUsage
 *   critical keyCertSign|cRLSign, SubjectKeyIdentifier, BasicConstraints
 *   critical CA, CRL DP …/vcek/v1/Milan/crl;
 * - ASK (`SEV-Milan`, 0x10001) / ASVK (`SEV-VLEK-Milan`, 0x10101), RSA-4096:
 *   SKI, AKI (the ARK's SKI), BasicConstraints critical CA pathlen 0,
 *   KeyUsage critical keyCertSign, CRL DP (vcek / vlek);
 * - VCEK (`SEV-VCEK`) / VLEK (`SEV-VLEK`), ECDSA P-384, serial 0, only the AMD
 *   KDS extensions in AMD's order: .1 structVersion INTEGER 0, .2 productName
 *   IA5String (`Milan-B0` / `Milan`), .3.1 blSPL, .3.2 teeSPL, .3.4–.3.7
 *   spl4–7, .3.3 snpSPL, .3.8 ucodeSPL (INTEGERs), then .4 hwID (the 64
 *   CHIP_ID bytes as the raw extension value, no inner tag) for a VCEK or
 *   .5 cspID (IA5String) for a VLEK. Validity: ARK/ASK/ASVK AMD's real dates;
 *   VCEK 7 years and VLEK 13 months from `leafNotBefore` (default: UTC
 *   midnight 30 days before the PKI object was made).
 *
 * Everything is a function of the seed: keys come from synthetic-keys.ts and
 * RSA-PSS signatures use a salt derived from the message (EMSA-PSS computed
 * here, the RSA operation by OpenSSL), so two processes with the same seed
 * produce byte-identical CA certificates. Deriving the three RSA-4096 keys
 * takes a few seconds; keys are cached per process and created lazily (an
 * Azure or GCP test never derives the ASVK). A PKI directory (`save`,
 * `loadSyntheticAmdPki`, `loadOrCreateSyntheticAmdPki`) keeps keys and
 * certificates as PEM so short-lived processes (`joinservice issue` per aTLS
 * handshake) start in milliseconds.
 *
 * Trusting the synthetic ARK accepts forged attestations (the keys are
 * public knowledge): test and benchmark configs only.
 */
import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  privateEncrypt,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { children, content, readSingle, Tag } from '../../../../shared/der/decode.js';
import { boolean, bitString, explicit, integer, octetString, oid, pem, printableString, sequence, set, time, tlv, utf8String } from '../../../../shared/der/encode.js';
import { decodeTcbVersion, encodeTcbVersion, type SnpTcbParts, type SnpTcbVersion } from '../report/tcb-version.js';
import { deriveSyntheticP384Key, deriveSyntheticRsaKey } from './synthetic-keys.js';

export type AmdProductLine = 'Milan' | 'Genoa' | 'Turin';
export type SyntheticCaRole = 'ark' | 'ask' | 'asvk';
export type SyntheticLeafRole = 'vcek' | 'vlek';
export type SyntheticRole = SyntheticCaRole | SyntheticLeafRole;

/** Seed of the default synthetic PKI (every process derives the same keys from it). */
export const SYNTHETIC_AMD_DEFAULT_SEED = 'joinservice synthetic AMD PKI v1';
/** Default platform TCB: bootloader 3, TEE 0, SNP 8, microcode 115 (the test configs' minimums). */
export const SYNTHETIC_DEFAULT_TCB: Readonly<SnpTcbParts> = { blSpl: 3, teeSpl: 0, spl4: 0, spl5: 0, spl6: 0, spl7: 0, snpSpl: 8, ucodeSpl: 115 };
/** Default VLEK CSP ID (as in AWS's VLEKs). */
export const SYNTHETIC_DEFAULT_CSP_ID = 'CN=cc-us-east-2.amazonaws.com';
/** Environment variable naming a PKI directory for defaultSyntheticAmdPki(). */
export const SYNTHETIC_AMD_PKI_DIR_ENV = 'JOINSERVICE_SYNTHETIC_AMD_PKI_DIR';

/** The AMD KDS extension OIDs (§6.1). */
export const KDS_EXTENSION_OIDS = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  spl4: '1.3.6.1.4.1.3704.1.3.4',
  spl5: '1.3.6.1.4.1.3704.1.3.5',
  spl6: '1.3.6.1.4.1.3704.1.3.6',
  spl7: '1.3.6.1.4.1.3704.1.3.7',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const;

const OID = {
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  sha384: '2.16.840.1.101.3.4.2.2',
  keyUsage: '2.5.29.15',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
} as const;

/** One X.509 extension: `value` is the DER inside extnValue's OCTET STRING. */
export interface CertificateExtension {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

export interface SyntheticCertificate {
  role: SyntheticRole;
  der: Uint8Array;
  /** One PEM `CERTIFICATE` block (64-character lines, trailing newline), as Go's pem.Encode writes it. */
  pem: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  subjectCn: string;
  notBefore: Date;
  notAfter: Date;
}

// ---------------------------------------------------------------------------
// DER building blocks

const NULL = Uint8Array.of(0x05, 0x00);
const ia5String = (s: string): Uint8Array => {
  if ([...s].some((c) => c.charCodeAt(0) > 0x7f)) throw new RangeError(`${JSON.stringify(s)} is not IA5 (ASCII)`);
  return tlv(0x16, Buffer.from(s, 'latin1'));
};

/** AlgorithmIdentifier of AMD's signatures: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48, trailerField 1 (explicit). */
export const RSASSA_PSS_SHA384_ALGORITHM: Uint8Array = sequence(
  oid(OID.rsassaPss),
  sequence(
    explicit(0, sequence(oid(OID.sha384), NULL)),
    explicit(1, sequence(oid(OID.mgf1), sequence(oid(OID.sha384), NULL))),
    explicit(2, integer(48)),
    explicit(3, integer(1)),
  ),
);

/** AMD's Name: OU, C, L, ST, O, CN, one RDN each. */
export function amdName(commonName: string): Uint8Array {
  return sequence(
    set(sequence(oid('2.5.4.11'), utf8String('Engineering'))),
    set(sequence(oid('2.5.4.6'), printableString('US'))),
    set(sequence(oid('2.5.4.7'), utf8String('Santa Clara'))),
    set(sequence(oid('2.5.4.8'), utf8String('CA'))),
    set(sequence(oid('2.5.4.10'), utf8String('Advanced Micro Devices'))),
    set(sequence(oid('2.5.4.3'), utf8String(commonName))),
  );
}

function spkiDer(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
}

/** RFC 5280 key identifier method 1: SHA-1 of subjectPublicKey (the BIT STRING's bytes), as AMD's SKIs are. */
export function subjectKeyIdentifier(key: KeyObject): Uint8Array {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const [, bits] = children(readSingle(spkiDer(key), Tag.Sequence));
  if (!bits || bits.tag !== Tag.BitString) throw new Error('SubjectPublicKeyInfo without a BIT STRING');
  return new Uint8Array(createHash('sha1').update(content(bits).subarray(1)).digest());
}

function extensionDer(e: CertificateExtension): Uint8Array {
  return e.critical ? sequence(oid(e.oid), boolean(true), octetString(e.value)) : sequence(oid(e.oid), octetString(e.value));
}

function crlDistributionPoint(url: string): Uint8Array {
  // CRLDistributionPoints ::= SEQUENCE OF DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
  return sequence(sequence(explicit(0, explicit(0, tlv(0x86, Buffer.from(url, 'latin1'))))));
}

// ---------------------------------------------------------------------------
// Deterministic RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48)

function mgf1Sha384(seed: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0, have = 0; have < length; counter++, have += 48) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(createHash('sha384').update(seed).update(c).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/**
 * RSASSA-PSS signature with SHA-384, MGF1-SHA-384 and a 48-byte salt that is
 * derived from the message (RFC 8017 §9.1.1 EMSA-PSS-ENCODE, then the raw RSA
 * private operation), so equal inputs give equal signatures. Verifies as any
 * PSS signature does.
 */
export function signRsaPssSha384(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  const modBits = privateKey.asymmetricKeyDetails?.modulusLength;
  if (privateKey.asymmetricKeyType !== 'rsa' || modBits === undefined) throw new TypeError('RSA-PSS signing needs an RSA private key');
  const hLen = 48;
  const sLen = 48;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (emLen < hLen + sLen + 2) throw new RangeError('RSA key too small for PSS with SHA-384');
  const mHash = createHash('sha384').update(message).digest();
  const salt = createHmac('sha384', 'synthetic AMD PKI RSA-PSS salt').update(mHash).digest().subarray(0, sLen);
  const h = createHash('sha384').update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - sLen - hLen - 2] = 0x01;
  salt.copy(db, emLen - sLen - hLen - 1);
  const mask = mgf1Sha384(h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.of(0xbc)]);
  const k = Math.ceil(modBits / 8);
  const input = em.length === k ? em : Buffer.concat([Buffer.alloc(k - em.length), em]);
  return new Uint8Array(privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, input));
}

// ---------------------------------------------------------------------------
// Certificates

export interface SyntheticCertificateSpec {
  /** Serial number: a number or big-endian magnitude bytes (0 for VCEK/VLEK). */
  serial: number | Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The certified key (public or private). */
  subjectKey: KeyObject;
  extensions: readonly CertificateExtension[];
  /** RSA private key of the issuer. */
  signingKey: KeyObject;
}

/** The DER of an AMD-style certificate (v3, RSASSA-PSS SHA-384 signature). */
export function issueSyntheticCertificate(spec: SyntheticCertificateSpec): Uint8Array {
  const tbs = sequence(
    explicit(0, integer(2)),
    integer(spec.serial),
    RSASSA_PSS_SHA384_ALGORITHM,
    spec.issuer,
    sequence(time(spec.notBefore.getTime()), time(spec.notAfter.getTime())),
    spec.subject,
    spkiDer(spec.subjectKey),
    explicit(3, sequence(...spec.extensions.map(extensionDer))),
  );
  return new Uint8Array(sequence(tbs, RSASSA_PSS_SHA384_ALGORITHM, bitString(signRsaPssSha384(spec.signingKey, tbs))));
}

/** The KDS extensions of a VCEK (hwID) or VLEK (cspID), in AMD's order. */
export function kdsExtensions(
  o: { productName: string; tcb: SnpTcbParts } & ({ hwId: Uint8Array; cspId?: undefined } | { cspId: string; hwId?: undefined }),
): CertificateExtension[] {
  const K = KDS_EXTENSION_OIDS;
  const spl = (name: keyof SnpTcbParts): CertificateExtension => ({ oid: K[name], value: integer(o.tcb[name]) });
  const out: CertificateExtension[] = [
    { oid: K.structVersion, value: integer(0) },
    { oid: K.productName, value: ia5String(o.productName) },
    spl('blSpl'),
    spl('teeSpl'),
    spl('spl4'),
    spl('spl5'),
    spl('spl6'),
    spl('spl7'),
    spl('snpSpl'),
    spl('ucodeSpl'),
  ];
  if (o.hwId !== undefined) out.push({ oid: K.hwId, value: new Uint8Array(o.hwId) });
  else out.push({ oid: K.cspId, value: ia5String(o.cspId) });
  return out;
}

interface CaProfile {
  cn: string;
  serial: number;
  notBefore: string;
  notAfter: string;
  crl: string;
}

const KDS = 'https://kdsintf.amd.com';

/** AMD's CA certificates' names, serials and validity per product line (shared/vectors/amd/README.md). */
function caProfiles(product: AmdProductLine): Record<SyntheticCaRole, CaProfile> {
  const base = { Milan: 0x10000, Genoa: 0x20000, Turin: 0x30000 }[product];
  const dates = {
    Milan: { ark: ['2020-10-22T17:23:05Z', '2045-10-22T17:23:05Z'], ask: ['2020-10-22T18:24:20Z', '2045-10-22T18:24:20Z'], asvk: ['2022-11-16T22:45:24Z', '2047-11-16T22:45:24Z'] },
    Genoa: { ark: ['2022-01-26T00:00:00Z', '2047-01-26T00:00:00Z'], ask: ['2022-10-31T00:00:00Z', '2047-10-31T00:00:00Z'], asvk: ['2022-11-18T00:00:00Z', '2047-11-18T00:00:00Z'] },
    Turin: { ark: ['2023-05-15T00:00:00Z', '2048-05-15T00:00:00Z'], ask: ['2023-05-15T00:00:00Z', '2048-05-15T00:00:00Z'], asvk: ['2023-05-15T00:00:00Z', '2048-05-15T00:00:00Z'] },
  }[product];
  const askSerial = product === 'Genoa' ? base + 2 : base + 1;
  return {
    ark: { cn: `ARK-${product}`, serial: base, notBefore: dates.ark[0]!, notAfter: dates.ark[1]!, crl: `${KDS}/vcek/v1/${product}/crl` },
    ask: { cn: `SEV-${product}`, serial: askSerial, notBefore: dates.ask[0]!, notAfter: dates.ask[1]!, crl: `${KDS}/vcek/v1/${product}/crl` },
    asvk: { cn: `SEV-VLEK-${product}`, serial: base + 0x101, notBefore: dates.asvk[0]!, notAfter: dates.asvk[1]!, crl: `${KDS}/vlek/v1/${product}/crl` },
  };
}

/** A TCB given raw or by parts (missing parts 0; a `raw` member of a spread SnpTcbVersion is ignored in favour of the parts). */
function tcbParts(tcb: bigint | Partial<SnpTcbParts> | undefined, dflt: bigint): SnpTcbVersion {
  if (tcb === undefined) return decodeTcbVersion(dflt);
  if (typeof tcb === 'bigint') return decodeTcbVersion(tcb);
  return decodeTcbVersion(encodeTcbVersion(tcb));
}

function seedBytes(seed: string | Uint8Array): Uint8Array {
  return typeof seed === 'string' ? new Uint8Array(Buffer.from(seed, 'utf8')) : new Uint8Array(seed);
}

const DAY_MS = 86_400_000;

function addMonths(d: Date, months: number): Date {
  const out = new Date(d.getTime());
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

function certificateOf(role: SyntheticRole, der: Uint8Array, privateKey: KeyObject): SyntheticCertificate {
  const x = new X509Certificate(der);
  const publicKey = createPublicKey(privateKey);
  if (!x.publicKey.equals(publicKey)) throw new Error(`the ${role} certificate does not certify the ${role} key`);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? '';
  return { role, der: new Uint8Array(der), pem: pem('CERTIFICATE', der), privateKey, publicKey, subjectCn: cn, notBefore: x.validFromDate, notAfter: x.validToDate };
}

export interface SyntheticAmdPkiOptions {
  /** Seed of every derived key (UTF-8 when a string); default SYNTHETIC_AMD_DEFAULT_SEED. */
  seed?: string | Uint8Array;
  /** Product line of the names (only Milan is trusted by Constellation); default Milan. */
  product?: AmdProductLine;
  /** The platform's 64-byte CHIP_ID (the VCEK's hwID); default derived from the seed. */
  chipId?: Uint8Array;
  /** The platform's TCB (the default VCEK/VLEK's SPLs); default SYNTHETIC_DEFAULT_TCB. */
  tcb?: bigint | Partial<SnpTcbParts>;
  /** The VLEK's cspID; default SYNTHETIC_DEFAULT_CSP_ID. */
  cspId?: string;
  /** VCEK productName; default `<product>-B0`. */
  vcekProductName?: string;
  /** VLEK productName; default `<product>`. */
  vlekProductName?: string;
  /** notBefore of VCEK/VLEK certificates; default UTC midnight 30 days before now. */
  leafNotBefore?: Date;
  /** Keys to use instead of derived ones (vcek/vlek: the default leaves' keys). */
  keys?: Partial<Record<SyntheticRole, KeyObject>>;
  /** Certificates (DER) to use instead of issuing them (leaves: the default ones, ignored when no longer valid). */
  certificates?: Partial<Record<SyntheticRole, Uint8Array>>;
}

/** Parameters of one VCEK/VLEK (KDS issues one per chip or CSP and TCB). */
export interface EndorsementCertificateOptions {
  /** VCEK: the hwID; default the PKI's chip id. */
  chipId?: Uint8Array;
  /** VLEK: the cspID; default the PKI's. */
  cspId?: string;
  /** The certificate TCB; default the PKI's. */
  tcb?: bigint | Partial<SnpTcbParts>;
  productName?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** For negative tests: rewrites the extension list. */
  extensions?: (defaults: CertificateExtension[]) => CertificateExtension[];
  /** For negative tests: the certified key (default derived from seed, chip/CSP and TCB). */
  privateKey?: KeyObject;
  /** For negative tests: signs with this RSA key instead of the ASK/ASVK (issuer name unchanged). */
  signingKey?: KeyObject;
  /** For negative tests: names. */
  subjectCn?: string;
  issuerCn?: string;
  serial?: number;
}

/** The synthetic PKI; see the module comment. Certificates are made on first use and kept. */
export class SyntheticAmdPki {
  readonly seed: Uint8Array;
  readonly product: AmdProductLine;
  readonly chipId: Uint8Array;
  readonly tcb: SnpTcbVersion;
  readonly cspId: string;
  readonly vcekProductName: string;
  readonly vlekProductName: string;
  readonly leafNotBefore: Date;
  private readonly keys: Partial<Record<SyntheticRole, KeyObject>>;
  private readonly givenCerts: Partial<Record<SyntheticRole, Uint8Array>>;
  private readonly cas = new Map<SyntheticCaRole, SyntheticCertificate>();
  private readonly leaves = new Map<string, SyntheticCertificate>();

  constructor(o: SyntheticAmdPkiOptions = {}) {
    this.seed = seedBytes(o.seed ?? SYNTHETIC_AMD_DEFAULT_SEED);
    this.product = o.product ?? 'Milan';
    if (!['Milan', 'Genoa', 'Turin'].includes(this.product)) throw new RangeError(`unknown product line ${JSON.stringify(this.product)}`);
    const chipId = o.chipId ?? createHash('sha512').update(this.seed).update('CHIP_ID').digest();
    if (chipId.length !== 64) throw new RangeError(`a CHIP_ID has 64 bytes, got ${chipId.length}`);
    this.chipId = new Uint8Array(chipId);
    this.tcb = tcbParts(o.tcb, encodeTcbVersion(SYNTHETIC_DEFAULT_TCB));
    this.cspId = o.cspId ?? SYNTHETIC_DEFAULT_CSP_ID;
    this.vcekProductName = o.vcekProductName ?? `${this.product}-B0`;
    this.vlekProductName = o.vlekProductName ?? this.product;
    this.leafNotBefore = o.leafNotBefore ?? new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - 30 * DAY_MS);
    this.keys = { ...o.keys };
    this.givenCerts = { ...o.certificates };
  }

  /** AMD Root Key certificate (self-signed RSA-4096); its PEM is the config's `amdRootKey`. */
  get ark(): SyntheticCertificate {
    return this.ca('ark');
  }

  /** AMD SEV Signing Key (signs VCEKs). */
  get ask(): SyntheticCertificate {
    return this.ca('ask');
  }

  /** AMD SEV VLEK Signing Key (signs VLEKs). */
  get asvk(): SyntheticCertificate {
    return this.ca('asvk');
  }

  /** The RSA key of a CA role (derived from the seed unless given). */
  caKey(role: SyntheticCaRole): KeyObject {
    let key = this.keys[role];
    if (!key) {
      key = deriveSyntheticRsaKey(this.seed, `${this.product} ${role.toUpperCase()}`);
      this.keys[role] = key;
    }
    return key;
  }

  private ca(role: SyntheticCaRole): SyntheticCertificate {
    const have = this.cas.get(role);
    if (have) return have;
    const key = this.caKey(role);
    const given = this.givenCerts[role];
    let cert: SyntheticCertificate;
    if (given) {
      cert = certificateOf(role, given, key);
    } else {
      const p = caProfiles(this.product)[role];
      const ski = subjectKeyIdentifier(key);
      let extensions: CertificateExtension[];
      let signingKey: KeyObject;
      let issuer: Uint8Array;
      if (role === 'ark') {
        signingKey = key;
        issuer = amdName(p.cn);
        extensions = [
          { oid: OID.keyUsage, critical: true, value: Uint8Array.of(0x03, 0x02, 0x01, 0x06) },
          { oid: OID.subjectKeyId, value: octetString(ski) },
          { oid: OID.basicConstraints, critical: true, value: sequence(boolean(true)) },
          { oid: OID.crlDistributionPoints, value: crlDistributionPoint(p.crl) },
        ];
      } else {
        const ark = this.ark;
        signingKey = ark.privateKey;
        issuer = amdName(ark.subjectCn);
        extensions = [
          { oid: OID.subjectKeyId, value: octetString(ski) },
          { oid: OID.authorityKeyId, value: sequence(tlv(0x80, subjectKeyIdentifier(ark.privateKey))) },
          { oid: OID.basicConstraints, critical: true, value: sequence(boolean(true), integer(0)) },
          { oid: OID.keyUsage, critical: true, value: Uint8Array.of(0x03, 0x02, 0x01, 0x04) },
          { oid: OID.crlDistributionPoints, value: crlDistributionPoint(p.crl) },
        ];
      }
      const der = issueSyntheticCertificate({
        serial: p.serial,
        issuer,
        subject: amdName(p.cn),
        notBefore: new Date(p.notBefore),
        notAfter: new Date(p.notAfter),
        subjectKey: key,
        extensions,
        signingKey,
      });
      cert = certificateOf(role, der, key);
    }
    this.cas.set(role, cert);
    return cert;
  }

  /** A VCEK (ECDSA P-384, signed by the ASK) for a chip and TCB; the default one without options. */
  vcek(o: EndorsementCertificateOptions = {}): SyntheticCertificate {
    return this.leaf('vcek', o);
  }

  /** A VLEK (ECDSA P-384, signed by the ASVK) for a CSP and TCB; the default one without options. */
  vlek(o: EndorsementCertificateOptions = {}): SyntheticCertificate {
    return this.leaf('vlek', o);
  }

  /** The default leaf's key (or the one for these parameters). */
  leafKey(role: SyntheticLeafRole, o: Pick<EndorsementCertificateOptions, 'chipId' | 'cspId' | 'tcb'> = {}): KeyObject {
    const tcb = tcbParts(o.tcb, this.tcb.raw);
    const who = role === 'vcek' ? Buffer.from(o.chipId ?? this.chipId).toString('hex') : (o.cspId ?? this.cspId);
    const isDefault = tcb.raw === this.tcb.raw && (role === 'vcek' ? Buffer.from(o.chipId ?? this.chipId).equals(this.chipId) : who === this.cspId);
    if (isDefault && this.keys[role]) return this.keys[role];
    const key = deriveSyntheticP384Key(this.seed, `${this.product} ${role.toUpperCase()} ${who} ${tcb.raw.toString(16)}`);
    if (isDefault) this.keys[role] = key;
    return key;
  }

  private leaf(role: SyntheticLeafRole, o: EndorsementCertificateOptions): SyntheticCertificate {
    const tcb = tcbParts(o.tcb, this.tcb.raw);
    const chipId = o.chipId ?? this.chipId;
    if (role === 'vcek' && chipId.length !== 64) throw new RangeError(`a CHIP_ID has 64 bytes, got ${chipId.length}`);
    const cspId = o.cspId ?? this.cspId;
    const productName = o.productName ?? (role === 'vcek' ? this.vcekProductName : this.vlekProductName);
    const notBefore = o.notBefore ?? this.leafNotBefore;
    const notAfter = o.notAfter ?? addMonths(notBefore, role === 'vcek' ? 7 * 12 : 13);
    const custom = o.extensions !== undefined || o.privateKey !== undefined || o.signingKey !== undefined || o.subjectCn !== undefined || o.issuerCn !== undefined || o.serial !== undefined;
    const id = [role, role === 'vcek' ? Buffer.from(chipId).toString('hex') : cspId, tcb.raw.toString(16), productName, notBefore.toISOString(), notAfter.toISOString()].join('|');
    const isDefault =
      !custom &&
      o.notBefore === undefined &&
      o.notAfter === undefined &&
      tcb.raw === this.tcb.raw &&
      productName === (role === 'vcek' ? this.vcekProductName : this.vlekProductName) &&
      (role === 'vcek' ? Buffer.from(chipId).equals(this.chipId) : cspId === this.cspId);
    if (!custom) {
      const have = this.leaves.get(isDefault ? role : id);
      if (have) return have;
    }
    const privateKey = o.privateKey ?? this.leafKey(role, { chipId, cspId, tcb });
    const given = isDefault ? this.givenCerts[role] : undefined;
    if (given) {
      const cert = certificateOf(role, given, privateKey);
      const now = Date.now();
      if (cert.notBefore.getTime() <= now && cert.notAfter.getTime() > now + DAY_MS) {
        this.leaves.set(role, cert);
        return cert;
      }
    }
    const issuerCa = role === 'vcek' ? this.ask : this.asvk;
    const extensions = kdsExtensions(role === 'vcek' ? { productName, tcb, hwId: chipId } : { productName, tcb, cspId });
    const der = issueSyntheticCertificate({
      serial: o.serial ?? 0,
      issuer: amdName(o.issuerCn ?? issuerCa.subjectCn),
      subject: amdName(o.subjectCn ?? (role === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK')),
      notBefore,
      notAfter,
      subjectKey: privateKey,
      extensions: o.extensions ? o.extensions(extensions) : extensions,
      signingKey: o.signingKey ?? issuerCa.privateKey,
    });
    const cert = certificateOf(role, der, privateKey);
    if (!custom) this.leaves.set(isDefault ? role : id, cert);
    return cert;
  }

  /** KDS `cert_chain` form: ASK then ARK (PEM), what Azure's THIM returns as `certificateChain`. */
  vcekChainPem(): string {
    return this.ask.pem + this.ark.pem;
  }

  /** KDS VLEK `cert_chain` form: ASVK then ARK (PEM). */
  vlekChainPem(): string {
    return this.asvk.pem + this.ark.pem;
  }

  /**
   * Writes the PKI into `dir` (created if missing): pki.json, <role>.pem and
   * <role>.key (PKCS#8, mode 0600) for ark, ask, asvk, vcek, vlek, plus
   * cert_chain.pem (ASK+ARK) and vlek_cert_chain.pem (ASVK+ARK). Derives
   * every key that was not derived yet.
   */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certs: Record<SyntheticRole, SyntheticCertificate> = { ark: this.ark, ask: this.ask, asvk: this.asvk, vcek: this.vcek(), vlek: this.vlek() };
    for (const [role, c] of Object.entries(certs)) {
      writeFileSync(join(dir, `${role}.pem`), c.pem);
      writeFileSync(join(dir, `${role}.key`), c.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    writeFileSync(join(dir, 'cert_chain.pem'), this.vcekChainPem());
    writeFileSync(join(dir, 'vlek_cert_chain.pem'), this.vlekChainPem());
    const manifest: SyntheticAmdPkiManifest = {
      format: MANIFEST_FORMAT,
      seed: Buffer.from(this.seed).toString('hex'),
      product: this.product,
      chipId: Buffer.from(this.chipId).toString('hex'),
      tcb: { blSpl: this.tcb.blSpl, teeSpl: this.tcb.teeSpl, spl4: this.tcb.spl4, spl5: this.tcb.spl5, spl6: this.tcb.spl6, spl7: this.tcb.spl7, snpSpl: this.tcb.snpSpl, ucodeSpl: this.tcb.ucodeSpl },
      cspId: this.cspId,
      vcekProductName: this.vcekProductName,
      vlekProductName: this.vlekProductName,
    };
    writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  }
}

const MANIFEST = 'pki.json';
const MANIFEST_FORMAT = 'joinservice synthetic AMD PKI v1';

interface SyntheticAmdPkiManifest {
  format: string;
  seed: string;
  product: AmdProductLine;
  chipId: string;
  tcb: SnpTcbParts;
  cspId: string;
  vcekProductName: string;
  vlekProductName: string;
}

/**
 * Loads a PKI directory written by `save` (a fixture directory may also hold
 * keys and certificates made elsewhere: every <role>.key / <role>.pem present
 * is used, missing ones are derived from the manifest's seed). Leaf
 * certificates that are expired or expire within a day are re-issued in
 * memory.
 */
export function loadSyntheticAmdPki(dir: string): SyntheticAmdPki {
  const manifestPath = join(dir, MANIFEST);
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Partial<SyntheticAmdPkiManifest>;
  if (m.format !== MANIFEST_FORMAT) throw new Error(`${manifestPath}: not a synthetic AMD PKI manifest (format ${JSON.stringify(m.format)})`);
  const keys: Partial<Record<SyntheticRole, KeyObject>> = {};
  const certificates: Partial<Record<SyntheticRole, Uint8Array>> = {};
  for (const role of ['ark', 'ask', 'asvk', 'vcek', 'vlek'] as const) {
    const keyPath = join(dir, `${role}.key`);
    const certPath = join(dir, `${role}.pem`);
    if (existsSync(keyPath)) keys[role] = createPrivateKey(readFileSync(keyPath));
    if (existsSync(certPath)) certificates[role] = new Uint8Array(new X509Certificate(readFileSync(certPath)).raw);
  }
  return new SyntheticAmdPki({
    seed: Buffer.from(m.seed ?? '', 'hex'),
    product: m.product,
    chipId: m.chipId === undefined ? undefined : Buffer.from(m.chipId, 'hex'),
    tcb: m.tcb,
    cspId: m.cspId,
    vcekProductName: m.vcekProductName,
    vlekProductName: m.vlekProductName,
    keys,
    certificates,
  });
}

/**
 * The PKI in `dir`: loaded when `dir/pki.json` exists, otherwise made from
 * `options`, written to a temporary sibling directory and renamed into place
 * (so concurrent processes never see a partial directory; a loser of the race
 * loads the winner's). `options` are ignored when the directory exists.
 */
export function loadOrCreateSyntheticAmdPki(dir: string, options: SyntheticAmdPkiOptions = {}): SyntheticAmdPki {
  if (existsSync(join(dir, MANIFEST))) return loadSyntheticAmdPki(dir);
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const pki = new SyntheticAmdPki(options);
  const tmp = mkdtempSync(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    pki.save(tmp);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (existsSync(join(dir, MANIFEST))) return loadSyntheticAmdPki(dir);
    throw new Error(`cannot create the synthetic AMD PKI in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return pki;
}

let processPki: SyntheticAmdPki | undefined;

/**
 * The process-wide default PKI (seed SYNTHETIC_AMD_DEFAULT_SEED): loaded from
 * (or created in) the directory named by $JOINSERVICE_SYNTHETIC_AMD_PKI_DIR when
 * set, else derived in memory on first use. Same seed, same keys either way.
 */
export function defaultSyntheticAmdPki(): SyntheticAmdPki {
  if (!processPki) {
    const dir = process.env[SYNTHETIC_AMD_PKI_DIR_ENV];
    processPki = dir ? loadOrCreateSyntheticAmdPki(dir) : new SyntheticAmdPki();
  }
  return processPki;
}

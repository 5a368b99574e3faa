/**
 * Go's x509 processExtensions (crypto/x509/parser.go, Go 1.24 — read from
 * golang/go at commit db60962b, the 1.24-era parser with policy-constraint
 * parsing and without ML-DSA): which extensions Go understands, the checks it
 * applies to their values (failures are certificate parse errors), and which
 * critical extensions it records as unhandled, making x509.Verify fail.
 *
 * Handled (a critical one passes) — id-ce 2.5.29.x:
 *   15 keyUsage, 19 basicConstraints, 31 cRLDistributionPoints,
 *   32 certificatePolicies, 33 policyMappings, 36 policyConstraints,
 *   37 extKeyUsage, 54 inhibitAnyPolicy;
 *   17 subjectAltName only if it yields at least one rfc822Name, dNSName,
 *      URI or iPAddress (otherwise a critical SAN is unhandled);
 *   30 nameConstraints only if every subtree base is a dNSName, rfc822Name,
 *      iPAddress or URI.
 * Rejected outright when critical (parse error): 14 subjectKeyIdentifier,
 *   35 authorityKeyIdentifier, 1.3.6.1.5.5.7.1.1 authorityInfoAccess.
 * Every other critical extension is unhandled.
 *
 * Approximations (Go is stricter or different only in corner cases no aTLS
 * peer produces): URI SAN values are checked for control characters and host
 * labels, not with a full net/url parser; rfc822Name constraints containing
 * '@' get a simplified mailbox check.
 */
import { isIP } from 'node:net';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import {
  contentOf,
  DerCursor,
  isValidOidDer,
  readBitString,
  readBoolean,
  readInt64,
  readOid,
  readUint64,
  T,
} from './der-cursor.js';

export interface Extension {
  oid: string;
  critical: boolean;
  /** extnValue content (the bytes inside the OCTET STRING). */
  value: Uint8Array;
}

export interface ProcessedExtensions {
  /** Dotted OIDs of critical extensions Go does not handle, in certificate order. */
  unhandledCritical: string[];
  /** EKU OIDs (known and unknown to Go) of the extKeyUsage extension; empty when absent. */
  extKeyUsage: string[];
}

export const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
const OID_AUTHORITY_INFO_ACCESS = '1.3.6.1.5.5.7.1.1';
const ID_CE = '2.5.29.';

const MAX_INT64 = (1n << 63n) - 1n;

function fail(message: string): never {
  throw new JoinServiceError(ErrorCode.CertParse, message);
}

export function processExtensions(extensions: readonly Extension[]): ProcessedExtensions {
  const out: ProcessedExtensions = { unhandledCritical: [], extKeyUsage: [] };
  for (const e of extensions) {
    let unhandled = false;
    const ceArc = idCeArc(e.oid);
    if (ceArc !== undefined) {
      switch (ceArc) {
        case 15:
          if (!readBitString(DerCursor.of(e.value))) fail('x509: invalid key usage');
          break;
        case 19:
          checkBasicConstraints(e.value);
          break;
        case 17:
          unhandled = !checkSubjectAltName(e.value);
          break;
        case 30:
          unhandled = checkNameConstraints(e.value);
          break;
        case 31:
          checkCrlDistributionPoints(e.value);
          break;
        case 35:
          if (e.critical) fail('x509: authority key identifier incorrectly marked critical');
          checkAuthorityKeyId(e.value);
          break;
        case 36:
          checkPolicyConstraints(e.value);
          break;
        case 37:
          out.extKeyUsage = parseExtKeyUsage(e.value);
          break;
        case 14:
          if (e.critical) fail('x509: subject key identifier incorrectly marked critical');
          if (!DerCursor.of(e.value).read(T.OctetString)) fail('x509: invalid subject key identifier');
          break;
        case 32:
          checkCertificatePolicies(e.value);
          break;
        case 33:
          checkPolicyMappings(e.value);
          break;
        case 54:
          if (readInt64(DerCursor.of(e.value)) === undefined) fail('x509: invalid inhibit any policy extension');
          break;
        default:
          unhandled = true;
      }
    } else if (e.oid === OID_AUTHORITY_INFO_ACCESS) {
      if (e.critical) fail('x509: authority info access incorrectly marked critical');
      checkAuthorityInfoAccess(e.value);
    } else {
      unhandled = true;
    }
    if (e.critical && unhandled) out.unhandledCritical.push(e.oid);
  }
  return out;
}

/** The last arc of an id-ce OID with exactly four arcs (2.5.29.x), as Go tests it. */
function idCeArc(oid: string): number | undefined {
  if (!oid.startsWith(ID_CE)) return undefined;
  const rest = oid.slice(ID_CE.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

/** Reads the first element with `tag` from an extension value (Go ignores what follows it). */
function first(value: Uint8Array, tag: number): DerCursor | undefined {
  const el = DerCursor.of(value).read(tag);
  return el ? DerCursor.inside(el) : undefined;
}

function checkBasicConstraints(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid basic constraints');
  if (c.peekTag() === T.Boolean && readBoolean(c) === undefined) fail('x509: invalid basic constraints');
  if (c.peekTag() === T.Integer) {
    const mpl = readUint64(c);
    if (mpl === undefined || mpl > MAX_INT64) fail('x509: invalid basic constraints');
  }
}

const NAME_EMAIL = 1;
const NAME_DNS = 2;
const NAME_URI = 6;
const NAME_IP = 7;

/** Returns whether at least one name Go handles was found. */
function checkSubjectAltName(value: Uint8Array): boolean {
  return parseSubjectAltName(value).handledNames > 0;
}

export interface SubjectAltNames {
  /** How many rfc822Name, dNSName, URI and iPAddress entries there are (the names Go's parseSANExtension keeps). */
  handledNames: number;
  /** The iPAddress entries (4 or 16 bytes each), in order. */
  ipAddresses: Uint8Array[];
}

/**
 * Go's parseSANExtension (via forEachSAN): the checks and error texts for a
 * subjectAltName value, as used for certificates and for the SAN a CSR
 * requests. Failures are JoinServiceError(CertParse) with Go's message.
 */
export function parseSubjectAltName(value: Uint8Array): SubjectAltNames {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid subject alternative names');
  const out: SubjectAltNames = { handledNames: 0, ipAddresses: [] };
  while (!c.empty()) {
    const el = c.readAny();
    if (!el) fail('x509: invalid subject alternative name');
    const data = contentOf(el);
    switch (el.tag ^ 0x80) {
      case NAME_EMAIL:
        if (!isIa5(data)) fail('x509: SAN rfc822Name is malformed');
        out.handledNames++;
        break;
      case NAME_DNS:
        if (!isIa5(data)) fail('x509: SAN dNSName is malformed');
        out.handledNames++;
        break;
      case NAME_URI:
        if (!isIa5(data)) fail('x509: SAN uniformResourceIdentifier is malformed');
        checkUri(ascii(data));
        out.handledNames++;
        break;
      case NAME_IP:
        if (data.length !== 4 && data.length !== 16) fail(`x509: cannot parse IP address of length ${data.length}`);
        out.ipAddresses.push(data);
        out.handledNames++;
        break;
    }
  }
  return out;
}

function checkUri(uri: string): void {
  if ([...uri].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    fail(`x509: cannot parse URI ${goQuote(uri)}: parse ${goQuote(uri)}: net/url: invalid control character in URL`);
  }
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri);
  if (!m) return;
  const authority = m[1]!;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host.length > 0 && !domainToReverseLabels(host)) fail(`x509: cannot parse URI ${goQuote(uri)}: invalid domain`);
}

/** Returns `unhandled`: whether a subtree uses a name form Go cannot check. */
function checkNameConstraints(value: Uint8Array): boolean {
  const invalid = 'x509: invalid NameConstraints extension';
  const outer = DerCursor.of(value);
  const top = outer.read(T.Sequence);
  if (!top || !outer.empty()) fail(invalid);
  const c = DerCursor.inside(top);
  const permitted = c.readOptional(0xa0);
  if (permitted === false) fail(invalid);
  const excluded = c.readOptional(0xa1);
  if (excluded === false || !c.empty()) fail(invalid);
  const permittedLen = permitted ? permitted.end - permitted.contentStart : 0;
  const excludedLen = excluded ? excluded.end - excluded.contentStart : 0;
  if ((!permitted && !excluded) || (permittedLen === 0 && excludedLen === 0)) fail('x509: empty name constraints extension');

  let unhandled = false;
  for (const subtrees of [permitted, excluded]) {
    if (!subtrees) continue;
    const s = DerCursor.inside(subtrees);
    while (!s.empty()) {
      const seq = s.read(T.Sequence);
      const base = seq && DerCursor.inside(seq).readAny();
      if (!base) fail(invalid);
      const v = contentOf(base);
      const text = ascii(v);
      switch (base.tag) {
        case 0x82: {
          requireIa5Constraint(v);
          if (!domainToReverseLabels(text.startsWith('.') ? text.slice(1) : text)) {
            fail(`x509: failed to parse dnsName constraint ${goQuote(text)}`);
          }
          break;
        }
        case 0x87: {
          if (v.length !== 8 && v.length !== 32) fail(`x509: IP constraint contained value of length ${v.length}`);
          const mask = v.subarray(v.length / 2);
          if (!isValidIpMask(mask)) fail(`x509: IP constraint contained invalid mask ${Buffer.from(mask).toString('hex')}`);
          break;
        }
        case 0x81: {
          requireIa5Constraint(v);
          const ok = text.includes('@')
            ? isPlausibleMailbox(text)
            : domainToReverseLabels(text.startsWith('.') ? text.slice(1) : text) !== undefined;
          if (!ok) fail(`x509: failed to parse rfc822Name constraint ${goQuote(text)}`);
          break;
        }
        case 0x86: {
          requireIa5Constraint(v);
          if (isIP(text) !== 0) fail(`x509: failed to parse URI constraint ${goQuote(text)}: cannot be IP address`);
          if (!domainToReverseLabels(text.startsWith('.') ? text.slice(1) : text)) {
            fail(`x509: failed to parse URI constraint ${goQuote(text)}`);
          }
          break;
        }
        default:
          unhandled = true;
      }
    }
  }
  return unhandled;
}

function requireIa5Constraint(v: Uint8Array): void {
  if (!isIa5(v)) fail(`x509: invalid constraint value: x509: ${goQuote(Buffer.from(v).toString('utf8'))} cannot be encoded as an IA5String`);
}

function isValidIpMask(mask: Uint8Array): boolean {
  let seenZero = false;
  for (const b of mask) {
    if (seenZero) {
      if (b !== 0) return false;
      continue;
    }
    if ([0x00, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe].includes(b)) seenZero = true;
    else if (b !== 0xff) return false;
  }
  return true;
}

function isPlausibleMailbox(s: string): boolean {
  const at = s.lastIndexOf('@');
  return at > 0 && domainToReverseLabels(s.slice(at + 1)) !== undefined;
}

/** Go's domainToReverseLabels: non-empty labels of printable ASCII, no trailing dot. */
function domainToReverseLabels(domain: string): string[] | undefined {
  if (domain.length === 0) return [];
  const labels = domain.split('.').reverse();
  for (const label of labels) {
    if (label.length === 0) return undefined;
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (c < 33 || c > 126) return undefined;
    }
  }
  return labels;
}

function checkCrlDistributionPoints(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid CRL distribution points');
  while (!c.empty()) {
    const dp = c.read(T.Sequence);
    if (!dp) fail('x509: invalid CRL distribution point');
    const name = DerCursor.inside(dp).readOptional(0xa0);
    if (name === false) fail('x509: invalid CRL distribution point');
    if (!name) continue;
    const fullName = DerCursor.inside(name).read(0xa0);
    if (!fullName) fail('x509: invalid CRL distribution point');
    const uris = DerCursor.inside(fullName);
    while (!uris.empty() && uris.peekTag() === 0x86) {
      if (!uris.read(0x86)) fail('x509: invalid CRL distribution point');
    }
  }
}

function checkAuthorityKeyId(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid authority key identifier');
  if (c.peekTag() === 0x80 && !c.read(0x80)) fail('x509: invalid authority key identifier');
}

function checkPolicyConstraints(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid policy constraints extension');
  for (const tag of [0x80, 0x81]) {
    if (c.peekTag() === tag && readInt64(c, tag) === undefined) fail('x509: invalid policy constraints extension');
  }
}

function parseExtKeyUsage(value: Uint8Array): string[] {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid extended key usages');
  const oids: string[] = [];
  while (!c.empty()) {
    const oid = readOid(c);
    if (oid === undefined) fail('x509: invalid extended key usages');
    oids.push(oid);
  }
  return oids;
}

function checkCertificatePolicies(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid certificate policies');
  const seen = new Set<string>();
  while (!c.empty()) {
    const cp = c.read(T.Sequence);
    const oid = cp && DerCursor.inside(cp).read(T.Oid);
    if (!oid) fail('x509: invalid certificate policies');
    const der = contentOf(oid);
    const key = Buffer.from(der).toString('hex');
    if (seen.has(key) || !isValidOidDer(der)) fail('x509: invalid certificate policies');
    seen.add(key);
  }
}

function checkPolicyMappings(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid policy mappings extension');
  while (!c.empty()) {
    const m = c.read(T.Sequence);
    const mc = m && DerCursor.inside(m);
    if (!mc || !mc.read(T.Oid) || !mc.read(T.Oid)) fail('x509: invalid policy mappings extension');
  }
}

function checkAuthorityInfoAccess(value: Uint8Array): void {
  const c = first(value, T.Sequence);
  if (!c) fail('x509: invalid authority info access');
  while (!c.empty()) {
    const ad = c.read(T.Sequence);
    if (!ad) fail('x509: invalid authority info access');
    const ac = DerCursor.inside(ad);
    if (readOid(ac) === undefined) fail('x509: invalid authority info access');
    if (ac.peekTag() !== 0x86) continue;
    if (!ac.read(0x86)) fail('x509: invalid authority info access');
  }
}

function isIa5(b: Uint8Array): boolean {
  return b.every((x) => x < 0x80);
}

function ascii(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

/** Go's %q for the ASCII strings these messages carry (JSON escaping coincides there). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * The parts of an X.509 Name go-sev-guest looks at (Go's
 * pkix.Name.FillFromRDNSequence: string-valued C, L, ST, O, OU in order, the
 * last CN) and its `validateAmdLocation` rule (sev-snp-attestation.md §6):
 * exactly one each of C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices,
 * OU=Engineering. The Name has already passed the certificate parser's
 * checks (Go's parseName), so values are well-formed strings of the types
 * Go's parseASN1String accepts.
 */
import { T } from '../../../certificate/der-cursor.js';
import { nameAttributes } from '../../../certificate/x509-name.js';

export interface AmdName {
  country: string[];
  locality: string[];
  province: string[];
  organization: string[];
  organizationalUnit: string[];
  /** The last CN; '' when none. */
  commonName: string;
}

const ATTR: Readonly<Record<string, Exclude<keyof AmdName, 'commonName'> | 'commonName'>> = {
  '2.5.4.3': 'commonName',
  '2.5.4.6': 'country',
  '2.5.4.7': 'locality',
  '2.5.4.8': 'province',
  '2.5.4.10': 'organization',
  '2.5.4.11': 'organizationalUnit',
};

/** The Go string of an attribute value, or undefined for values Go does not treat as strings. */
function attributeString(tag: number, v: Uint8Array): string | undefined {
  switch (tag) {
    case T.Utf8String:
      return Buffer.from(v).toString('utf8');
    case T.BmpString:
      return v.length % 2 === 0 ? Buffer.from(v).swap16().toString('utf16le') : undefined;
    case T.T61String:
    case T.PrintableString:
    case T.Ia5String:
    case T.NumericString:
      return Buffer.from(v).toString('latin1');
    default:
      return undefined;
  }
}

/** Reads a Name element (the whole SEQUENCE, as the parser's rawSubject / rawIssuer). */
export function readAmdName(raw: Uint8Array): AmdName {
  const out: AmdName = { country: [], locality: [], province: [], organization: [], organizationalUnit: [], commonName: '' };
  for (const { oid, tag, content } of nameAttributes(raw)) {
    const field = oid === undefined ? undefined : ATTR[oid];
    if (!field) continue;
    const text = attributeString(tag, content);
    if (text === undefined) continue;
    if (field === 'commonName') out.commonName = text;
    else out[field].push(text);
  }
  return out;
}

const AMD_LOCATION: readonly [Exclude<keyof AmdName, 'commonName'>, string, string, string][] = [
  ['country', 'country', 'countries', 'US'],
  ['locality', 'locality', 'localities', 'Santa Clara'],
  ['province', 'state', 'states', 'CA'],
  ['organization', 'organization', 'organizations', 'Advanced Micro Devices'],
  ['organizationalUnit', 'organizational unit', 'organizational units', 'Engineering'],
];

/**
 * go-sev-guest validateAmdLocation: undefined when the name carries exactly
 * AMD's location fields, else Go's error text (`role` e.g. "VCEK subject").
 */
export function amdLocationError(name: AmdName, role: string): string | undefined {
  for (const [field, singular, plural, want] of AMD_LOCATION) {
    const values = name[field];
    if (values.length !== 1) return `${role} has ${values.length} ${plural}, want 1`;
    if (values[0] !== want) return `${role} ${singular} '${values[0]}' not expected for AMD. Expected '${want}'`;
  }
  return undefined;
}

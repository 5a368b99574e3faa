/**
 * The `aws-nitro-tpm` InstanceInfo (tpm-attestation.md §11.4): the IMDS
 * instance identity document as aws-sdk-go-v2's `imds.InstanceIdentityDocument`
 * re-encoded by Go encoding/json, decoded the way Go's json.Unmarshal does
 * (case-insensitive keys, unknown keys ignored, `null` keeps zero values,
 * list members arrays of strings or null, `pendingTime` an RFC 3339 string or
 * null), plus the validation of the two values the CVM check puts on the
 * wire: the region (it becomes part of a host name, GAP G3) and the AMI ID.
 */
import { parseGoJson } from '../../../../shared/go-json/go-json.js';
import { goStringField, kindName, unmarshalGoStruct, type GoField } from '../../../../shared/go-json/go-json-decode.js';

export interface InstanceIdentityDocument {
  devpayProductCodes: string[] | null;
  marketplaceProductCodes: string[] | null;
  availabilityZone: string;
  privateIp: string;
  version: string;
  region: string;
  instanceId: string;
  billingProducts: string[] | null;
  instanceType: string;
  accountId: string;
  /** RFC 3339 text as carried; '' when absent or null (Go's zero time). */
  pendingTime: string;
  imageId: string;
  kernelId: string;
  ramdiskId: string;
  architecture: string;
}


/** `[]string`: null → nil; an array re-uses the previous elements where Go would (null items keep them). */
const goStringSlice: GoField<string[] | null> = {
  initial: null,
  decode(value, current, state) {
    if (value.kind === 'null') return null;
    if (value.kind !== 'array') {
      state.typeError(kindName(value), '[]string');
      return current;
    }
    return value.items.map((item, i) => {
      const previous = current?.[i] ?? '';
      if (item.kind === 'string') return Buffer.from(item.bytes).toString('utf8');
      if (item.kind !== 'null') state.typeError(kindName(item), 'string');
      return previous;
    });
  },
};

export const RFC3339_LAYOUT = '2006-01-02T15:04:05Z07:00';

/**
 * time.Time's UnmarshalJSON: null is a no-op; anything but a string fails
 * (`Time.UnmarshalJSON: input is not a JSON string`); the string must be a
 * strict RFC 3339 date-time. Go returns these errors at once (they end the
 * decoding, ahead of earlier type errors), so they are thrown here.
 */
const goTime: GoField<string> = {
  initial: '',
  decode(value, current) {
    if (value.kind === 'null') return current;
    if (value.kind !== 'string') throw new Error('Time.UnmarshalJSON: input is not a JSON string');
    const s = Buffer.from(value.bytes).toString('utf8');
    if (!isStrictRfc3339(s)) throw new Error(`parsing time ${JSON.stringify(s)} as ${JSON.stringify(RFC3339_LAYOUT)}: not a valid RFC 3339 date-time`);
    return s;
  },
};

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/;

export function isStrictRfc3339(s: string): boolean {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return false;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return false;
  return true;
}

const INSTANCE_IDENTITY_DOCUMENT = {
  goType: 'imds.InstanceIdentityDocument',
  structName: 'InstanceIdentityDocument',
  fields: {
    devpayProductCodes: goStringSlice,
    marketplaceProductCodes: goStringSlice,
    availabilityZone: goStringField,
    privateIp: goStringField,
    version: goStringField,
    region: goStringField,
    instanceId: goStringField,
    billingProducts: goStringSlice,
    instanceType: goStringField,
    accountId: goStringField,
    pendingTime: goTime,
    imageId: goStringField,
    kernelId: goStringField,
    ramdiskId: goStringField,
    architecture: goStringField,
  },
};

/** json.Unmarshal(instanceInfo, &imds.InstanceIdentityDocument{}); a `null` member is empty input. Throws Go's text. */
export function decodeInstanceIdentityDocument(instanceInfo: Uint8Array | null): InstanceIdentityDocument {
  const root = parseGoJson(instanceInfo ?? new Uint8Array(0));
  return unmarshalGoStruct(root, INSTANCE_IDENTITY_DOCUMENT);
}

/**
 * A plain AWS region name: `us-east-1`, `eu-central-1`, `us-gov-west-1`,
 * `cn-north-1`, `ap-southeast-5`, … (2–4 letter area, one or more lower-case
 * words, a number). Nothing that could add labels, ports or paths to a host.
 */
const REGION = /^[a-z]{2,4}(?:-[a-z]{1,16}){1,3}-[0-9]{1,2}$/;

export function isValidAwsRegion(s: string): boolean {
  return s.length <= 32 && REGION.test(s);
}

/** An AMI ID: `ami-` and 8 (old style) to 17 lower-case hex digits. */
const IMAGE_ID = /^ami-[0-9a-f]{8,17}$/;

export function isValidImageId(s: string): boolean {
  return IMAGE_ID.test(s);
}

/** The EC2 endpoint of a (validated) region: `https://ec2.<region>.amazonaws.com`, `.amazonaws.com.cn` in China. */
export function defaultEc2Endpoint(region: string): string {
  if (!isValidAwsRegion(region)) throw new Error(`invalid region ${JSON.stringify(region)}`);
  return `https://ec2.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

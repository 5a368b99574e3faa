/**
 * The `gcp-sev-es` InstanceInfo (tpm-attestation.md §11.2): go-tpm-tools'
 * `attest.GCEInstanceInfo` as JSON, decoded with Go encoding/json semantics
 * (case-insensitive keys, unknown keys ignored, `null` members keep their
 * zero value, `project_number`/`instance_id` must be uint64 literals), and
 * the validation of the three names that go into the Compute API path.
 *
 * Go passes the names to the API unvalidated (GAP G4). We accept only what
 * GCE can actually name, so nothing a node writes can change the request's
 * path, and nothing malformed ever reaches the network:
 *
 * - project ID: 6–30 of `[a-z0-9-]`, starting with a letter, not ending with a
 *   hyphen; or domain-scoped `<domain>:<project>` (`example.com:my-proj`),
 *   where the domain is a lower-case DNS name of at least two labels and the
 *   project part follows the legacy rules (1–63 of `[a-z0-9-]`, starting with
 *   a letter, not ending with a hyphen);
 * - zone: `<region>-<zone letter(s)>` such as `europe-west3-b` or
 *   `us-central1-ai1a` (`[a-z]+-[a-z]+[0-9]+-[a-z0-9]+`, at most 63 characters);
 * - instance name: RFC 1035 label `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`.
 */
import { parseGoJson } from '../../../../shared/go-json/go-json.js';
import { goStringField, kindName, unmarshalGoStruct, type GoField } from '../../../../shared/go-json/go-json-decode.js';
import { quoteCapped } from '../http-client.js';

export interface GceInstanceInfo {
  zone: string;
  projectId: string;
  /** uint64; 0 when absent (Constellation's issuer never sets it). */
  projectNumber: bigint;
  instanceName: string;
  /** uint64; 0 when absent. */
  instanceId: bigint;
}


const UINT64_MAX = (1n << 64n) - 1n;

const goUint64: GoField<bigint> = {
  initial: 0n,
  decode(value, current, state) {
    if (value.kind === 'number') {
      // strconv.ParseUint(text, 10, 64): digits only (JSON already forbids leading zeros), in range.
      if (/^[0-9]+$/.test(value.text) && value.text.length <= 20 && BigInt(value.text) <= UINT64_MAX) return BigInt(value.text);
      state.typeError(`number ${value.text}`, 'uint64');
      return current;
    }
    if (value.kind !== 'null') state.typeError(kindName(value), 'uint64');
    return current;
  },
};

const GCE_INSTANCE_INFO = {
  goType: 'attest.GCEInstanceInfo',
  structName: 'GCEInstanceInfo',
  fields: { zone: goStringField, project_id: goStringField, project_number: goUint64, instance_name: goStringField, instance_id: goUint64 },
};

/**
 * json.Unmarshal(instanceInfo, &attest.GCEInstanceInfo{}). A `null` document
 * member (Go's nil []byte) is empty input, as in Go. Throws Go's error text
 * (`unexpected end of JSON input`, `json: cannot unmarshal …`).
 */
export function decodeGceInstanceInfo(instanceInfo: Uint8Array | null): GceInstanceInfo {
  const root = parseGoJson(instanceInfo ?? new Uint8Array(0));
  const v = unmarshalGoStruct(root, GCE_INSTANCE_INFO);
  return { zone: v.zone, projectId: v.project_id, projectNumber: v.project_number, instanceName: v.instance_name, instanceId: v.instance_id };
}

const LABEL = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?';
const PLAIN_PROJECT = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const DOMAIN_SCOPED_PROJECT = new RegExp(`^(${LABEL}(?:\\.${LABEL})+):([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$`);
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z0-9]+$/;
const INSTANCE_NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

export function isValidProjectId(s: string): boolean {
  if (PLAIN_PROJECT.test(s)) return true;
  const m = DOMAIN_SCOPED_PROJECT.exec(s);
  return m !== null && m[1]!.length <= 253;
}

export function isValidZone(s: string): boolean {
  return s.length <= 63 && ZONE.test(s);
}

export function isValidInstanceName(s: string): boolean {
  return INSTANCE_NAME.test(s);
}

/** The names that identify one GCE instance, validated. */
export interface GceInstanceRef {
  projectId: string;
  zone: string;
  instanceName: string;
}

/** Validates the three names; throws a description of the first invalid one (quoted, length-capped). */
export function checkGceInstanceRef(info: Pick<GceInstanceInfo, 'projectId' | 'zone' | 'instanceName'>): GceInstanceRef {
  if (!isValidProjectId(info.projectId)) throw new Error(`invalid GCE project ID ${quoteCapped(info.projectId)}`);
  if (!isValidZone(info.zone)) throw new Error(`invalid GCE zone ${quoteCapped(info.zone)}`);
  if (!isValidInstanceName(info.instanceName)) throw new Error(`invalid GCE instance name ${quoteCapped(info.instanceName)}`);
  return { projectId: info.projectId, zone: info.zone, instanceName: info.instanceName };
}

/** A path segment: percent-encoded except RFC 3986 unreserved characters and `:` (kept, as Go's REST client keeps it). */
export function escapePathSegment(s: string): string {
  return encodeURIComponent(s).replace(/%3A/g, ':').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `/compute/v1/projects/{project}/zones/{zone}/instances/{instance}/getShieldedInstanceIdentity` with escaped segments. */
export function shieldedIdentityPath(ref: GceInstanceRef): string {
  return (
    `/compute/v1/projects/${escapePathSegment(ref.projectId)}` +
    `/zones/${escapePathSegment(ref.zone)}` +
    `/instances/${escapePathSegment(ref.instanceName)}/getShieldedInstanceIdentity`
  );
}

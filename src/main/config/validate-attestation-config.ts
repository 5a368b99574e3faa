/**
 * Validation of an attestation config file before a config generation is
 * accepted (start-up and hot reload). Runs on the main thread; the workers
 * still parse the accepted text themselves per generation.
 *
 * Stages: JSON syntax → duplicate keys → JSON Schema of the variant
 * (./schemas/attestation-config-schemas.ts) → semantic checks (certificates,
 * measurement indices and lengths, enforcement policy, variant hint). Every
 * problem found is reported, each as `<JSON pointer>: <rule>`.
 */
import type { ErrorObject } from 'ajv';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { parseGoJson, type GoJsonValue } from '../../shared/go-json/go-json.js';
import { decodePem } from '../../shared/pem.js';
import { VARIANTS, type VariantName } from '../../shared/variants.js';
import { createAmdTrust } from '../../workers/attestation/snp/chain/verify-chain.js';
import { parseCertificate } from '../../workers/certificate/parse-certificate.js';
import { attestationConfigFields, attestationConfigValidator, VARIANT_HINT_KEY } from './schemas/attestation-config-schemas.js';

export interface ValidatedAttestationConfig {
  /** The parsed JSON object (unchanged). */
  config: unknown;
  /** Number of entries in `measurements` (0 when absent or null). */
  measurementCount: number;
}

const UINT32_MAX = 0xffffffff;
const ENFORCEMENT_POLICIES = new Map([
  ['equal', 'Equal'],
  ['maafallback', 'MAAFallback'],
  ['warnonly', 'WarnOnly'],
]);
const CERTIFICATE_FIELDS = ['amdRootKey', 'amdSigningKey', 'intelRootKey'] as const;
const SNP_VARIANTS: ReadonlySet<VariantName> = new Set(['aws-sev-snp', 'azure-sev-snp', 'gcp-sev-snp']);

/**
 * Validates `text` as the attestation config of `variant`.
 * @throws JoinServiceError(ConfigInvalid) listing every problem (path + rule); `details.problems` holds them as a list.
 */
export function validateAttestationConfig(variant: VariantName, text: string): ValidatedAttestationConfig {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw invalid(variant, [`/: not valid JSON: ${(err as Error).message}`]);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    const kind = config === null ? 'null' : Array.isArray(config) ? 'an array' : `a ${typeof config}`;
    throw invalid(variant, [`/: the attestation config must be a JSON object, got ${kind}`]);
  }

  const problems = duplicateKeys(text);
  const validate = attestationConfigValidator(variant);
  if (!validate(config)) problems.push(...formatAjvErrors(variant, validate.errors ?? []));
  const root = config as Record<string, unknown>;
  const measurementCount = checkMeasurements(root.measurements, problems);
  checkCertificates(root, problems);
  if (SNP_VARIANTS.has(variant)) checkAmdRootKey(root.amdRootKey, problems);
  checkFirmwareSignerConfig(root.firmwareSignerConfig, problems);
  const hint = root[VARIANT_HINT_KEY];
  if (typeof hint === 'string' && hint !== variant) {
    problems.push(`/${VARIANT_HINT_KEY}: the config is for variant ${JSON.stringify(hint)}, but --attestation-variant is ${JSON.stringify(variant)}`);
  }
  if (problems.length > 0) throw invalid(variant, problems);
  return { config, measurementCount };
}

function invalid(variant: VariantName, problems: string[]): JoinServiceError {
  const n = problems.length;
  const message = `invalid ${variant} attestation config (${n} problem${n === 1 ? '' : 's'}): ${problems.join('; ')}`;
  return new JoinServiceError(ErrorCode.ConfigInvalid, message, { variant, problems });
}

function pointer(base: string, key: string | number): string {
  return `${base}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** Go keeps the last of duplicate keys silently (as JSON.parse does); a duplicate is almost always an editing mistake. */
function duplicateKeys(text: string): string[] {
  let root: GoJsonValue;
  try {
    root = parseGoJson(Buffer.from(text, 'utf8'));
  } catch {
    return []; // JSON.parse accepted it; nothing more to learn here.
  }
  const out: string[] = [];
  const walk = (v: GoJsonValue, path: string): void => {
    if (v.kind === 'object') {
      const seen = new Set<string>();
      for (const m of v.members) {
        const key = Buffer.from(m.key).toString('utf8');
        const p = pointer(path, key);
        if (seen.has(key)) out.push(`${p}: duplicate key (only the last occurrence would be used)`);
        seen.add(key);
        walk(m.value, p);
      }
    } else if (v.kind === 'array') {
      v.items.forEach((item, i) => walk(item, pointer(path, i)));
    }
  };
  walk(root, '');
  return out;
}

/** Turns ajv's errors into one `<path>: <rule>` line per problem. */
export function formatAjvErrors(variant: VariantName, errors: readonly ErrorObject[]): string[] {
  const out: string[] = [];
  const seenPaths = new Set<string>();
  const add = (path: string, rule: string): void => {
    // One line per location: ajv may report several keywords (type + pattern ...) for one value.
    if (seenPaths.has(path)) return;
    seenPaths.add(path);
    out.push(`${path || '/'}: ${rule}`);
  };
  for (const e of errors) {
    if (e.keyword === 'if') continue; // the failing then/else branch is reported itself
    if (e.propertyName !== undefined && e.keyword !== 'propertyNames') continue; // reported via propertyNames
    const described = (e.parentSchema as { description?: unknown } | undefined)?.description;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String((e.params as { additionalProperty: string }).additionalProperty);
        const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        add(pointer(e.instancePath, key), unknownKeyRule(variant, key, known, e.instancePath === ''));
        break;
      }
      case 'required': {
        const key = String((e.params as { missingProperty: string }).missingProperty);
        add(pointer(e.instancePath, key), 'missing required key');
        break;
      }
      case 'propertyNames': {
        const key = String((e.params as { propertyName: string }).propertyName);
        add(pointer(e.instancePath, key), `invalid key: measurement index must be a decimal unsigned integer`);
        break;
      }
      default:
        if (typeof e.data === 'string' && /^latest$/i.test(e.data)) {
          add(e.instancePath, 'unresolved placeholder "latest" (Go would read it as 0, i.e. no minimum): write the concrete version');
        } else {
          add(e.instancePath, typeof described === 'string' ? described : (e.message ?? e.keyword));
        }
    }
  }
  return out;
}

function unknownKeyRule(variant: VariantName, key: string, known: readonly string[], topLevel: boolean): string {
  const folded = known.find((k) => k.toLowerCase() === key.toLowerCase());
  if (folded) return `unknown key: keys are case-sensitive, did you mean ${JSON.stringify(folded)}?`;
  const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  if (near) return `unknown key: did you mean ${JSON.stringify(near)}?`;
  if (topLevel) {
    const owners = VARIANTS.map((v) => v.name).filter((v) => v !== variant && attestationConfigFields(v).includes(key));
    if (owners.length > 0) {
      return `unknown key for ${variant}: ${JSON.stringify(key)} belongs to the attestation config of ${owners.join(', ')} (check --attestation-variant)`;
    }
  }
  return `unknown key (allowed here: ${known.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Index range, indices equal after Go's ParseUint ("4" vs "04"), and equal value lengths. */
function checkMeasurements(m: unknown, problems: string[]): number {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 0;
  const entries = Object.entries(m as Record<string, unknown>);
  const indices = new Map<number, string>();
  let first: { key: string; len: number } | undefined;
  for (const [key, value] of entries) {
    const path = pointer('/measurements', key);
    if (/^[0-9]+$/.test(key)) {
      const index = Number(key);
      if (index > UINT32_MAX) problems.push(`${path}: measurement index must fit in 32 bits`);
      const other = indices.get(index);
      if (other !== undefined) problems.push(`${path}: measurement index ${index} is also given as ${JSON.stringify(other)}`);
      indices.set(index, key);
    }
    const hex = typeof value === 'string' ? value : (value as { expected?: unknown } | null)?.expected;
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0 || hex.length === 0) continue;
    const len = hex.length / 2;
    if (!first) first = { key, len };
    else if (len !== first.len) {
      problems.push(`${typeof value === 'string' ? path : `${path}/expected`}: inconsistent measurement length: ${len} bytes, but index ${first.key} has ${first.len}`);
    }
  }
  return entries.length;
}

function checkCertificates(root: Record<string, unknown>, problems: string[]): void {
  for (const field of CERTIFICATE_FIELDS) {
    const v = root[field];
    if (typeof v === 'string' && v !== '') checkPem(`/${field}`, v, problems);
  }
  const extra = root.trustedRootCertificates;
  if (Array.isArray(extra)) {
    extra.forEach((v, i) => {
      if (typeof v === 'string' && v !== '') checkPem(pointer('/trustedRootCertificates', i), v, problems);
    });
  }
}

/** Memoised results: configs are re-validated on every reload with mostly the same certificates. */
const pemResults = new Map<string, string | null>();
const PEM_CACHE_LIMIT = 64;

function checkPem(path: string, pem: string, problems: string[]): void {
  let result = pemResults.get(pem);
  if (result === undefined) {
    result = pemProblem(pem);
    if (pemResults.size >= PEM_CACHE_LIMIT) pemResults.clear();
    pemResults.set(pem, result);
  }
  if (result !== null) problems.push(`${path}: ${result}`);
}

function pemProblem(pem: string): string | null {
  const decoded = decodePem(pem);
  if (!decoded) return 'must contain a PEM "CERTIFICATE" block (none found)';
  if (decoded.block.type !== 'CERTIFICATE') return `the first PEM block is ${JSON.stringify(decoded.block.type)}, want "CERTIFICATE"`;
  try {
    parseCertificate(new Uint8Array(decoded.block.bytes.buffer, decoded.block.bytes.byteOffset, decoded.block.bytes.byteLength));
  } catch (err) {
    return `the PEM block is not a valid X.509 certificate: ${(err as Error).message}`;
  }
  return null;
}

/** Memoised ARK checks (a self-signature over RSA-4096 costs about a millisecond). */
const arkResults = new Map<string, string | null>();

/**
 * SEV-SNP `amdRootKey`: "" selects the embedded AMD root of the report's
 * product line; otherwise the (valid) certificate must be an AMD root key:
 * RSA-4096, SHA384-RSAPSS, CN ARK-Milan / ARK-Genoa / ARK-Turin, self-signed
 * (the checks the validator build applies, reported here with the others).
 */
function checkAmdRootKey(v: unknown, problems: string[]): void {
  if (typeof v !== 'string' || v === '' || pemResults.get(v) !== null) return;
  let result = arkResults.get(v);
  if (result === undefined) {
    try {
      createAmdTrust({ amdRootKey: v });
      result = null;
    } catch (err) {
      result = (err as Error).message.replace(/^amdRootKey:? /, '');
    }
    if (arkResults.size >= PEM_CACHE_LIMIT) arkResults.clear();
    arkResults.set(v, result);
  }
  if (result !== null) problems.push(`/amdRootKey: ${result}`);
}

function checkFirmwareSignerConfig(fsc: unknown, problems: string[]): void {
  if (fsc === null || typeof fsc !== 'object' || Array.isArray(fsc)) return;
  const { enforcementPolicy, maaURL } = fsc as Record<string, unknown>;
  if (typeof enforcementPolicy === 'string' && !ENFORCEMENT_POLICIES.has(enforcementPolicy.toLowerCase())) {
    problems.push(`/firmwareSignerConfig/enforcementPolicy: unknown enforcement policy ${JSON.stringify(enforcementPolicy)}: must be "Equal", "MAAFallback" or "WarnOnly"`);
  }
  if (typeof maaURL === 'string' && maaURL !== '') {
    let ok = false;
    try {
      ok = new URL(maaURL).protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`/firmwareSignerConfig/maaURL: must be an https URL or ""`);
  }
}

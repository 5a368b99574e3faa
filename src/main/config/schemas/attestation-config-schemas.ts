/**
 * JSON Schemas of the attestation config file, one per attestation variant
 * (config-and-operations.md §2.6). The schemas check structure, types, key
 * names and hex lengths; checks that JSON Schema cannot express (PEM/X.509
 * parsing, uint32 measurement indices, equal measurement lengths,
 * enforcement-policy spelling) live in ../validate-attestation-config.ts.
 *
 * Deliberate differences from Go's lenient decoder (fail closed):
 * - keys must be spelled exactly as the CLI writes them (Go folds case);
 * - unknown keys are errors (Go ignores them, so a typo disables a check);
 * - `"latest"` placeholders in version fields are errors (Go reads them as 0).
 *
 * Every schema node that carries a `description` uses it as the human-readable
 * rule in error messages (see formatAjvErrors).
 */
import { Ajv, type SchemaObject, type ValidateFunction } from 'ajv';
import type { VariantName } from '../../../shared/variants.js';

/** Byte lengths accepted for measurement values, per variant. */
export const MEASUREMENT_LENGTHS: Readonly<Record<VariantName, readonly number[]>> = {
  'dummy': [32, 48],
  'aws-nitro-tpm': [32],
  'aws-sev-snp': [32],
  'gcp-sev-es': [32],
  'gcp-sev-snp': [32],
  'azure-sev-snp': [32],
  'azure-trustedlaunch': [32],
  'azure-tdx': [32],
  'qemu-vtpm': [32],
  'qemu-tdx': [48],
};

/** Optional top-level key accepted by every variant; if present it must name the configured variant. */
export const VARIANT_HINT_KEY = 'variant';

function hexRule(lengths: readonly number[]): string {
  const chars = lengths.map((n) => String(n * 2));
  const list = chars.length > 1 ? `${chars.slice(0, -1).join(', ')} or ${chars[chars.length - 1]}` : chars[0];
  return `must be ${list} hex characters (${lengths.join(' or ')} bytes)`;
}

/** A hex string of exactly one of the given byte lengths (optionally also ""). */
export function hexString(lengths: readonly number[], allowEmpty = false): SchemaObject {
  const alternatives = lengths.map((n) => `[0-9a-fA-F]{${n * 2}}`);
  const pattern = `^(?:${alternatives.join('|')})${allowEmpty ? '?' : ''}$`;
  return { type: 'string', pattern, description: hexRule(lengths) + (allowEmpty ? ' or ""' : '') };
}

function measurementsSchema(variant: VariantName): SchemaObject {
  const expected = hexString(MEASUREMENT_LENGTHS[variant]);
  return {
    type: ['object', 'null'],
    description: 'must be an object mapping measurement indices to expected values',
    propertyNames: { pattern: '^[0-9]+$', description: 'measurement index must be a decimal unsigned integer' },
    additionalProperties: {
      // Legacy form: a bare hex string (enforced).
      if: { type: 'string' },
      then: expected,
      else: {
        type: 'object',
        description: 'must be {"expected": "<hex>", "warnOnly": <bool>} or a hex string',
        required: ['expected'],
        additionalProperties: false,
        properties: {
          expected,
          warnOnly: { type: 'boolean', description: 'must be a boolean' },
        },
      },
    },
  };
}

const UINT8_VERSION: SchemaObject = { type: 'integer', minimum: 0, maximum: 255, description: 'must be an integer from 0 to 255' };
const UINT16_VERSION: SchemaObject = { type: 'integer', minimum: 0, maximum: 65535, description: 'must be an integer from 0 to 65535' };
/** A certificate that may be absent ("" or null). */
const OPTIONAL_CERTIFICATE: SchemaObject = { type: ['string', 'null'], description: 'must be a PEM certificate string or ""' };
/** A trust anchor: an absent root would make every attestation fail, so "" is refused. */
const ROOT_CERTIFICATE: SchemaObject = { type: 'string', minLength: 1, description: 'must be a PEM certificate string (a trust anchor, not empty)' };
/**
 * The SEV-SNP `amdRootKey`: a PEM certificate (the ARK to trust), or "" for
 * the embedded AMD root of the report's product line (Go would fetch an ARK
 * from AMD KDS and trust whatever the network returned).
 */
const SNP_ROOT_CERTIFICATE: SchemaObject = {
  type: 'string',
  description: 'must be a PEM certificate string, or "" for the embedded AMD root (ARK) of the report\'s product line',
};

const SNP_VERSIONS = {
  bootloaderVersion: UINT8_VERSION,
  teeVersion: UINT8_VERSION,
  snpVersion: UINT8_VERSION,
  microcodeVersion: UINT8_VERSION,
};

const ACCEPTED_KEY_DIGEST = hexString([48]);

const FIRMWARE_SIGNER_CONFIG: SchemaObject = {
  type: 'object',
  description: 'must be an object',
  required: ['acceptedKeyDigests', 'enforcementPolicy'],
  additionalProperties: false,
  properties: {
    acceptedKeyDigests: {
      // Legacy: a single digest string instead of a list.
      if: { type: 'string' },
      then: ACCEPTED_KEY_DIGEST,
      else: { type: ['array', 'null'], description: 'must be a list of 96-hex-character digests', items: ACCEPTED_KEY_DIGEST },
    },
    // Spelling (case-insensitive Equal/MAAFallback/WarnOnly, legacy booleans) is checked semantically.
    enforcementPolicy: { type: ['string', 'boolean'], description: 'must be "Equal", "MAAFallback" or "WarnOnly"' },
    maaURL: { type: 'string', description: 'must be a string' },
  },
};

interface VariantSchemaSpec {
  properties: Record<string, SchemaObject>;
  required: string[];
}

function spec(variant: VariantName): VariantSchemaSpec {
  const measurements = measurementsSchema(variant);
  switch (variant) {
    case 'dummy':
      return { properties: { measurements }, required: [] };
    case 'aws-nitro-tpm':
    case 'gcp-sev-es':
    case 'qemu-vtpm':
    case 'qemu-tdx':
      return { properties: { measurements }, required: ['measurements'] };
    case 'azure-trustedlaunch':
      return {
        properties: {
          measurements,
          // Extension of this implementation (docs/attestation.md): extra trust anchors for the AK certificate chain.
          trustedRootCertificates: { type: 'array', description: 'must be a list of PEM certificate strings', items: ROOT_CERTIFICATE },
        },
        required: ['measurements'],
      };
    case 'aws-sev-snp':
    case 'gcp-sev-snp':
      return {
        properties: { measurements, ...SNP_VERSIONS, amdRootKey: SNP_ROOT_CERTIFICATE, amdSigningKey: OPTIONAL_CERTIFICATE },
        required: ['measurements', ...Object.keys(SNP_VERSIONS), 'amdRootKey'],
      };
    case 'azure-sev-snp':
      return {
        properties: {
          measurements,
          ...SNP_VERSIONS,
          firmwareSignerConfig: FIRMWARE_SIGNER_CONFIG,
          amdRootKey: SNP_ROOT_CERTIFICATE,
          amdSigningKey: OPTIONAL_CERTIFICATE,
        },
        required: ['measurements', ...Object.keys(SNP_VERSIONS), 'firmwareSignerConfig', 'amdRootKey'],
      };
    case 'azure-tdx':
      return {
        properties: {
          measurements,
          qeSVN: UINT16_VERSION,
          pceSVN: UINT16_VERSION,
          teeTCBSVN: hexString([16]),
          qeVendorID: hexString([16]),
          mrSeam: hexString([48], true),
          xfam: hexString([8], true),
          intelRootKey: ROOT_CERTIFICATE,
        },
        required: ['measurements', 'qeSVN', 'pceSVN', 'teeTCBSVN', 'qeVendorID', 'xfam', 'intelRootKey'],
      };
  }
}

/** The JSON Schema of one variant's attestation config. */
export function attestationConfigSchema(variant: VariantName): SchemaObject {
  const s = spec(variant);
  return {
    $id: `https://constellation.invalid/joinservice/attestation-config/${variant}.json`,
    type: 'object',
    description: 'the attestation config must be a JSON object',
    additionalProperties: false,
    required: s.required,
    properties: { ...s.properties, [VARIANT_HINT_KEY]: { type: 'string', description: 'must be a string' } },
  };
}

/** Top-level keys the CLI writes for a variant, in Go marshal order (plus our extensions). */
export function attestationConfigFields(variant: VariantName): string[] {
  return Object.keys(spec(variant).properties);
}

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
const compiled = new Map<VariantName, ValidateFunction>();

/** The compiled validator of a variant; compiled on first use and cached for the life of the process. */
export function attestationConfigValidator(variant: VariantName): ValidateFunction {
  let v = compiled.get(variant);
  if (!v) {
    v = ajv.compile(attestationConfigSchema(variant));
    compiled.set(variant, v);
  }
  return v;
}

/**
 * The resources the emulator serves and their validation, following the
 * kube-apiserver's core/v1 validation (Secrets, ConfigMaps) and structural
 * schema handling of CRDs (NodeVersion, JoiningNode of
 * update.edgeless.systems/v1alpha1).
 */
import {
  badRequest,
  forbidden,
  invalidValue,
  requiredValue,
  tooLong,
  typeInvalid,
  type FieldError,
} from './status.js';

export type JsonObject = Record<string, unknown>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: ManagedFieldsEntry[];
  [k: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [k: string]: unknown;
}

/** Structural schema subset used by the two CRDs. */
export type Schema =
  | { type: 'object'; properties?: Record<string, Schema>; preserveUnknownFields?: boolean }
  | { type: 'array'; items: Schema }
  | { type: 'string'; format?: 'date-time'; enum?: string[] }
  | { type: 'boolean' }
  | { type: 'integer' };

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  description: string;
  priority: number;
}

export interface ResourceDef {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  /** CRDs: status is a subresource (ignored on writes of the main resource). */
  statusSubresource: boolean;
  /** CRDs: structural schema of spec/status; unknown fields are pruned. */
  schema?: Record<string, Schema>;
  /** Extra table columns between Name and Age. */
  columns: TableColumn[];
  cells(obj: KubeObject): unknown[];
  /** Kind-specific checks; `old` is set for updates. */
  validate(obj: KubeObject, old: KubeObject | undefined): FieldError[];
  /** Turns write-only input fields into their stored form (Secret stringData, defaults); may throw ApiError 400. */
  normalize(obj: KubeObject): void;
}

export const apiVersionOf = (r: Pick<ResourceDef, 'group' | 'version'>): string => (r.group ? `${r.group}/${r.version}` : r.version);

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const CONFIG_KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_SECRET_SIZE = 1024 * 1024;
const MAX_CONFIGMAP_SIZE = 1024 * 1024;
const MAX_ANNOTATIONS_SIZE = 256 * 1024;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Name checks for a DNS-subdomain-named object (apimachinery NameIsDNSSubdomain). */
export function validateName(name: string): string[] {
  const errs: string[] = [];
  if (name.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(name)) errs.push(DNS1123_SUBDOMAIN_MSG);
  return errs;
}

function validateQualifiedName(key: string): string | undefined {
  const parts = key.split('/');
  let name = key;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return 'prefix part ' + DNS1123_SUBDOMAIN_MSG;
  } else if (parts.length > 2) {
    return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!QUALIFIED_NAME_PART.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return undefined;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** ObjectMeta checks shared by all kinds (labels, annotations; the name is checked by the handler). */
export function validateMetadataMaps(meta: ObjectMeta): FieldError[] {
  const errs: FieldError[] = [];
  if (meta.labels !== undefined) {
    if (!isStringMap(meta.labels)) errs.push(typeInvalid('metadata.labels', meta.labels, 'must be a map of strings'));
    else {
      for (const [k, v] of Object.entries(meta.labels)) {
        const ke = validateQualifiedName(k);
        if (ke) errs.push(invalidValue('metadata.labels', k, ke));
        if (v.length > 63) errs.push(invalidValue('metadata.labels', v, 'must be no more than 63 characters'));
        else if (!LABEL_VALUE.test(v)) {
          errs.push(
            invalidValue(
              'metadata.labels',
              v,
              "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
          );
        }
      }
    }
  }
  if (meta.annotations !== undefined) {
    if (!isStringMap(meta.annotations)) errs.push(typeInvalid('metadata.annotations', meta.annotations, 'must be a map of strings'));
    else {
      let size = 0;
      for (const [k, v] of Object.entries(meta.annotations)) {
        const ke = validateQualifiedName(k.toLowerCase());
        if (ke) errs.push(invalidValue('metadata.annotations', k, ke));
        size += k.length + v.length;
      }
      if (size > MAX_ANNOTATIONS_SIZE) errs.push(tooLong('metadata.annotations', MAX_ANNOTATIONS_SIZE));
    }
  }
  return errs;
}

function immutableCheck(obj: KubeObject, old: KubeObject | undefined, fields: string[]): FieldError[] {
  if (!old || old['immutable'] !== true) return [];
  const errs: FieldError[] = [];
  for (const f of fields) {
    if (JSON.stringify(obj[f] ?? {}) !== JSON.stringify(old[f] ?? {})) errs.push(forbidden(f, 'field is immutable when `immutable` is set'));
  }
  if (obj['immutable'] !== true) errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
  return errs;
}

function keyErrors(field: string, map: unknown): FieldError[] {
  if (map === undefined) return [];
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return [typeInvalid(field, map, 'must be an object')];
  const errs: FieldError[] = [];
  for (const k of Object.keys(map)) if (!CONFIG_KEY.test(k)) errs.push(invalidValue(`${field}[${k}]`, k, CONFIG_KEY_MSG));
  return errs;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodedLength(b64: string): number {
  return Buffer.from(b64, 'base64').length;
}

function age(obj: KubeObject, now: number): string {
  const ts = obj.metadata?.creationTimestamp;
  return ts ? humanDuration(now - Date.parse(ts)) : '<unknown>';
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(s / 3600);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  if (h < 24 * 365 * 8) {
    const dy = Math.floor(h / 24) % 365;
    return dy === 0 ? `${Math.floor(h / 24 / 365)}y` : `${Math.floor(h / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(h / 24 / 365)}y`;
}

export function tableCells(r: ResourceDef, obj: KubeObject, now: number): unknown[] {
  return [obj.metadata?.name ?? '', ...r.cells(obj), age(obj, now)];
}

export function tableColumns(r: ResourceDef): TableColumn[] {
  return [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace. More info: http://kubernetes.io/docs/user-guide/identifiers#names', priority: 0 },
    ...r.columns,
    {
      name: 'Age',
      type: 'string',
      format: '',
      description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
      priority: 0,
    },
  ];
}

const secrets: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  listKind: 'SecretList',
  plural: 'secrets',
  singular: 'secret',
  namespaced: true,
  shortNames: [],
  statusSubresource: false,
  columns: [
    { name: 'Type', type: 'string', format: '', description: 'Used to facilitate programmatic handling of secret data.', priority: 0 },
    { name: 'Data', type: 'integer', format: '', description: 'Data contains the secret data.', priority: 0 },
  ],
  cells: (o) => [o['type'] ?? 'Opaque', Object.keys((o['data'] as object | undefined) ?? {}).length],
  normalize(o) {
    if (o['type'] === undefined || o['type'] === '') o['type'] = 'Opaque';
    const data = o['data'];
    if (data !== undefined && data !== null) {
      if (typeof data !== 'object' || Array.isArray(data)) throw badRequest('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal into Go struct field Secret.data of type map[string][]uint8');
      for (const [k, v] of Object.entries(data as JsonObject)) {
        if (typeof v !== 'string') throw badRequest(`Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal ${typeof v} into Go struct field Secret.data of type []uint8`);
        if (!B64.test(v)) throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte ${firstBadBase64(v)} (key ${JSON.stringify(k)})`);
      }
    } else if (data === null) delete o['data'];
    const stringData = o['stringData'];
    if (stringData !== undefined) {
      if (!isStringMap(stringData)) throw badRequest('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal into Go struct field Secret.stringData of type map[string]string');
      const merged = { ...((o['data'] as JsonObject | undefined) ?? {}) };
      for (const [k, v] of Object.entries(stringData)) merged[k] = Buffer.from(v, 'utf8').toString('base64');
      o['data'] = merged;
      delete o['stringData'];
    }
  },
  validate(o, old) {
    const errs = keyErrors('data', o['data']);
    const data = (o['data'] as Record<string, string> | undefined) ?? {};
    const size = Object.values(data).reduce((n, v) => n + decodedLength(v), 0);
    if (size > MAX_SECRET_SIZE) errs.push(tooLong('data', MAX_SECRET_SIZE));
    if (typeof o['type'] !== 'string') errs.push(typeInvalid('type', o['type'], 'must be a string'));
    if (o['immutable'] !== undefined && typeof o['immutable'] !== 'boolean') errs.push(typeInvalid('immutable', o['immutable'], 'must be a boolean'));
    if (o['type'] === 'kubernetes.io/tls') {
      for (const k of ['tls.crt', 'tls.key']) if (!(k in data)) errs.push(requiredValue(`data[${k}]`, ''));
    }
    if (old) {
      if (old['type'] !== o['type']) errs.push(invalidValue('type', o['type'], 'field is immutable'));
      errs.push(...immutableCheck(o, old, ['data']));
    }
    return errs;
  },
};

function firstBadBase64(s: string): number {
  for (let i = 0; i < s.length; i++) if (!/[A-Za-z0-9+/=]/.test(s[i]!)) return i;
  return s.length;
}

const configmaps: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  plural: 'configmaps',
  singular: 'configmap',
  namespaced: true,
  shortNames: ['cm'],
  statusSubresource: false,
  columns: [{ name: 'Data', type: 'integer', format: '', description: 'Data contains the configuration data.', priority: 0 }],
  cells: (o) => [Object.keys((o['data'] as object | undefined) ?? {}).length + Object.keys((o['binaryData'] as object | undefined) ?? {}).length],
  normalize(o) {
    for (const f of ['data', 'binaryData']) if (o[f] === null) delete o[f];
    const data = o['data'];
    if (data !== undefined && !isStringMap(data)) throw badRequest('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal into Go struct field ConfigMap.data of type string');
    const bin = o['binaryData'];
    if (bin !== undefined) {
      if (!isStringMap(bin)) throw badRequest('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal into Go struct field ConfigMap.binaryData of type []uint8');
      for (const [k, v] of Object.entries(bin)) {
        if (!B64.test(v)) throw badRequest(`ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal base64 data at input byte ${firstBadBase64(v)} (key ${JSON.stringify(k)})`);
      }
    }
  },
  validate(o, old) {
    const errs = [...keyErrors('data', o['data']), ...keyErrors('binaryData', o['binaryData'])];
    const data = (o['data'] as Record<string, string> | undefined) ?? {};
    const bin = (o['binaryData'] as Record<string, string> | undefined) ?? {};
    for (const k of Object.keys(bin)) if (k in data) errs.push(invalidValue(`data[${k}]`, k, 'duplicate of key present in binaryData'));
    const size = Object.entries(data).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0) + Object.entries(bin).reduce((n, [k, v]) => n + k.length + decodedLength(v), 0);
    if (size > MAX_CONFIGMAP_SIZE) errs.push(tooLong('[]', MAX_CONFIGMAP_SIZE));
    if (o['immutable'] !== undefined && typeof o['immutable'] !== 'boolean') errs.push(typeInvalid('immutable', o['immutable'], 'must be a boolean'));
    if (old) errs.push(...immutableCheck(o, old, ['data', 'binaryData']));
    return errs;
  },
};

/** Validation and pruning of a CR against its structural schema (kube-openapi wording). */
export function validateAgainstSchema(path: string, value: unknown, schema: Schema, errs: FieldError[]): unknown {
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        errs.push(typeInvalid(path, goTypeName(value), `${path} in body must be of type object: ${JSON.stringify(goTypeName(value))}`));
        return value;
      }
      const props = schema.properties ?? {};
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(value as JsonObject)) {
        const sub = props[k];
        if (sub) {
          if (v === null) continue; // null for a non-nullable field is dropped, as the apiserver does for structural schemas
          out[k] = validateAgainstSchema(`${path}.${k}`, v, sub, errs);
        } else if (schema.preserveUnknownFields) out[k] = v;
        // Otherwise: unknown field, pruned.
      }
      return out;
    }
    case 'array': {
      if (!Array.isArray(value)) {
        errs.push(typeInvalid(path, goTypeName(value), `${path} in body must be of type array: ${JSON.stringify(goTypeName(value))}`));
        return value;
      }
      return value.map((v, i) => validateAgainstSchema(`${path}[${i}]`, v, schema.items, errs));
    }
    case 'string':
      if (typeof value !== 'string') {
        errs.push(typeInvalid(path, goTypeName(value), `${path} in body must be of type string: ${JSON.stringify(goTypeName(value))}`));
      } else if (schema.format === 'date-time' && !DATE_TIME.test(value)) {
        errs.push(invalidValue(path, value, `${path} in body must be of type date-time: ${JSON.stringify(value)}`));
      } else if (schema.enum && !schema.enum.includes(value)) {
        errs.push({ type: 'FieldValueNotSupported', field: path, detail: `Unsupported value: ${JSON.stringify(value)}: supported values: ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}` });
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') errs.push(typeInvalid(path, goTypeName(value), `${path} in body must be of type boolean: ${JSON.stringify(goTypeName(value))}`));
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) errs.push(typeInvalid(path, goTypeName(value), `${path} in body must be of type integer: ${JSON.stringify(goTypeName(value))}`));
      return value;
  }
}

function goTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function customResource(o: {
  kind: string;
  plural: string;
  singular: string;
  spec: Record<string, Schema>;
  status: Schema;
}): ResourceDef {
  const schema: Record<string, Schema> = { spec: { type: 'object', properties: o.spec }, status: o.status };
  return {
    group: 'update.edgeless.systems',
    version: 'v1alpha1',
    kind: o.kind,
    listKind: `${o.kind}List`,
    plural: o.plural,
    singular: o.singular,
    namespaced: false,
    shortNames: [],
    statusSubresource: true,
    schema,
    columns: [],
    cells: () => [],
    normalize() {},
    validate() {
      return [];
    },
  };
}

const conditionSchema: Schema = {
  type: 'object',
  properties: {
    lastTransitionTime: { type: 'string', format: 'date-time' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer' },
    reason: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    type: { type: 'string' },
  },
};

const objectReference: Schema = {
  type: 'object',
  properties: Object.fromEntries(['apiVersion', 'fieldPath', 'kind', 'name', 'namespace', 'resourceVersion', 'uid'].map((k) => [k, { type: 'string' } as Schema])),
};

/** NodeVersion (operators/constellation-node-operator CRD); status lists kept generic where the schema is long. */
const nodeversions = customResource({
  kind: 'NodeVersion',
  plural: 'nodeversions',
  singular: 'nodeversion',
  spec: {
    image: { type: 'string' },
    imageVersion: { type: 'string' },
    kubernetesClusterVersion: { type: 'string' },
    kubernetesComponentsReference: { type: 'string' },
  },
  // The status schema is long (node lists, conditions); only its best-known fields are typed, the rest is kept.
  status: {
    type: 'object',
    preserveUnknownFields: true,
    properties: {
      budget: { type: 'integer' },
      conditions: { type: 'array', items: conditionSchema },
      donors: { type: 'array', items: objectReference },
      heirs: { type: 'array', items: objectReference },
      invalid: { type: 'array', items: objectReference },
      mints: { type: 'array', items: objectReference },
      obsolete: { type: 'array', items: objectReference },
      outdated: { type: 'array', items: objectReference },
    },
  },
});

/** JoiningNode (update.edgeless.systems_joiningnodes.yaml). */
const joiningnodes = customResource({
  kind: 'JoiningNode',
  plural: 'joiningnodes',
  singular: 'joiningnode',
  spec: {
    name: { type: 'string' },
    componentsreference: { type: 'string' },
    iscontrolplane: { type: 'boolean' },
    deadline: { type: 'string', format: 'date-time' },
  },
  status: { type: 'object', properties: {} },
});

export const RESOURCES = { secrets, configmaps, nodeversions, joiningnodes } as const;
export type ResourceName = keyof typeof RESOURCES;
export const RESOURCE_LIST: readonly ResourceDef[] = Object.values(RESOURCES);

export const CUSTOM_GROUP = 'update.edgeless.systems';
export const CUSTOM_VERSION = 'v1alpha1';

export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCE_LIST.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Namespaces the emulator knows (no namespace lifecycle; creating objects elsewhere gives 404 like a missing namespace). */
export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

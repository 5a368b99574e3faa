import { randomUUID } from 'node:crypto';
import { apiVersionOf, RESOURCES, type KubeObject, type ResourceDef, type ResourceName } from './resources.js';

/** RFC 3339 UTC, second precision (metav1.Time). */
export function timestamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * In-memory object storage with a global, monotonically increasing
 * resourceVersion (like etcd's revision). Objects are deep-copied on the way
 * in and out, so callers can never mutate stored state by accident.
 */
export class ObjectStore {
  private revision = 1;
  private readonly data = new Map<string, Map<string, KubeObject>>();

  constructor() {
    for (const r of Object.values(RESOURCES)) this.data.set(r.plural, new Map());
  }

  get resourceVersion(): string {
    return String(this.revision);
  }

  nextResourceVersion(): string {
    this.revision += 1;
    return String(this.revision);
  }

  static key(r: ResourceDef, namespace: string | undefined, name: string): string {
    return r.namespaced ? `${namespace ?? ''}/${name}` : name;
  }

  get(r: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.data.get(r.plural)!.get(ObjectStore.key(r, namespace, name));
    return o && structuredClone(o);
  }

  has(r: ResourceDef, namespace: string | undefined, name: string): boolean {
    return this.data.get(r.plural)!.has(ObjectStore.key(r, namespace, name));
  }

  /** Objects sorted by namespace/name (the apiserver lists in key order). */
  list(r: ResourceDef, namespace?: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const [k, o] of [...this.data.get(r.plural)!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (r.namespaced && namespace !== undefined && !k.startsWith(`${namespace}/`)) continue;
      out.push(structuredClone(o));
    }
    return out;
  }

  /** Stores `obj` with a fresh resourceVersion; returns the stored copy. */
  put(r: ResourceDef, obj: KubeObject): KubeObject {
    const stored = ordered(r, structuredClone(obj));
    stored.metadata ??= {};
    stored.metadata.resourceVersion = this.nextResourceVersion();
    this.data.get(r.plural)!.set(ObjectStore.key(r, stored.metadata.namespace, stored.metadata.name ?? ''), stored);
    return structuredClone(stored);
  }

  delete(r: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    const m = this.data.get(r.plural)!;
    const k = ObjectStore.key(r, namespace, name);
    const o = m.get(k);
    if (o) {
      m.delete(k);
      this.nextResourceVersion();
    }
    return o && structuredClone(o);
  }

  clear(): void {
    for (const m of this.data.values()) m.clear();
  }
}

const META_ORDER = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];
const CORE_ORDER = ['immutable', 'data', 'binaryData', 'stringData', 'type'];

/**
 * Field order as the apiserver prints objects: apiVersion, kind, metadata
 * (ObjectMeta field order), then Go struct order for core kinds and sorted
 * keys for custom resources (unstructured JSON).
 */
function ordered(r: ResourceDef, o: KubeObject): KubeObject {
  const out: KubeObject = {};
  if (o.apiVersion !== undefined) out.apiVersion = o.apiVersion;
  if (o.kind !== undefined) out.kind = o.kind;
  if (o.metadata !== undefined) {
    const m = o.metadata;
    const meta: Record<string, unknown> = {};
    for (const k of META_ORDER) if (m[k] !== undefined) meta[k] = m[k];
    for (const k of Object.keys(m).sort()) if (!(k in meta) && m[k] !== undefined) meta[k] = m[k];
    out.metadata = meta;
  }
  const rest = Object.keys(o).filter((k) => k !== 'apiVersion' && k !== 'kind' && k !== 'metadata');
  const keys = r.group === '' ? [...CORE_ORDER.filter((k) => rest.includes(k)), ...rest.filter((k) => !CORE_ORDER.includes(k))] : rest.sort();
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** Direct, validation-free access to one namespaced resource for tests. */
export interface NamespacedObjects {
  get(namespace: string, name: string): KubeObject | undefined;
  list(namespace?: string): KubeObject[];
  /** Creates or replaces the object as is (no validation); fills apiVersion/kind, uid, creationTimestamp, resourceVersion. */
  put(obj: KubeObject): KubeObject;
  delete(namespace: string, name: string): boolean;
}

/** Direct, validation-free access to one cluster-scoped resource for tests. */
export interface ClusterObjects {
  get(name: string): KubeObject | undefined;
  list(): KubeObject[];
  put(obj: KubeObject): KubeObject;
  delete(name: string): boolean;
}

export interface EmulatorObjects {
  secrets: NamespacedObjects;
  configmaps: NamespacedObjects;
  nodeversions: ClusterObjects;
  joiningnodes: ClusterObjects;
}

function seed(store: ObjectStore, r: ResourceDef, obj: KubeObject): KubeObject {
  const o = structuredClone(obj);
  o.apiVersion ??= apiVersionOf(r);
  o.kind ??= r.kind;
  o.metadata ??= {};
  if (!o.metadata.name) throw new Error('objects.put: metadata.name is required');
  if (r.namespaced) o.metadata.namespace ??= 'default';
  else delete o.metadata.namespace;
  const existing = store.get(r, o.metadata.namespace, o.metadata.name);
  o.metadata.uid ??= existing?.metadata?.uid ?? randomUUID();
  o.metadata.creationTimestamp ??= existing?.metadata?.creationTimestamp ?? timestamp();
  if (r.group && o.metadata.generation === undefined) o.metadata.generation = ((existing?.metadata?.generation as number | undefined) ?? 0) + 1;
  return store.put(r, o);
}

export function objectsView(store: ObjectStore): EmulatorObjects {
  const namespaced = (name: ResourceName): NamespacedObjects => {
    const r = RESOURCES[name];
    return {
      get: (ns, n) => store.get(r, ns, n),
      list: (ns) => store.list(r, ns),
      put: (obj) => seed(store, r, obj),
      delete: (ns, n) => store.delete(r, ns, n) !== undefined,
    };
  };
  const cluster = (name: ResourceName): ClusterObjects => {
    const r = RESOURCES[name];
    return {
      get: (n) => store.get(r, undefined, n),
      list: () => store.list(r),
      put: (obj) => seed(store, r, obj),
      delete: (n) => store.delete(r, undefined, n) !== undefined,
    };
  };
  return { secrets: namespaced('secrets'), configmaps: namespaced('configmaps'), nodeversions: cluster('nodeversions'), joiningnodes: cluster('joiningnodes') };
}

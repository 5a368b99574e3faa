/**
 * Field ownership (`metadata.managedFields`) and server-side apply, reduced
 * to what a small emulator can do faithfully:
 *
 * - Ownership is tracked per (manager, operation) on leaf paths: scalars,
 *   lists and empty maps are leaves; maps are merged key by key. Lists are
 *   atomic (no `listType=map`/`set` merging by key) — the two CRDs and the
 *   core kinds served here have no lists the join service writes.
 * - Apply: fields in the applied configuration become owned by the applier;
 *   a field owned by another manager with a different current value is a
 *   conflict (409, one cause per field) unless `force=true`, which moves the
 *   ownership. Equal values become shared ownership. Fields the applier owned
 *   before and no longer applies are removed unless someone else owns them.
 * - Update (POST, PUT, non-apply PATCH): the writer becomes owner of every
 *   leaf it changed; other managers lose ownership of those leaves; updates
 *   never conflict.
 * - Not modelled: defaulting-aware ownership, `.` (self) entries, `k:`/`v:`
 *   list item keys, the apply/update "manager name from User-Agent" details
 *   beyond the program name, and version conversion (one version per kind).
 */
import type { JsonObject, KubeObject, ManagedFieldsEntry } from './resources.js';

export type FieldPath = readonly string[];

/** Top-level and metadata fields that are never owned (as in the apiserver's field manager). */
const IGNORED_TOP = new Set(['apiVersion', 'kind']);
const IGNORED_META = new Set([
  'name',
  'namespace',
  'generateName',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

function isMap(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ignored(path: FieldPath, statusIgnored: boolean): boolean {
  if (path.length === 1 && IGNORED_TOP.has(path[0]!)) return true;
  if (path.length === 2 && path[0] === 'metadata' && IGNORED_META.has(path[1]!)) return true;
  if (statusIgnored && path[0] === 'status') return true;
  return false;
}

/** All leaf paths of an object, skipping fields that cannot be owned. */
export function leafPaths(obj: unknown, statusIgnored = false, prefix: string[] = []): FieldPath[] {
  const out: FieldPath[] = [];
  if (!isMap(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    const p = [...prefix, k];
    if (ignored(p, statusIgnored)) continue;
    if (isMap(v) && Object.keys(v).length > 0) out.push(...leafPaths(v, statusIgnored, p));
    else out.push(p);
  }
  return out;
}

export const pathKey = (p: FieldPath): string => JSON.stringify(p);
export const pathText = (p: FieldPath): string => p.map((s) => `.${s}`).join('');

export function getPath(obj: unknown, p: FieldPath): unknown {
  let cur: unknown = obj;
  for (const s of p) {
    if (!isMap(cur)) return undefined;
    cur = cur[s];
  }
  return cur;
}

function deletePath(obj: JsonObject, p: FieldPath): void {
  const parents: JsonObject[] = [obj];
  let cur: unknown = obj;
  for (const s of p.slice(0, -1)) {
    if (!isMap(cur)) return;
    cur = cur[s];
    if (!isMap(cur)) return;
    parents.push(cur);
  }
  delete (cur as JsonObject)[p[p.length - 1]!];
  // Remove maps the deletion left empty (metadata itself stays).
  for (let i = parents.length - 1; i >= 1; i--) {
    if (Object.keys(parents[i]!).length > 0) break;
    if (i === 1 && p[0] === 'metadata') break;
    delete parents[i - 1]![p[i - 1]!];
  }
}

function overlaps(a: FieldPath, b: FieldPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isMap(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

/** fieldsV1 encoding: nested `f:<name>` keys, `{}` for owned leaves. */
export function toFieldsV1(paths: readonly FieldPath[]): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    let cur = root;
    for (const s of p) {
      const k = `f:${s}`;
      if (!isMap(cur[k])) cur[k] = {};
      cur = cur[k] as JsonObject;
    }
  }
  return root;
}

/** Leaf paths of a fieldsV1 set; list item keys (`k:`, `v:`, `i:`) collapse to the list itself. */
export function fromFieldsV1(f: unknown, prefix: string[] = []): FieldPath[] {
  if (!isMap(f)) return [];
  const out: FieldPath[] = [];
  let hasChild = false;
  for (const [k, v] of Object.entries(f)) {
    if (k === '.') continue;
    if (k.startsWith('f:')) {
      hasChild = true;
      out.push(...fromFieldsV1(v, [...prefix, k.slice(2)]));
    } else if (/^[kvi]:/.test(k)) {
      return prefix.length ? [prefix] : [];
    }
  }
  if (!hasChild && prefix.length) out.push(prefix);
  return out;
}

interface Owner {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  paths: FieldPath[];
}

function owners(obj: KubeObject | undefined): Owner[] {
  const mf = obj?.metadata?.managedFields;
  if (!Array.isArray(mf)) return [];
  return mf.map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    time: e.time,
    ...(e.subresource ? { subresource: e.subresource } : {}),
    paths: fromFieldsV1(e.fieldsV1),
  }));
}

function toEntries(list: Owner[]): ManagedFieldsEntry[] {
  return list
    .filter((o) => o.paths.length > 0)
    .map((o) => ({
      manager: o.manager,
      operation: o.operation,
      apiVersion: o.apiVersion,
      time: o.time,
      fieldsType: 'FieldsV1' as const,
      fieldsV1: toFieldsV1(o.paths),
      ...(o.subresource ? { subresource: o.subresource } : {}),
    }));
}

const same = (o: Owner, manager: string, operation: string, subresource: string | undefined) =>
  o.manager === manager && o.operation === operation && (o.subresource ?? '') === (subresource ?? '');

/** Keeps only owned paths that still exist in `obj`. */
function prune(list: Owner[], obj: KubeObject, statusIgnored: boolean): void {
  const present = new Set(leafPaths(obj, statusIgnored).map(pathKey));
  for (const o of list) o.paths = o.paths.filter((p) => present.has(pathKey(p)));
}

export interface UpdateOwnershipInput {
  old: KubeObject | undefined;
  next: KubeObject;
  manager: string;
  apiVersion: string;
  now: string;
  statusIgnored: boolean;
  subresource?: string;
}

/** managedFields after an Update-type write (create, replace, non-apply patch). */
export function ownershipAfterUpdate(i: UpdateOwnershipInput): ManagedFieldsEntry[] {
  const list = owners(i.old);
  const newLeaves = leafPaths(i.next, i.statusIgnored);
  const oldLeaves = i.old ? leafPaths(i.old, i.statusIgnored) : [];
  const changed: FieldPath[] = [];
  for (const p of newLeaves) if (!i.old || !sameValue(getPath(i.old, p), getPath(i.next, p))) changed.push(p);
  for (const p of oldLeaves) if (getPath(i.next, p) === undefined) changed.push(p);
  if (changed.length === 0 && i.old) return i.old.metadata?.managedFields ?? [];
  for (const o of list) {
    if (same(o, i.manager, 'Update', i.subresource)) continue;
    o.paths = o.paths.filter((p) => !changed.some((c) => overlaps(c, p)));
  }
  let mine = list.find((o) => same(o, i.manager, 'Update', i.subresource));
  if (!mine) {
    mine = { manager: i.manager, operation: 'Update', apiVersion: i.apiVersion, time: i.now, paths: [], ...(i.subresource ? { subresource: i.subresource } : {}) };
    list.push(mine);
  }
  const keys = new Set(mine.paths.map(pathKey));
  for (const c of changed) if (!keys.has(pathKey(c))) mine.paths.push(c);
  mine.time = i.now;
  mine.apiVersion = i.apiVersion;
  prune(list, i.next, i.statusIgnored);
  return toEntries(list);
}

export interface ApplyConflict {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  path: FieldPath;
}

export interface ApplyInput {
  live: KubeObject | undefined;
  /** The applied configuration (already parsed; name/kind checked by the caller). */
  config: KubeObject;
  manager: string;
  force: boolean;
  apiVersion: string;
  now: string;
  statusIgnored: boolean;
}

export type ApplyResult = { ok: true; object: KubeObject } | { ok: false; conflicts: ApplyConflict[] };

/** Merges `src` into `dst`: maps key by key, everything else replaced. */
function mergeInto(dst: JsonObject, src: JsonObject): void {
  for (const [k, v] of Object.entries(src)) {
    if (isMap(v) && isMap(dst[k])) mergeInto(dst[k] as JsonObject, v);
    else dst[k] = structuredClone(v);
  }
}

/** Server-side apply of `config` onto `live` (or onto nothing: create). */
export function serverSideApply(i: ApplyInput): ApplyResult {
  const list = owners(i.live);
  const applied = leafPaths(i.config, i.statusIgnored);
  const conflicts: ApplyConflict[] = [];
  if (i.live) {
    for (const o of list) {
      if (same(o, i.manager, 'Apply', undefined)) continue;
      for (const p of applied) {
        const clash = o.paths.filter((q) => overlaps(p, q));
        if (clash.length === 0) continue;
        if (sameValue(getPath(i.live, p), getPath(i.config, p))) continue;
        if (i.force) o.paths = o.paths.filter((q) => !overlaps(p, q));
        else conflicts.push({ manager: o.manager, operation: o.operation, apiVersion: o.apiVersion, ...(o.subresource ? { subresource: o.subresource } : {}), path: p });
      }
    }
  }
  if (conflicts.length > 0) return { ok: false, conflicts };

  const next: KubeObject = i.live ? structuredClone(i.live) : { metadata: {} };
  let mine = list.find((o) => same(o, i.manager, 'Apply', undefined));
  const appliedKeys = new Set(applied.map(pathKey));
  if (mine) {
    for (const p of mine.paths) {
      if (appliedKeys.has(pathKey(p))) continue;
      const ownedElsewhere = list.some((o) => o !== mine && o.paths.some((q) => overlaps(p, q)));
      if (!ownedElsewhere) deletePath(next, p);
    }
  } else {
    mine = { manager: i.manager, operation: 'Apply', apiVersion: i.apiVersion, time: i.now, paths: [] };
    list.push(mine);
  }
  const cfg = structuredClone(i.config);
  const { metadata: cfgMeta, ...cfgRest } = cfg;
  mergeInto(next as JsonObject, cfgRest as JsonObject);
  if (cfgMeta) {
    const meta = (next.metadata ??= {});
    for (const [k, v] of Object.entries(cfgMeta)) {
      if (IGNORED_META.has(k) && k !== 'name' && k !== 'namespace' && k !== 'generateName') continue;
      if (isMap(v) && isMap(meta[k])) mergeInto(meta[k] as JsonObject, v);
      else meta[k] = structuredClone(v);
    }
  }
  // Take ownership; others keep shared ownership of equal values.
  mine.paths = applied.slice();
  mine.time = i.now;
  mine.apiVersion = i.apiVersion;
  prune(list, next, i.statusIgnored);
  next.metadata!.managedFields = toEntries(list);
  return { ok: true, object: next };
}

/** The apiserver's conflict message (`Apply failed with N conflict(s): …`). */
export function conflictMessage(conflicts: readonly ApplyConflict[]): { message: string; causes: { reason: string; message: string; field: string }[] } {
  const who = (c: ApplyConflict) => {
    let s = `conflict with "${c.manager}"`;
    if (c.operation === 'Update') s += ` using ${c.apiVersion}`;
    if (c.subresource) s += ` with subresource "${c.subresource}"`;
    return s;
  };
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: who(c), field: pathText(c.path) }));
  if (conflicts.length === 1) {
    return { message: `Apply failed with 1 conflict: ${who(conflicts[0]!)}: ${pathText(conflicts[0]!.path)}`, causes };
  }
  const groups = new Map<string, string[]>();
  for (const c of conflicts) {
    const k = who(c).replace(/^conflict with/, 'conflicts with');
    groups.set(k, [...(groups.get(k) ?? []), pathText(c.path)]);
  }
  const parts = [...groups].map(([k, paths]) => `${k}:\n${paths.map((p) => `- ${p}`).join('\n')}`);
  return { message: `Apply failed with ${conflicts.length} conflicts: ${parts.join('\n')}`, causes };
}

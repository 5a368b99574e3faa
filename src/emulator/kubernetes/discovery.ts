/**
 * Discovery documents (the legacy, non-aggregated format every client
 * version understands) and a minimal OpenAPI v2 document.
 */
import { createHash } from 'node:crypto';
import { CUSTOM_GROUP, CUSTOM_VERSION, RESOURCE_LIST, type ResourceDef } from './resources.js';

export const EMULATED_VERSION = { major: '1', minor: '34', gitVersion: 'v1.34.0-emulator' } as const;

const WRITE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update'];

function storageVersionHash(r: ResourceDef): string {
  return createHash('sha256').update(`${r.group}/${r.version}/${r.kind}`).digest('base64').slice(0, 11);
}

function resourceEntries(r: ResourceDef): Record<string, unknown>[] {
  const main = {
    name: r.plural,
    singularName: r.singular,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: WRITE_VERBS,
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    storageVersionHash: storageVersionHash(r),
  };
  if (!r.statusSubresource) return [main];
  return [main, { name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }];
}

export function versionInfo(): Record<string, string> {
  return {
    major: EMULATED_VERSION.major,
    minor: EMULATED_VERSION.minor,
    gitVersion: EMULATED_VERSION.gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.24.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function coreApiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function coreV1Resources(): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      ...RESOURCE_LIST.filter((r) => r.group === '').flatMap(resourceEntries),
      { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns'] },
      { name: 'events', singularName: 'event', namespaced: true, kind: 'Event', verbs: ['list'], shortNames: ['ev'] },
    ],
  };
}

function customGroup(): Record<string, unknown> {
  const gv = { groupVersion: `${CUSTOM_GROUP}/${CUSTOM_VERSION}`, version: CUSTOM_VERSION };
  return { name: CUSTOM_GROUP, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): Record<string, unknown> {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [customGroup()] };
}

export function apiGroup(group: string): Record<string, unknown> | undefined {
  return group === CUSTOM_GROUP ? { kind: 'APIGroup', apiVersion: 'v1', ...customGroup() } : undefined;
}

export function groupVersionResources(group: string, version: string): Record<string, unknown> | undefined {
  if (group !== CUSTOM_GROUP || version !== CUSTOM_VERSION) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${group}/${version}`,
    resources: RESOURCE_LIST.filter((r) => r.group === group && r.version === version).flatMap(resourceEntries),
  };
}

/** OpenAPI v2 as JSON: no paths or definitions (clients then skip schema validation of these kinds). */
export function openApiV2Json(): Record<string, unknown> {
  return { swagger: '2.0', info: { title: 'Kubernetes', version: EMULATED_VERSION.gitVersion }, paths: {}, definitions: {} };
}

function pbString(field: number, s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([(field << 3) | 2, b.length]), b]);
}

/**
 * The same document as a gnostic `openapi_v2.Document` protobuf (what kubectl
 * requests with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`):
 * field 1 `swagger`, field 2 `info` {1 title, 2 version}.
 */
export function openApiV2Protobuf(): Buffer {
  const info = Buffer.concat([pbString(1, 'Kubernetes'), pbString(2, EMULATED_VERSION.gitVersion)]);
  return Buffer.concat([pbString(1, '2.0'), Buffer.from([(2 << 3) | 2, info.length]), info]);
}

/** OpenAPI v3 discovery: no group-version documents. */
export function openApiV3Root(): Record<string, unknown> {
  return { paths: {} };
}

/**
 * A small Kubernetes API server emulator speaking the real REST semantics for
 * the objects the join service touches: core/v1 Secrets and ConfigMaps and the
 * cluster-scoped update.edgeless.systems/v1alpha1 NodeVersion and JoiningNode
 * custom resources. Used by tests and by `joinservice dev`.
 *
 * Served: discovery (/api, /api/v1, /apis, /apis/<group>[/<version>],
 * /version, /openapi/v2, /openapi/v3), GET/LIST (label and field selectors,
 * limit/continue, server-side Table output for kubectl), POST, PUT, PATCH
 * (merge, JSON patch, strategic merge for core kinds, server-side apply),
 * DELETE and DELETE-collection, the /status subresource of the custom
 * resources, read-only namespaces, and empty event lists (kubectl describe).
 * Not served: watch, protobuf, aggregated discovery, admission webhooks,
 * finalizers and graceful deletion.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import YAML from 'yaml';
import {
  apiGroup,
  apiGroupList,
  coreApiVersions,
  coreV1Resources,
  groupVersionResources,
  openApiV2Json,
  openApiV2Protobuf,
  openApiV3Root,
  versionInfo,
} from './discovery.js';
import { EmulatorFaults, type OutageMode } from './faults.js';
import { canonical, conflictMessage, ownershipAfterUpdate, serverSideApply } from './managed-fields.js';
import { jsonPatch, mergePatch } from './patch.js';
import {
  apiVersionOf,
  DEFAULT_NAMESPACES,
  findResource,
  RESOURCE_LIST,
  tableCells,
  tableColumns,
  validateAgainstSchema,
  validateMetadataMaps,
  validateName,
  type JsonObject,
  type KubeObject,
  type ResourceDef,
} from './resources.js';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  forbiddenRequest,
  internalError,
  invalid,
  invalidValue,
  methodNotAllowed,
  notFound,
  pathNotFound,
  requestEntityTooLarge,
  requiredValue,
  STALE_OBJECT,
  statusForCode,
  tooLong,
  unauthorized,
  unsupportedMediaType,
  type FieldError,
} from './status.js';
import { ObjectStore, objectsView, timestamp, type EmulatorObjects } from './store.js';
import { generateEmulatorTls } from './tls.js';

export interface KubernetesEmulatorOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (a free port). */
  port?: number;
  /** Bearer token with full access; random by default. */
  token?: string;
  /** Bearer token allowed only get/list (writes answer 403); random by default. */
  readOnlyToken?: string;
  /** Largest accepted request body; default 1 MiB (the real apiserver allows 3 MiB). Larger → 413. */
  maxBodyBytes?: number;
  /** Namespaces that exist; default default, kube-system, kube-public, kube-node-lease. */
  namespaces?: string[];
  /** Clock for creationTimestamp and managedFields times. */
  now?: () => Date;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  accept: string | undefined;
  userAgent: string | undefined;
  /** The request body as text (set once read; absent for GET and for rejected bodies). */
  body?: string;
  /** The HTTP status answered (undefined while in flight or if the connection died first). */
  status?: number;
}

interface User {
  name: string;
  readOnly: boolean;
}

const ADMIN_USER = 'system:admin';
const READONLY_USER = 'system:serviceaccount:kube-system:read-only';
const MAX_RECORDED = 10_000;
const TABLE = /as=Table/;

const APPLY_PATCH = 'application/apply-patch+yaml';
const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';

interface ResourceRoute {
  kind: 'resource';
  r: ResourceDef;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

type Route =
  | { kind: 'doc'; body: unknown }
  | { kind: 'openapi-v2' }
  | { kind: 'namespaces'; name: string | undefined }
  | { kind: 'events'; namespace: string | undefined }
  | ResourceRoute;

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

function isMap(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class KubernetesEmulator {
  readonly caPem: string;
  readonly token: string;
  readonly readOnlyToken: string;
  readonly objects: EmulatorObjects;
  readonly faults: EmulatorFaults;
  /** Every request received (newest last, at most 10 000). */
  readonly requests: RecordedRequest[] = [];

  private readonly server: Server;
  private readonly store = new ObjectStore();
  private readonly sockets = new Set<Socket>();
  private readonly namespaces: Map<string, { uid: string; creationTimestamp: string }>;
  private readonly maxBodyBytes: number;
  private readonly now: () => Date;
  private readonly host: string;
  private boundPort = 0;
  private outage: OutageMode | undefined;
  private stopped = false;
  private readonly pending = new Set<AbortController>();

  private constructor(o: KubernetesEmulatorOptions) {
    const tls = generateEmulatorTls();
    this.caPem = tls.caPem;
    this.token = o.token ?? randomBytes(24).toString('hex');
    this.readOnlyToken = o.readOnlyToken ?? randomBytes(24).toString('hex');
    this.maxBodyBytes = o.maxBodyBytes ?? 1024 * 1024;
    this.now = o.now ?? (() => new Date());
    this.host = o.host ?? '127.0.0.1';
    this.namespaces = new Map((o.namespaces ?? DEFAULT_NAMESPACES).map((n) => [n, { uid: randomUUID(), creationTimestamp: timestamp(this.now()) }]));
    this.objects = objectsView(this.store);
    this.faults = new EmulatorFaults({
      start: (mode) => this.startOutage(mode),
      end: () => this.endOutage(),
      mode: () => this.outage,
    });
    this.server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => void this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      if (this.outage === 'reset') {
        s.resetAndDestroy();
        return;
      }
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('tlsClientError', () => {});
  }

  /** Starts an emulator listening on 127.0.0.1 (by default on a free port). */
  static async start(o: KubernetesEmulatorOptions = {}): Promise<KubernetesEmulator> {
    const e = new KubernetesEmulator(o);
    await e.listen(o.port ?? 0);
    return e;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `https://127.0.0.1:<port>` */
  get endpoint(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `https://${h}:${this.boundPort}`;
  }

  /**
   * A kubeconfig (YAML) for this emulator: cluster `emulator` with the CA
   * inlined, a token user, current context `emulator` (namespace kube-system).
   */
  kubeconfig(o: { readOnly?: boolean; token?: string; namespace?: string } = {}): string {
    const token = o.token ?? (o.readOnly ? this.readOnlyToken : this.token);
    return YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'emulator', cluster: { server: this.endpoint, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'emulator-user', user: { token } }],
      contexts: [{ name: 'emulator', context: { cluster: 'emulator', user: 'emulator-user', namespace: o.namespace ?? 'kube-system' } }],
      'current-context': 'emulator',
      preferences: {},
    });
  }

  /** Writes kubeconfig() to `path` (mode 0600) and returns the path. */
  async writeKubeconfig(path: string, o: { readOnly?: boolean; token?: string; namespace?: string } = {}): Promise<string> {
    await writeFile(path, this.kubeconfig(o), { mode: 0o600 });
    return path;
  }

  /** Forgets all recorded requests. */
  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Removes all objects (namespaces stay). */
  reset(): void {
    this.store.clear();
    this.faults.clear();
    this.clearRequests();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.pending) c.abort();
    await this.closeListener();
  }

  // ---- listener / outages -------------------------------------------------

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, this.host, () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private closeListener(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        for (const s of this.sockets) s.destroy();
        resolve();
        return;
      }
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private async startOutage(mode: OutageMode): Promise<void> {
    if (this.stopped) return;
    if (this.outage === 'refuse' && mode !== 'refuse') await this.listen(this.boundPort);
    this.outage = mode;
    for (const c of this.pending) c.abort();
    if (mode === 'refuse') await this.closeListener();
    else for (const s of this.sockets) s.resetAndDestroy();
  }

  private async endOutage(): Promise<void> {
    if (this.stopped || this.outage === undefined) return;
    const was = this.outage;
    this.outage = undefined;
    if (was === 'refuse') await this.listen(this.boundPort);
  }

  // ---- request handling ---------------------------------------------------

  private record(req: IncomingMessage, url: URL): RecordedRequest {
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
      userAgent: req.headers['user-agent'],
    };
    this.requests.push(rec);
    if (this.requests.length > MAX_RECORDED) this.requests.splice(0, this.requests.length - MAX_RECORDED);
    return rec;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    const rec = this.record(req, url);
    const method = rec.method;
    try {
      const fault = this.faults.take(method, url.pathname);
      if (fault.delayMs > 0) await this.sleep(fault.delayMs, res);
      if (res.destroyed || this.stopped) return;
      if (fault.error?.body !== undefined) {
        rec.status = fault.error.status;
        const raw = Buffer.from(fault.error.body);
        res.writeHead(fault.error.status, { 'Content-Type': fault.error.contentType ?? 'text/plain; charset=utf-8', 'Content-Length': raw.length });
        res.end(raw);
        return;
      }
      if (fault.error) throw statusForCode(fault.error.status, fault.error.message, fault.error.reason);
      const user = this.authenticate(req);
      const body = method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : await this.readBody(req);
      if (body.length > 0) rec.body = body.toString('utf8');
      const route = this.route(url.pathname);
      await this.dispatch({ req, res, url, method, user, body, route, rec });
    } catch (err) {
      const e = err instanceof ApiError ? err : internalError((err as Error).message);
      this.sendStatus(res, rec, e);
    }
  }

  private sleep(ms: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const ctl = new AbortController();
      this.pending.add(ctl);
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(ctl);
        res.off('close', done);
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      res.on('close', done);
      ctl.signal.addEventListener('abort', () => {
        res.destroy();
        done();
      });
    });
  }

  private authenticate(req: IncomingMessage): User {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    if (m) {
      const t = m[1]!.trim();
      if (t === this.token) return { name: ADMIN_USER, readOnly: false };
      if (t === this.readOnlyToken) return { name: READONLY_USER, readOnly: true };
    }
    throw unauthorized();
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.maxBodyBytes) {
      req.resume();
      throw requestEntityTooLarge(this.maxBodyBytes);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      total += c.length;
      if (total > this.maxBodyBytes) {
        req.resume();
        throw requestEntityTooLarge(this.maxBodyBytes);
      }
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  private route(path: string): Route {
    const seg = path.split('/').filter((s) => s.length > 0).map(decodeURIComponent);
    const p = '/' + seg.join('/');
    switch (p) {
      case '/version':
        return { kind: 'doc', body: versionInfo() };
      case '/healthz':
      case '/livez':
      case '/readyz':
        return { kind: 'doc', body: 'ok' };
      case '/api':
        return { kind: 'doc', body: coreApiVersions(`${this.host}:${this.boundPort}`) };
      case '/api/v1':
        return { kind: 'doc', body: coreV1Resources() };
      case '/apis':
        return { kind: 'doc', body: apiGroupList() };
      case '/openapi/v2':
        return { kind: 'openapi-v2' };
      case '/openapi/v3':
        return { kind: 'doc', body: openApiV3Root() };
    }
    if (seg[0] === 'api' && seg[1] === 'v1') return this.resourceRoute('', 'v1', seg.slice(2));
    if (seg[0] === 'apis' && seg.length >= 2) {
      if (seg.length === 2) {
        const g = apiGroup(seg[1]!);
        if (g) return { kind: 'doc', body: g };
        throw pathNotFound();
      }
      if (seg.length === 3) {
        const gv = groupVersionResources(seg[1]!, seg[2]!);
        if (gv) return { kind: 'doc', body: gv };
        throw pathNotFound();
      }
      return this.resourceRoute(seg[1]!, seg[2]!, seg.slice(3));
    }
    throw pathNotFound();
  }

  private resourceRoute(group: string, version: string, rest: string[]): Route {
    let namespace: string | undefined;
    if (rest[0] === 'namespaces') {
      if (group === '' && rest.length <= 2) return { kind: 'namespaces', name: rest[1] };
      namespace = rest[1];
      rest = rest.slice(2);
    }
    if (group === '' && rest[0] === 'events' && rest.length === 1) return { kind: 'events', namespace };
    const plural = rest[0];
    if (!plural) throw pathNotFound();
    const r = findResource(group, version, plural);
    if (!r) throw pathNotFound();
    if (namespace !== undefined && !r.namespaced) throw pathNotFound();
    const name = rest[1];
    const subresource = rest[2];
    if (rest.length > 3) throw pathNotFound();
    if (subresource !== undefined && !(subresource === 'status' && r.statusSubresource)) throw pathNotFound();
    return { kind: 'resource', r, namespace, name, subresource };
  }

  private async dispatch(c: RequestContext): Promise<void> {
    const { route, method } = c;
    if (method !== 'GET' && method !== 'HEAD' && route.kind !== 'resource') throw methodNotAllowed();
    if (route.kind === 'doc') {
      this.send(c, 200, route.body);
      return;
    }
    if (route.kind === 'openapi-v2') {
      if ((c.req.headers.accept ?? '').includes('protobuf')) {
        // Go's mime parser rejects '@', so the response type is spelled with a dot (as kube-openapi does).
        this.sendRaw(c, 200, openApiV2Protobuf(), 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
      } else this.send(c, 200, openApiV2Json());
      return;
    }
    if (route.kind === 'namespaces') {
      this.serveNamespaces(c, route.name);
      return;
    }
    if (route.kind === 'events') {
      this.send(c, 200, { kind: 'EventList', apiVersion: 'v1', metadata: { resourceVersion: this.store.resourceVersion }, items: [] });
      return;
    }
    const rr = route;
    const verb = this.verbOf(method, rr);
    if (c.user.readOnly && verb !== 'get' && verb !== 'list') {
      throw forbiddenRequest({ user: c.user.name, verb, gr: rr.r, ...(rr.name ? { name: rr.name } : {}), ...(rr.namespace ? { namespace: rr.namespace } : {}), ...(rr.subresource ? { subresource: rr.subresource } : {}) });
    }
    switch (verb) {
      case 'list':
        return this.list(c, rr);
      case 'get':
        return this.get(c, rr);
      case 'create':
        return this.create(c, rr);
      case 'update':
        return this.update(c, rr);
      case 'patch':
        return this.patch(c, rr);
      case 'delete':
        return this.delete(c, rr);
      case 'deletecollection':
        return this.deleteCollection(c, rr);
    }
  }

  private verbOf(method: string, rr: ResourceRoute): 'list' | 'get' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' {
    const item = rr.name !== undefined;
    if (rr.r.namespaced && rr.namespace === undefined && (method !== 'GET' || item)) throw pathNotFound();
    switch (method) {
      case 'GET':
      case 'HEAD':
        return item ? 'get' : 'list';
      case 'POST':
        if (item) throw methodNotAllowed();
        return 'create';
      case 'PUT':
        if (!item) throw methodNotAllowed();
        return 'update';
      case 'PATCH':
        if (!item) throw methodNotAllowed();
        return 'patch';
      case 'DELETE':
        return item ? 'delete' : 'deletecollection';
      default:
        throw methodNotAllowed();
    }
  }

  // ---- responses ----------------------------------------------------------

  private sendRaw(c: RequestContext, code: number, body: Buffer, contentType: string): void {
    c.rec.status = code;
    if (c.res.headersSent || c.res.destroyed) return;
    c.res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': body.length, 'Cache-Control': 'no-cache, private' });
    c.res.end(c.method === 'HEAD' ? undefined : body);
  }

  private send(c: RequestContext, code: number, body: unknown): void {
    const accept = c.req.headers.accept;
    if (accept && !/application\/json|\*\/\*|application\/\*/.test(accept) && !/^\s*$/.test(accept)) {
      throw new ApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/yaml');
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    this.sendRaw(c, code, Buffer.from(text + (typeof body === 'string' ? '' : '\n')), typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json');
  }

  private sendStatus(res: ServerResponse, rec: RecordedRequest, e: ApiError): void {
    rec.status = e.code;
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(JSON.stringify(e.toStatus()) + '\n');
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-cache, private' };
    if (e.details?.retryAfterSeconds) headers['Retry-After'] = e.details.retryAfterSeconds;
    if (e.code === 413) headers['Connection'] = 'close';
    res.writeHead(e.code, headers);
    res.end(body);
  }

  private wantsTable(c: RequestContext): boolean {
    return TABLE.test(c.req.headers.accept ?? '');
  }

  private table(c: RequestContext, r: ResourceDef, objs: KubeObject[], listMeta: JsonObject): JsonObject {
    const include = c.url.searchParams.get('includeObject') ?? 'Metadata';
    const now = this.now().getTime();
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: listMeta,
      columnDefinitions: tableColumns(r),
      rows: objs.map((o) => ({
        cells: tableCells(r, o, now),
        ...(include === 'None'
          ? {}
          : { object: include === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } }),
      })),
    };
  }

  // ---- namespaces ---------------------------------------------------------

  private namespaceObject(name: string): KubeObject {
    const n = this.namespaces.get(name)!;
    return {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: { name, uid: n.uid, resourceVersion: '1', creationTimestamp: n.creationTimestamp, labels: { 'kubernetes.io/metadata.name': name } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
  }

  private serveNamespaces(c: RequestContext, name: string | undefined): void {
    if (name === undefined) {
      const items = [...this.namespaces.keys()].sort().map((n) => this.namespaceObject(n));
      this.send(c, 200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: this.store.resourceVersion }, items });
      return;
    }
    if (!this.namespaces.has(name)) throw notFound({ group: '', plural: 'namespaces' }, name);
    this.send(c, 200, this.namespaceObject(name));
  }

  private requireNamespace(ns: string | undefined): void {
    if (ns !== undefined && !this.namespaces.has(ns)) throw notFound({ group: '', plural: 'namespaces' }, ns);
  }

  // ---- read ---------------------------------------------------------------

  private get(c: RequestContext, rr: ResourceRoute): void {
    const o = this.store.get(rr.r, rr.namespace, rr.name!);
    if (!o) throw notFound(rr.r, rr.name!);
    if (this.wantsTable(c)) this.send(c, 200, this.table(c, rr.r, [o], { resourceVersion: o.metadata?.resourceVersion ?? '' }));
    else this.send(c, 200, o);
  }

  private list(c: RequestContext, rr: ResourceRoute): void {
    const q = c.url.searchParams;
    if (q.get('watch') === 'true' || q.get('watch') === '1') throw methodNotAllowed('watch is not supported by the emulator');
    let items = this.store.list(rr.r, rr.namespace);
    const labelSel = q.get('labelSelector');
    if (labelSel) items = items.filter(labelMatcher(labelSel));
    const fieldSel = q.get('fieldSelector');
    if (fieldSel) items = items.filter(fieldMatcher(rr.r, fieldSel));
    const cont = q.get('continue');
    if (cont) {
      let after: string;
      try {
        after = Buffer.from(cont, 'base64url').toString('utf8');
      } catch {
        throw badRequest('continue key is not valid');
      }
      items = items.filter((o) => keyOf(o) > after);
    }
    const limit = Number(q.get('limit') ?? '0');
    const meta: JsonObject = { resourceVersion: this.store.resourceVersion };
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      meta['continue'] = Buffer.from(keyOf(items[items.length - 1]!)).toString('base64url');
    }
    if (this.wantsTable(c)) {
      this.send(c, 200, this.table(c, rr.r, items, meta));
      return;
    }
    const core = rr.r.group === '';
    this.send(c, 200, {
      kind: rr.r.listKind,
      apiVersion: apiVersionOf(rr.r),
      metadata: meta,
      items: items.map((o) => {
        if (!core) return o;
        const { apiVersion: _a, kind: _k, ...rest } = o;
        return rest;
      }),
    });
  }

  // ---- write helpers ------------------------------------------------------

  private parseObject(c: RequestContext, allowYaml: boolean): KubeObject {
    const ct = mediaType(c.req.headers['content-type']);
    if (!allowYaml && ct !== '' && ct !== 'application/json' && ct !== 'application/yaml') {
      throw unsupportedMediaType(ct, ['application/json', 'application/yaml']);
    }
    const text = c.body.toString('utf8');
    let v: unknown;
    if (ct === 'application/yaml' || (allowYaml && ct === APPLY_PATCH)) {
      try {
        v = YAML.parse(text);
      } catch (e) {
        throw badRequest(`error decoding YAML: ${(e as Error).message.split('\n')[0]}`);
      }
    } else {
      try {
        v = JSON.parse(text);
      } catch (e) {
        throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
      }
    }
    if (!isMap(v)) throw badRequest(`couldn't get version/kind; json parse error: the request body must be a JSON object`);
    return v as KubeObject;
  }

  private checkTypeMeta(r: ResourceDef, o: KubeObject, required: boolean): void {
    const want = apiVersionOf(r);
    if (o.kind === undefined || o.kind === '') {
      if (required) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(o).slice(0, 200)}'`);
      o.kind = r.kind;
    }
    if (o.apiVersion === undefined || o.apiVersion === '') {
      if (required) throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(o).slice(0, 200)}'`);
      o.apiVersion = want;
    }
    if (o.apiVersion !== want) throw badRequest(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${want})`);
    if (o.kind !== r.kind) throw badRequest(`${String(o.kind)} in version "${r.version}" cannot be handled as a ${r.kind}: the object kind does not match the resource (expected ${r.kind})`);
    if (o.metadata !== undefined && !isMap(o.metadata)) throw badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: metadata must be an object`);
    o.metadata ??= {};
  }

  private fieldManager(c: RequestContext): string {
    const fm = c.url.searchParams.get('fieldManager');
    if (fm) {
      if (fm.length > 128) throw invalid('PatchOptions', 'meta.k8s.io', '', [tooLong('fieldManager', 128)]);
      return fm;
    }
    const ua = c.req.headers['user-agent'] ?? '';
    return ua.split('/')[0] || 'unknown';
  }

  private dryRun(c: RequestContext): boolean {
    const d = c.url.searchParams.getAll('dryRun');
    for (const v of d) if (v !== 'All') throw invalid('CreateOptions', 'meta.k8s.io', '', [{ type: 'FieldValueNotSupported', field: 'dryRun', detail: `Unsupported value: ${JSON.stringify(v)}: supported values: "All"` }]);
    return d.length > 0;
  }

  /** Metadata checks of ValidateObjectMeta / ValidateObjectMetaUpdate. */
  private metaErrors(r: ResourceDef, o: KubeObject, old: KubeObject | undefined): FieldError[] {
    const meta = o.metadata!;
    const errs: FieldError[] = [];
    const name = meta.name;
    if (!name) errs.push(requiredValue('metadata.name', 'name or generateName is required'));
    else if (typeof name !== 'string') errs.push(invalidValue('metadata.name', name, 'must be a string'));
    else for (const m of validateName(name)) errs.push(invalidValue('metadata.name', name, m));
    errs.push(...validateMetadataMaps(meta));
    if (old) {
      if (meta.uid !== undefined && meta.uid !== old.metadata?.uid) errs.push(invalidValue('metadata.uid', meta.uid, 'field is immutable'));
    }
    if (r.schema) {
      // Structural pruning + schema validation of everything but metadata.
      const pruned: JsonObject = {};
      for (const [k, v] of Object.entries(o)) {
        if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
        const s = r.schema[k];
        if (!s) {
          delete o[k];
          continue;
        }
        if (v === null) {
          delete o[k];
          continue;
        }
        pruned[k] = validateAgainstSchema(k, v, s, errs);
      }
      Object.assign(o, pruned);
    }
    errs.push(...r.validate(o, old));
    return errs;
  }

  private validateOrThrow(r: ResourceDef, o: KubeObject, old: KubeObject | undefined): void {
    const errs = this.metaErrors(r, o, old);
    if (errs.length > 0) throw invalid(r.kind, r.group, String(o.metadata?.name ?? ''), errs);
  }

  /** Clears server-managed metadata from client input before a create. */
  private prepareCreate(r: ResourceDef, o: KubeObject, urlNamespace: string | undefined): void {
    const meta = o.metadata!;
    if (r.namespaced) {
      if (meta.namespace && meta.namespace !== urlNamespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = urlNamespace;
    } else delete meta.namespace;
    if (!meta.name && typeof meta.generateName === 'string' && meta.generateName) {
      const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
      meta.name = meta.generateName + [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
    }
    if (meta.resourceVersion) {
      throw invalid(r.kind, r.group, String(meta.name ?? ''), [invalidValue('metadata.resourceVersion', meta.resourceVersion, 'must be empty')]);
    }
    delete meta.uid;
    delete meta.creationTimestamp;
    delete meta.deletionTimestamp;
    delete meta.generation;
    delete meta.managedFields;
    delete meta.selfLink;
    if (r.statusSubresource) delete o['status'];
    r.normalize(o);
  }

  private finishCreate(r: ResourceDef, o: KubeObject, manager: string): KubeObject {
    const meta = o.metadata!;
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp(this.now());
    if (r.group) meta.generation = 1;
    meta.managedFields = ownershipAfterUpdate({ old: undefined, next: o, manager, apiVersion: apiVersionOf(r), now: timestamp(this.now()), statusIgnored: r.statusSubresource });
    return o;
  }

  /** Carries server-managed fields of `old` into an update and bumps generation if the spec changed. */
  private carryOver(r: ResourceDef, o: KubeObject, old: KubeObject, subresource: string | undefined): void {
    const meta = o.metadata!;
    const oldMeta = old.metadata!;
    meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    meta.namespace = oldMeta.namespace;
    meta.name = oldMeta.name;
    if (r.statusSubresource) {
      if (subresource === 'status') {
        // Only status changes through /status.
        const status = o['status'];
        for (const k of Object.keys(o)) if (k !== 'status') delete o[k];
        Object.assign(o, structuredClone({ ...old, status }));
        if (status === undefined) delete o['status'];
        o.metadata = { ...structuredClone(oldMeta), ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}) };
      } else if (old['status'] !== undefined) o['status'] = structuredClone(old['status']);
      else delete o['status'];
    }
    if (r.group) {
      const specOf = (x: KubeObject) => canonical(Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'metadata' && k !== 'status')));
      const gen = (oldMeta.generation as number | undefined) ?? 1;
      o.metadata!.generation = specOf(o) === specOf(old) ? gen : gen + 1;
    }
  }

  private unchanged(a: KubeObject, b: KubeObject): boolean {
    const strip = (o: KubeObject) => {
      const c = structuredClone(o);
      delete c.metadata?.resourceVersion;
      for (const e of c.metadata?.managedFields ?? []) (e as { time?: string }).time = '';
      return canonical(c);
    };
    return strip(a) === strip(b);
  }

  private commit(c: RequestContext, r: ResourceDef, o: KubeObject, code: number, old?: KubeObject): void {
    if (old && this.unchanged(o, old)) {
      this.send(c, 200, old);
      return;
    }
    if (this.dryRun(c)) {
      o.metadata!.resourceVersion = old?.metadata?.resourceVersion ?? '';
      this.send(c, code, o);
      return;
    }
    this.send(c, code, this.store.put(r, o));
  }

  // ---- create / update / patch / delete ------------------------------------

  private create(c: RequestContext, rr: ResourceRoute): void {
    const o = this.parseObject(c, false);
    this.checkTypeMeta(rr.r, o, false);
    this.requireNamespace(rr.namespace);
    this.prepareCreate(rr.r, o, rr.namespace);
    this.validateOrThrow(rr.r, o, undefined);
    if (this.store.has(rr.r, rr.namespace, o.metadata!.name!)) throw alreadyExists(rr.r, o.metadata!.name!);
    this.finishCreate(rr.r, o, this.fieldManager(c));
    this.commit(c, rr.r, o, 201);
  }

  private checkName(o: KubeObject, rr: ResourceRoute): void {
    const meta = o.metadata!;
    if (meta.name !== rr.name) throw badRequest(`the name of the object (${String(meta.name ?? '')}) does not match the name on the URL (${rr.name})`);
    if (rr.r.namespaced && meta.namespace && meta.namespace !== rr.namespace) {
      throw badRequest(`the namespace of the object (${meta.namespace}) does not match the namespace on the URL (${rr.namespace})`);
    }
  }

  /** Optimistic concurrency: a given resourceVersion must be current; CRs require one (no unconditional update). */
  private checkResourceVersion(rr: ResourceRoute, o: KubeObject, old: KubeObject, requireForCustom: boolean): void {
    const rv = o.metadata?.resourceVersion;
    if (rv) {
      if (rv !== old.metadata?.resourceVersion) throw conflict(rr.r, rr.name!, STALE_OBJECT);
    } else if (requireForCustom && rr.r.group) {
      throw invalid(rr.r.kind, rr.r.group, rr.name!, [invalidValue('metadata.resourceVersion', '0x0', 'must be specified for an update')]);
    }
  }

  private writeUpdate(c: RequestContext, rr: ResourceRoute, o: KubeObject, old: KubeObject, requireRv: boolean): void {
    this.checkResourceVersion(rr, o, old, requireRv);
    this.carryOver(rr.r, o, old, rr.subresource);
    delete o.metadata!.managedFields;
    rr.r.normalize(o);
    this.validateOrThrow(rr.r, o, old);
    o.metadata!.managedFields = ownershipAfterUpdate({
      old,
      next: o,
      manager: this.fieldManager(c),
      apiVersion: apiVersionOf(rr.r),
      now: timestamp(this.now()),
      statusIgnored: rr.r.statusSubresource && rr.subresource !== 'status',
      ...(rr.subresource ? { subresource: rr.subresource } : {}),
    });
    o.metadata!.resourceVersion = old.metadata!.resourceVersion;
    this.commit(c, rr.r, o, 200, old);
  }

  private update(c: RequestContext, rr: ResourceRoute): void {
    const o = this.parseObject(c, false);
    this.checkTypeMeta(rr.r, o, false);
    this.checkName(o, rr);
    const old = this.store.get(rr.r, rr.namespace, rr.name!);
    if (!old) throw notFound(rr.r, rr.name!);
    this.writeUpdate(c, rr, o, old, true);
  }

  private patch(c: RequestContext, rr: ResourceRoute): void {
    const ct = mediaType(c.req.headers['content-type']);
    if (ct === APPLY_PATCH) return this.apply(c, rr);
    if (c.url.searchParams.has('force')) {
      throw invalid('PatchOptions', 'meta.k8s.io', '', [{ type: 'FieldValueForbidden', field: 'force', detail: 'Forbidden: may not be specified for non-apply patch' }]);
    }
    const accepted = rr.r.group ? [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] : [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH];
    if (!accepted.includes(ct)) throw unsupportedMediaType(ct, accepted);
    const old = this.store.get(rr.r, rr.namespace, rr.name!);
    if (!old) throw notFound(rr.r, rr.name!);
    let patchDoc: unknown;
    try {
      patchDoc = JSON.parse(c.body.toString('utf8'));
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    // Strategic merge patch equals a merge patch for Secret/ConfigMap (no merge-keyed lists the emulator serves).
    const patched = ct === JSON_PATCH ? jsonPatch(old, patchDoc) : mergePatch(old, patchDoc);
    if (!isMap(patched)) throw badRequest('the patched object is not a JSON object');
    const o = patched as KubeObject;
    const patchRv = isMap(patchDoc) && isMap(patchDoc['metadata']) ? patchDoc['metadata']['resourceVersion'] : undefined;
    if (!patchRv) o.metadata!.resourceVersion = undefined;
    this.checkTypeMeta(rr.r, o, false);
    if (o.metadata!.name !== rr.name) throw badRequest(`the name of the object (${String(o.metadata!.name ?? '')}) does not match the name on the URL (${rr.name})`);
    this.writeUpdate(c, rr, o, old, false);
  }

  private apply(c: RequestContext, rr: ResourceRoute): void {
    const fm = c.url.searchParams.get('fieldManager');
    if (!fm) throw invalid('PatchOptions', 'meta.k8s.io', '', [requiredValue('fieldManager', 'is required for apply patch')]);
    const manager = this.fieldManager(c);
    const forceParam = c.url.searchParams.get('force');
    const force = forceParam === 'true' || forceParam === '1';
    const cfg = this.parseObject(c, true);
    this.checkTypeMeta(rr.r, cfg, true);
    const meta = cfg.metadata!;
    if (meta.name !== undefined && meta.name !== rr.name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${rr.name})`);
    if (rr.r.namespaced && meta.namespace && meta.namespace !== rr.namespace) {
      throw badRequest(`the namespace of the object (${meta.namespace}) does not match the namespace on the URL (${rr.namespace})`);
    }
    if (!rr.r.namespaced) delete meta.namespace;
    meta.name = rr.name;
    if (rr.r.namespaced) meta.namespace = rr.namespace;
    if (rr.r.statusSubresource && rr.subresource !== 'status') delete cfg['status'];
    rr.r.normalize(cfg);
    const old = this.store.get(rr.r, rr.namespace, rr.name!);
    const cfgRv = meta.resourceVersion;
    delete meta.resourceVersion;
    delete meta.managedFields;
    if (old && cfgRv && cfgRv !== old.metadata?.resourceVersion) throw conflict(rr.r, rr.name!, STALE_OBJECT);
    if (!old) {
      if (cfgRv || rr.subresource) throw notFound(rr.r, rr.name!);
      this.requireNamespace(rr.namespace);
    }
    const result = serverSideApply({
      live: old,
      config: cfg,
      manager,
      force,
      apiVersion: apiVersionOf(rr.r),
      now: timestamp(this.now()),
      statusIgnored: rr.r.statusSubresource && rr.subresource !== 'status',
    });
    if (!result.ok) {
      const { message, causes } = conflictMessage(result.conflicts);
      throw new ApiError(409, 'Conflict', message, { causes });
    }
    const o = result.object;
    o.apiVersion = apiVersionOf(rr.r);
    o.kind = rr.r.kind;
    if (!old) {
      const managed = o.metadata!.managedFields;
      this.validateOrThrow(rr.r, o, undefined);
      o.metadata!.uid = randomUUID();
      o.metadata!.creationTimestamp = timestamp(this.now());
      if (rr.r.group) o.metadata!.generation = 1;
      o.metadata!.managedFields = managed;
      this.commit(c, rr.r, o, 201);
      return;
    }
    this.carryOver(rr.r, o, old, rr.subresource);
    this.validateOrThrow(rr.r, o, old);
    o.metadata!.resourceVersion = old.metadata!.resourceVersion;
    this.commit(c, rr.r, o, 200, old);
  }

  private delete(c: RequestContext, rr: ResourceRoute): void {
    const old = this.store.get(rr.r, rr.namespace, rr.name!);
    if (!old) throw notFound(rr.r, rr.name!);
    if (c.body.length > 0) {
      let opts: unknown;
      try {
        opts = JSON.parse(c.body.toString('utf8'));
      } catch (e) {
        throw badRequest(`error decoding DeleteOptions: ${(e as Error).message}`);
      }
      const pre = isMap(opts) && isMap(opts['preconditions']) ? opts['preconditions'] : undefined;
      if (pre?.['uid'] && pre['uid'] !== old.metadata?.uid) {
        throw conflict(rr.r, rr.name!, `Precondition failed: UID in precondition: ${String(pre['uid'])}, UID in object meta: ${old.metadata?.uid}`);
      }
      if (pre?.['resourceVersion'] && pre['resourceVersion'] !== old.metadata?.resourceVersion) {
        throw conflict(rr.r, rr.name!, `Precondition failed: ResourceVersion in precondition: ${String(pre['resourceVersion'])}, ResourceVersion in object meta: ${old.metadata?.resourceVersion}`);
      }
    }
    if (!this.dryRun(c)) this.store.delete(rr.r, rr.namespace, rr.name!);
    if (rr.r.group) this.send(c, 200, old);
    else {
      this.send(c, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: rr.name, kind: rr.r.plural, uid: old.metadata?.uid },
      });
    }
  }

  private deleteCollection(c: RequestContext, rr: ResourceRoute): void {
    const q = c.url.searchParams;
    let items = this.store.list(rr.r, rr.namespace);
    const labelSel = q.get('labelSelector');
    if (labelSel) items = items.filter(labelMatcher(labelSel));
    const fieldSel = q.get('fieldSelector');
    if (fieldSel) items = items.filter(fieldMatcher(rr.r, fieldSel));
    if (!this.dryRun(c)) for (const o of items) this.store.delete(rr.r, o.metadata?.namespace, o.metadata!.name!);
    this.send(c, 200, { kind: rr.r.listKind, apiVersion: apiVersionOf(rr.r), metadata: { resourceVersion: this.store.resourceVersion }, items });
  }
}

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  method: string;
  user: User;
  body: Buffer;
  route: Route;
  rec: RecordedRequest;
}

function keyOf(o: KubeObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** Equality-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`. */
export function labelMatcher(selector: string): (o: KubeObject) => boolean {
  const reqs: ((labels: Record<string, string>) => boolean)[] = [];
  const parts = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  for (const raw of parts) {
    const p = raw.trim();
    if (!p) continue;
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) {
      const [, k, op, vals] = m;
      const set = new Set(vals!.split(',').map((v) => v.trim()));
      reqs.push(op === 'in' ? (l) => k! in l && set.has(l[k!]!) : (l) => !(k! in l) || !set.has(l[k!]!));
    } else if ((m = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(p))) {
      const [, k, v] = m;
      reqs.push((l) => l[k!] !== v);
    } else if ((m = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(p))) {
      const [, k, v] = m;
      reqs.push((l) => l[k!] === v);
    } else if ((m = /^!(\S+)$/.exec(p))) {
      const k = m[1]!;
      reqs.push((l) => !(k in l));
    } else if (/^\S+$/.test(p)) {
      reqs.push((l) => p in l);
    } else throw badRequest(`unable to parse requirement: ${JSON.stringify(p)}`);
  }
  return (o) => reqs.every((f) => f(o.metadata?.labels ?? {}));
}

/** Field selectors on metadata.name, metadata.namespace and (Secrets) type. */
export function fieldMatcher(r: ResourceDef, selector: string): (o: KubeObject) => boolean {
  const reqs: ((o: KubeObject) => boolean)[] = [];
  for (const raw of selector.split(',')) {
    const p = raw.trim();
    if (!p) continue;
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(p);
    if (!m) throw badRequest(`invalid selector: '${p}'; can't understand '${p}'`);
    const [, field, op, value] = m;
    const get: ((o: KubeObject) => unknown) | undefined =
      field === 'metadata.name'
        ? (o) => o.metadata?.name
        : field === 'metadata.namespace'
          ? (o) => o.metadata?.namespace ?? ''
          : field === 'type' && r.kind === 'Secret'
            ? (o) => o['type']
            : undefined;
    if (!get) throw badRequest(`field label not supported: ${field}`);
    reqs.push(op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value);
  }
  return (o) => reqs.every((f) => f(o));
}

export { RESOURCE_LIST };

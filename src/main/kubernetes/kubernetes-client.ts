/**
 * The Kubernetes adapter of the join service, on @kubernetes/client-node:
 * exactly the calls of config-and-operations.md §8.1 (plus replace/create of
 * ConfigMaps for the SEV-SNP certificate cache, §4).
 *
 * Every call
 * - waits for a client-side rate-limit token (token bucket, default 50 QPS,
 *   burst 100 — client-go's 5/10 would throttle a scale-out of a few dozen
 *   nodes, each join costs 4 API calls; the API server protects itself with
 *   priority & fairness anyway),
 * - has a deadline: the earlier of the per-request timeout (default 10 s) and
 *   the caller's deadline, and honours the caller's AbortSignal,
 * - fails with a JoinServiceError: KubernetesApiError (HTTP status, Status
 *   reason, client-go's message text), KubernetesUnavailable (no connection)
 *   or KubernetesTimeout (deadline / cancellation / rate-limit wait).
 *
 * Getters throw on 404 like client-go does (message e.g.
 * `secrets "x" not found`); use isNotFound(err) to branch on it.
 */
import { randomUUID } from 'node:crypto';
import type * as https from 'node:https';
import {
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  ServerConfiguration,
  wrapHttpLibrary,
  type ConfigurationOptions,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import type { Logger } from '../log/logger.js';
import { HttpStatusError, statusError, timeoutError, transportError, type CallDescription } from './api-error.js';
import { RateLimitWaitError, TokenBucket } from './rate-limiter.js';
import { NodeTransport } from './transport.js';

export { isAlreadyExists, isConflict, isNotFound, isTransient, kubernetesStatusOf } from './api-error.js';

/** A caller's limit for one call: an absolute deadline, and/or an AbortSignal. */
export interface CallOptions {
  deadline?: Date;
  signal?: AbortSignal;
}
export type CallLimit = Date | CallOptions | undefined;

/** A custom object as written by the service (JoiningNode). */
export interface CustomObjectBody {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: unknown;
}

/** A custom object as read back: the parsed JSON. */
export type CustomObject = KubernetesObject & Record<string, unknown>;

/** What the join service needs from the Kubernetes API (config-and-operations.md §8.1). */
export interface KubernetesApi {
  /** GET /api/v1/namespaces/{ns}/secrets/{name}; throws (isNotFound) on 404. */
  getSecret(namespace: string, name: string, limit?: CallLimit): Promise<V1Secret>;
  /** POST /api/v1/namespaces/{ns}/secrets; AlreadyExists → isAlreadyExists(err). */
  createSecret(namespace: string, body: V1Secret, limit?: CallLimit): Promise<V1Secret>;
  /** PUT /api/v1/namespaces/{ns}/secrets/{name} (unconditional unless body.metadata.resourceVersion is set). */
  replaceSecret(namespace: string, name: string, body: V1Secret, limit?: CallLimit): Promise<V1Secret>;
  /** GET /api/v1/namespaces/{ns}/configmaps/{name}; throws (isNotFound) on 404. */
  getConfigMap(namespace: string, name: string, limit?: CallLimit): Promise<V1ConfigMap>;
  /** POST /api/v1/namespaces/{ns}/configmaps. */
  createConfigMap(namespace: string, body: V1ConfigMap, limit?: CallLimit): Promise<V1ConfigMap>;
  /** PUT /api/v1/namespaces/{ns}/configmaps/{name}; a stale metadata.resourceVersion → isConflict(err). */
  replaceConfigMap(namespace: string, name: string, body: V1ConfigMap, limit?: CallLimit): Promise<V1ConfigMap>;
  /** GET /apis/update.edgeless.systems/v1alpha1/nodeversions/{name} (cluster-scoped); throws (isNotFound) on 404. */
  getNodeVersion(name: string, limit?: CallLimit): Promise<CustomObject>;
  /** POST /apis/update.edgeless.systems/v1alpha1/joiningnodes. */
  createJoiningNode(body: CustomObjectBody, limit?: CallLimit): Promise<CustomObject>;
  /**
   * Server-side apply: PATCH …/joiningnodes/{name}?fieldManager=<fieldManager>,
   * Content-Type application/apply-patch+yaml, JSON body, no force.
   */
  applyJoiningNode(name: string, body: CustomObjectBody, fieldManager: string, limit?: CallLimit): Promise<CustomObject>;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Client-side QPS (client-go: 5). */
export const DEFAULT_QPS = 50;
/** Client-side burst (client-go: 10). */
export const DEFAULT_BURST = 100;

const UPDATE_GROUP = 'update.edgeless.systems';
const UPDATE_VERSION = 'v1alpha1';

export interface KubernetesClientOptions {
  /** Path of a kubeconfig file (`--kubeconfig`); the in-cluster configuration when absent. */
  kubeconfigPath?: string;
  /** An already loaded configuration (takes precedence over kubeconfigPath). */
  kubeConfig?: KubeConfig;
  /** Root under which the in-cluster service-account files are read (tests; default `/`). */
  inClusterRoot?: string;
  log?: Logger;
  /** Upper bound of one call (rate-limit wait + request + response). */
  requestTimeoutMs?: number;
  qps?: number;
  burst?: number;
  maxResponseBytes?: number;
  userAgent?: string;
}

function loadConfig(o: KubernetesClientOptions): KubeConfig {
  if (o.kubeConfig) return o.kubeConfig;
  const kc = new KubeConfig();
  try {
    if (o.kubeconfigPath) {
      kc.loadFromFile(o.kubeconfigPath);
    } else {
      if (!process.env['KUBERNETES_SERVICE_HOST'] || !process.env['KUBERNETES_SERVICE_PORT']) {
        throw new Error('unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined');
      }
      kc.loadFromCluster(o.inClusterRoot?.replace(/\/+$/, ''));
    }
  } catch (err) {
    const where = o.kubeconfigPath ? `loading kubeconfig ${o.kubeconfigPath}` : 'loading in-cluster Kubernetes configuration';
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `${where}: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `Kubernetes configuration has no current cluster${o.kubeconfigPath ? ` (${o.kubeconfigPath})` : ''}`);
  }
  return kc;
}

function normalizeLimit(limit: CallLimit): CallOptions {
  if (limit instanceof Date) return { deadline: limit };
  return limit ?? {};
}

/** The production KubernetesApi. Create with createKubernetesClient(). */
export class KubernetesClient implements KubernetesApi {
  readonly limiter: TokenBucket;
  readonly server: string;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly transport: NodeTransport;
  private readonly requestTimeoutMs: number;
  private readonly log: Logger | undefined;

  private constructor(kc: KubeConfig, tls: TransportTls, o: KubernetesClientOptions) {
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
    this.requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.limiter = new TokenBucket({ qps: o.qps ?? DEFAULT_QPS, burst: o.burst ?? DEFAULT_BURST });
    this.log = o.log?.group('kubernetes');
    this.transport = new NodeTransport({
      tls,
      userAgent: o.userAgent ?? `joinservice (${process.platform}/${process.arch}) kubernetes/client-node`,
      ...(o.maxResponseBytes !== undefined ? { maxResponseBytes: o.maxResponseBytes } : {}),
    });
    const config = createConfiguration({
      baseServer: new ServerConfiguration(this.server, {}),
      httpApi: wrapHttpLibrary(this.transport),
      authMethods: {
        default: {
          getName: () => 'kubeconfig',
          // Only the credentials (Authorization header) come from the KubeConfig per request
          // (token files are re-read by client-node); TLS is configured once on the agent.
          applySecurityAuthentication: async (ctx) => {
            const opts: https.RequestOptions = { headers: {} };
            await kc.applyToHTTPSOptions(opts);
            for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) ctx.setHeaderParam(k, String(v));
          },
        },
      },
    });
    this.core = new CoreV1Api(config);
    this.custom = new CustomObjectsApi(config);
  }

  static async create(o: KubernetesClientOptions = {}): Promise<KubernetesClient> {
    const kc = loadConfig(o);
    const opts: https.RequestOptions = { headers: {} };
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new JoinServiceError(ErrorCode.ConfigInvalid, `loading Kubernetes credentials: ${(err as Error).message}`, undefined, { cause: err });
    }
    const tls: TransportTls = {};
    if (opts.ca !== undefined) tls.ca = opts.ca;
    if (opts.cert !== undefined) tls.cert = opts.cert;
    if (opts.key !== undefined) tls.key = opts.key;
    if (opts.rejectUnauthorized !== undefined) tls.rejectUnauthorized = opts.rejectUnauthorized;
    if (opts.servername !== undefined) tls.servername = opts.servername;
    return new KubernetesClient(kc, tls, o);
  }

  /** Releases the connection pool. */
  close(): void {
    this.transport.close();
  }

  getSecret(namespace: string, name: string, limit?: CallLimit): Promise<V1Secret> {
    return this.call({ method: 'GET', path: `/api/v1/namespaces/${namespace}/secrets/${name}`, resource: 'secrets', name }, limit, (opts) =>
      this.core.readNamespacedSecret({ namespace, name }, opts),
    );
  }

  createSecret(namespace: string, body: V1Secret, limit?: CallLimit): Promise<V1Secret> {
    return this.call({ method: 'POST', path: `/api/v1/namespaces/${namespace}/secrets`, resource: 'secrets', name: body.metadata?.name }, limit, (opts) =>
      this.core.createNamespacedSecret({ namespace, body }, opts),
    );
  }

  replaceSecret(namespace: string, name: string, body: V1Secret, limit?: CallLimit): Promise<V1Secret> {
    return this.call({ method: 'PUT', path: `/api/v1/namespaces/${namespace}/secrets/${name}`, resource: 'secrets', name }, limit, (opts) =>
      this.core.replaceNamespacedSecret({ namespace, name, body }, opts),
    );
  }

  getConfigMap(namespace: string, name: string, limit?: CallLimit): Promise<V1ConfigMap> {
    return this.call({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps/${name}`, resource: 'configmaps', name }, limit, (opts) =>
      this.core.readNamespacedConfigMap({ namespace, name }, opts),
    );
  }

  createConfigMap(namespace: string, body: V1ConfigMap, limit?: CallLimit): Promise<V1ConfigMap> {
    return this.call({ method: 'POST', path: `/api/v1/namespaces/${namespace}/configmaps`, resource: 'configmaps', name: body.metadata?.name }, limit, (opts) =>
      this.core.createNamespacedConfigMap({ namespace, body }, opts),
    );
  }

  replaceConfigMap(namespace: string, name: string, body: V1ConfigMap, limit?: CallLimit): Promise<V1ConfigMap> {
    return this.call({ method: 'PUT', path: `/api/v1/namespaces/${namespace}/configmaps/${name}`, resource: 'configmaps', name }, limit, (opts) =>
      this.core.replaceNamespacedConfigMap({ namespace, name, body }, opts),
    );
  }

  getNodeVersion(name: string, limit?: CallLimit): Promise<CustomObject> {
    return this.call(
      { method: 'GET', path: `/apis/${UPDATE_GROUP}/${UPDATE_VERSION}/nodeversions/${name}`, resource: `nodeversions.${UPDATE_GROUP}`, name },
      limit,
      (opts) => this.custom.getClusterCustomObject({ group: UPDATE_GROUP, version: UPDATE_VERSION, plural: 'nodeversions', name }, opts) as Promise<CustomObject>,
    );
  }

  createJoiningNode(body: CustomObjectBody, limit?: CallLimit): Promise<CustomObject> {
    return this.call(
      { method: 'POST', path: `/apis/${UPDATE_GROUP}/${UPDATE_VERSION}/joiningnodes`, resource: `joiningnodes.${UPDATE_GROUP}`, name: body.metadata.name },
      limit,
      (opts) => this.custom.createClusterCustomObject({ group: UPDATE_GROUP, version: UPDATE_VERSION, plural: 'joiningnodes', body }, opts) as Promise<CustomObject>,
    );
  }

  applyJoiningNode(name: string, body: CustomObjectBody, fieldManager: string, limit?: CallLimit): Promise<CustomObject> {
    return this.call(
      { method: 'PATCH', path: `/apis/${UPDATE_GROUP}/${UPDATE_VERSION}/joiningnodes/${name}`, resource: `joiningnodes.${UPDATE_GROUP}`, name },
      limit,
      (opts) =>
        this.custom.patchClusterCustomObject({ group: UPDATE_GROUP, version: UPDATE_VERSION, plural: 'joiningnodes', name, body, fieldManager }, opts) as Promise<CustomObject>,
      PatchStrategy.ServerSideApply,
    );
  }

  /**
   * Runs one API call: rate-limit wait, deadline/cancellation, error
   * translation. `what.path` is only used for messages and logs (the generated
   * client builds the real URL).
   */
  private async call<T>(
    what: { method: string; path: string; resource: string; name?: string | undefined },
    limit: CallLimit,
    fn: (opts: ConfigurationOptions) => Promise<T>,
    contentType?: string,
  ): Promise<T> {
    const { deadline, signal: callerSignal } = normalizeLimit(limit);
    const started = Date.now();
    const own = started + this.requestTimeoutMs;
    const until = deadline && deadline.getTime() < own ? deadline.getTime() : own;
    const desc: CallDescription = { method: what.method, url: this.server + what.path, resource: what.resource, ...(what.name !== undefined ? { name: what.name } : {}) };
    const ctl = new AbortController();
    let why: 'deadline' | 'cancelled' | undefined;
    const onCallerAbort = () => {
      why ??= 'cancelled';
      ctl.abort();
    };
    if (callerSignal?.aborted) onCallerAbort();
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(
      () => {
        why ??= 'deadline';
        ctl.abort();
      },
      Math.max(0, until - started),
    );
    const requestId = randomUUID();
    try {
      try {
        const waited = await this.limiter.take(until, ctl.signal);
        if (waited > 1000) this.log?.info('Waited before sending request due to client-side throttling', { waitedMs: Math.round(waited), method: what.method, path: what.path });
      } catch (err) {
        if (err instanceof RateLimitWaitError) {
          const cancelled = err.why === 'cancelled' && why !== 'deadline';
          throw new JoinServiceError(
            ErrorCode.KubernetesTimeout,
            `client rate limiter Wait returned an error: ${cancelled ? 'context canceled' : 'rate: Wait(n=1) would exceed context deadline'}`,
            { method: what.method, resource: what.resource, rateLimited: true, cancelled },
          );
        }
        throw err;
      }
      const opts: ConfigurationOptions = {
        middleware: [
          {
            pre: (ctx) => {
              ctx.setSignal(ctl.signal);
              if (contentType) ctx.setHeaderParam('Content-Type', contentType);
              return new Observable(Promise.resolve(ctx));
            },
            post: (res) => new Observable(Promise.resolve(res)),
          },
        ],
        middlewareMergeStrategy: 'append',
      };
      const result = await fn(opts);
      this.log?.debug('Kubernetes request', { requestId, method: what.method, path: what.path, ms: Date.now() - started });
      return result;
    } catch (err) {
      const e = this.translate(err, desc, why);
      this.log?.debug('Kubernetes request failed', { requestId, method: what.method, path: what.path, ms: Date.now() - started, code: e.code, error: e.message });
      throw e;
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private translate(err: unknown, desc: CallDescription, why: 'deadline' | 'cancelled' | undefined): JoinServiceError {
    if (err instanceof JoinServiceError) return err;
    if (err instanceof HttpStatusError) return statusError(err, desc);
    if (why !== undefined) return timeoutError(desc, why, this.requestTimeoutMs);
    if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string') return transportError(err, desc);
    // Anything else comes from decoding a 2xx response.
    return new JoinServiceError(ErrorCode.KubernetesApiError, `decoding response of ${desc.method} ${desc.url}: ${(err as Error).message ?? String(err)}`, {
      method: desc.method,
      resource: desc.resource,
    });
  }
}

type TransportTls = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;

/**
 * The production client: in-cluster configuration (service-account token and
 * CA, KUBERNETES_SERVICE_HOST/PORT), or the kubeconfig file given by
 * `--kubeconfig`.
 */
export function createKubernetesClient(o: KubernetesClientOptions = {}): Promise<KubernetesClient> {
  return KubernetesClient.create(o);
}

/**
 * The join service's SEV-SNP certificate cache (sev-snp-attestation.md §8.2),
 * built at start-up on the main thread:
 *
 * - only for `azure-sev-snp` (the VCEK chain: ASK + ARK) and `aws-sev-snp`
 *   (the VLEK chain: ASVK + ARK); nothing for other variants;
 * - ConfigMap `sev-snp-cert-cache` in `kube-system`, keys `ask` and `ark`
 *   (PEM; for AWS `ask` holds the ASVK);
 * - exists with both keys → use them; missing → GET the product's
 *   `cert_chain` from AMD KDS and create the ConfigMap; AlreadyExists (another
 *   replica won the race) → read it again; exists with a key empty → fetch
 *   and fill only that key (PUT with the read resourceVersion; a Conflict or
 *   a vanished ConfigMap → start over, at most 3 rounds);
 * - the cached ASK is what `getCachedAmdSigningKey()` returns; the validator
 *   build injects it as `amdSigningKey`, overriding the config's value. The
 *   cached ARK is stored but never used as a root (the root is always the
 *   config's `amdRootKey`).
 *
 * Differences from Go, on purpose:
 *
 * - **Checked before use** (amd-chain-check.ts): names, validity, the ARK
 *   self-signed, the ASK/ASVK signed by it and by the trusted ARK (config
 *   `amdRootKey`, else the embedded ARK). Go checks nothing. A ConfigMap value
 *   failing the check is treated like an empty key (re-fetched and
 *   replaced); a KDS answer failing it is neither stored nor used.
 * - **No crash loop.** Go aborts the service on any failure; in a standard
 *   deployment (Helm grants only get/create on ConfigMaps) an incomplete
 *   ConfigMap therefore keeps the join service down. Here nothing is thrown:
 *   - Forbidden (RBAC) → a SnpCertCacheRbacError naming the missing verb and
 *     the fix (kubectl commands / Helm ClusterRole), logged once at ERROR.
 *     If a checked ASK is at hand anyway (from the ConfigMap, or fetched from
 *     KDS and checked) it is used from memory; otherwise verification proceeds
 *     with the node-supplied ASK or the config's `amdSigningKey` and fails
 *     closed at verification time if there is none;
 *   - other Kubernetes failures → likewise, the fetched chain is used from
 *     memory (not persisted; no retry — this replica has what it needs);
 *   - no ASK at all (KDS unreachable and nothing cached) → `unavailable`,
 *     logged once, and retried in the background (30 s, doubling, at most
 *     every 10 min) until it succeeds or `stop()`; `onReady` listeners hear
 *     of the success so the validators can be rebuilt.
 * - KDS is asked with a bounded budget (60 s for the start-up attempt,
 *   retries from 2 s doubling to 30 s) instead of Go's 2 minutes.
 * - The product line is a parameter (default Milan, as Constellation).
 *
 * RBAC the service account needs: get + create on configmaps in kube-system
 * (create once); update only to repair an incomplete ConfigMap.
 */
import { setTimeout as wait } from 'node:timers/promises';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ErrorCode, JoinServiceError, toJoinServiceError, type ErrorDetails } from '../../shared/errors.js';
import type { VariantName } from '../../shared/variants.js';
import { createKdsClient, type AmdProduct, type KdsCertChain, type KdsClient, type KdsKeyKind, type KdsRetryPolicy } from '../../workers/attestation/snp/kds/kds-client.js';
import { isAlreadyExists, isConflict, isNotFound, kubernetesStatusOf, type CallOptions, type KubernetesApi } from '../kubernetes/kubernetes-client.js';
import type { Logger } from '../log/logger.js';
import { certificateDerFromPem, certificatePem, checkAmdArk, checkAmdCertChain, checkAmdIntermediate, intermediateName, type AmdChainCheckContext } from './amd-chain-check.js';

export const SNP_CERT_CACHE_NAMESPACE = 'kube-system';
export const SNP_CERT_CACHE_CONFIGMAP = 'sev-snp-cert-cache';
export const SNP_CERT_CACHE_ASK_KEY = 'ask';
export const SNP_CERT_CACHE_ARK_KEY = 'ark';

/** Budget of one build attempt (Kubernetes calls + KDS fetch with retries). */
export const DEFAULT_CERT_CACHE_ATTEMPT_BUDGET_MS = 60_000;
/** KDS retries at start-up: gentler than a worker's (AMD rate-limits), inside the attempt budget. */
export const DEFAULT_CERT_CACHE_KDS_RETRY: Readonly<Partial<KdsRetryPolicy>> = Object.freeze({ initialDelayMs: 2_000, maxDelayMs: 30_000, budgetMs: 60_000 });
export const DEFAULT_CERT_CACHE_RETRY_INITIAL_MS = 30_000;
export const DEFAULT_CERT_CACHE_RETRY_MAX_MS = 10 * 60_000;
/** Rounds of read → write when other replicas change the ConfigMap concurrently. */
const MAX_ROUNDS = 3;

/** The chain kind cached for a variant (§8.2), or undefined when the variant has no cache. */
export function certCacheKeyKind(variant: VariantName): KdsKeyKind | undefined {
  if (variant === 'azure-sev-snp') return 'vcek';
  if (variant === 'aws-sev-snp') return 'vlek';
  return undefined;
}

/** Where the cached chain came from. */
export type CertCacheSource =
  /** The ConfigMap held both keys. */
  | 'configmap'
  /** Another replica created or completed the ConfigMap while this one tried (AlreadyExists / Conflict → read again). */
  | 'peer'
  /** This replica created the ConfigMap. */
  | 'created'
  /** This replica filled the missing key(s). */
  | 'updated'
  /** Fetched from KDS and checked, but not persisted (see `problem`). */
  | 'memory'
  /** The ConfigMap held a usable ASK but no usable ARK, and KDS failed (see `problem`). */
  | 'configmap-partial';

export type SnpCertCacheOutcome =
  | { state: 'not-applicable'; variant: VariantName }
  | {
      state: 'ready';
      source: CertCacheSource;
      /** Whether the ConfigMap now holds what is used. */
      persisted: boolean;
      /** ASK (VCEK chain) or ASVK (VLEK chain), canonical PEM. */
      askPem: string;
      /** ARK, canonical PEM (never used as a root); undefined for `configmap-partial`. */
      arkPem: string | undefined;
      /** What went wrong on the way (RBAC, Kubernetes, KDS), already logged. */
      problem?: JoinServiceError;
    }
  | {
      state: 'unavailable';
      /** Why there is no ASK: the KDS failure. */
      error: JoinServiceError;
      /** A Kubernetes failure on the way (e.g. RBAC on get), already logged. */
      problem?: JoinServiceError;
      /** Whether a background retry is scheduled. */
      retrying: boolean;
    };

/** The service account lacks an RBAC verb on the cache ConfigMap. */
export class SnpCertCacheRbacError extends JoinServiceError {
  constructor(
    message: string,
    readonly verb: 'get' | 'create' | 'update',
    readonly fix: string,
    details: ErrorDetails,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.KubernetesApiError, message, details, options);
    this.name = 'SnpCertCacheRbacError';
  }
}

export interface SnpCertCacheOptions {
  variant: VariantName;
  kubernetes: Pick<KubernetesApi, 'getConfigMap' | 'createConfigMap' | 'replaceConfigMap'>;
  /** KDS client (default: https://kdsintf.amd.com with the start-up retry policy). */
  kds?: Pick<KdsClient, 'fetchCertChain'>;
  /** KDS base URL for the default client. */
  kdsBaseUrl?: string;
  /** Product line of the chain (default Milan, as Constellation). */
  product?: AmdProduct;
  /** The config's `amdRootKey` (PEM); the embedded ARK of the product when empty or absent. */
  amdRootKeyPem?: string;
  log?: Logger;
  attemptBudgetMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Background retry of an `unavailable` outcome (default true). */
  retryInBackground?: boolean;
  /** The time (ms) at which certificates must be valid; default Date.now. Deadlines always use the real clock. */
  now?: () => number;
  /** Waits between background retries; rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Existing {
  askDer?: Uint8Array;
  arkDer?: Uint8Array;
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> => wait(ms, undefined, { signal });

export class SnpCertCache {
  private current: SnpCertCacheOutcome | undefined;
  private readonly kind: KdsKeyKind | undefined;
  private readonly product: AmdProduct;
  private readonly kds: Pick<KdsClient, 'fetchCertChain'>;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly stopper = new AbortController();
  private readonly listeners: ((askPem: string) => void)[] = [];
  private retryLoop: Promise<void> | undefined;
  private readonly trustedArkDer: Uint8Array | undefined;

  constructor(private readonly o: SnpCertCacheOptions) {
    this.kind = certCacheKeyKind(o.variant);
    this.product = o.product ?? 'Milan';
    this.kds = o.kds ?? createKdsClient({ ...(o.kdsBaseUrl !== undefined ? { baseUrl: o.kdsBaseUrl } : {}), retry: DEFAULT_CERT_CACHE_KDS_RETRY });
    this.log = o.log?.group('snpCertCache');
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? defaultSleep;
    const root = o.amdRootKeyPem?.trim() ? o.amdRootKeyPem : undefined;
    try {
      this.trustedArkDer = root ? certificateDerFromPem(root) : undefined;
    } catch (err) {
      // The config loader validates amdRootKey, so this is a wiring error.
      throw new JoinServiceError(ErrorCode.ConfigInvalid, `amdRootKey: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  /**
   * Builds the cache once (never throws; every failure is in the outcome and
   * logged once). With `unavailable`, a background retry is scheduled.
   */
  async start(): Promise<SnpCertCacheOutcome> {
    if (!this.kind) {
      this.current = { state: 'not-applicable', variant: this.o.variant };
      this.log?.debug('No certificate chain caching possible for attestation variant', { variant: this.o.variant });
      return this.current;
    }
    const outcome = await this.attempt(this.kind);
    this.current = outcome;
    this.report(outcome);
    if (outcome.state === 'unavailable' && outcome.retrying) this.retryLoop = this.retryUntilReady(this.kind);
    return outcome;
  }

  /** The cached ASK/ASVK (PEM) to inject as `amdSigningKey`; undefined when there is none (yet). */
  getCachedAmdSigningKey(): string | undefined {
    return this.current?.state === 'ready' ? this.current.askPem : undefined;
  }

  /** The cached ARK (PEM), for diagnostics only: never a root of trust. */
  getCachedArk(): string | undefined {
    return this.current?.state === 'ready' ? this.current.arkPem : undefined;
  }

  get outcome(): SnpCertCacheOutcome | undefined {
    return this.current;
  }

  /** Called when a background retry makes an ASK available (rebuild the validators then). */
  onReady(listener: (askPem: string) => void): void {
    this.listeners.push(listener);
  }

  /** Ends a background retry; resolves when it has stopped. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.retryLoop;
  }

  private async retryUntilReady(kind: KdsKeyKind): Promise<void> {
    let delay = this.o.retryInitialMs ?? DEFAULT_CERT_CACHE_RETRY_INITIAL_MS;
    const max = this.o.retryMaxMs ?? DEFAULT_CERT_CACHE_RETRY_MAX_MS;
    for (;;) {
      try {
        await this.sleep(delay, this.stopper.signal);
      } catch {
        return;
      }
      if (this.stopper.signal.aborted) return;
      const outcome = await this.attempt(kind);
      if (this.stopper.signal.aborted) return;
      if (outcome.state === 'ready') {
        this.current = outcome;
        this.report(outcome);
        for (const l of this.listeners) {
          try {
            l(outcome.askPem);
          } catch (err) {
            this.log?.error('certificate cache listener failed', { error: (err as Error).message });
          }
        }
        return;
      }
      this.log?.debug('SEV-SNP certificate chain cache still unavailable', { error: outcome.state === 'unavailable' ? outcome.error.message : '' });
      delay = Math.min(delay * 2, max);
    }
  }

  private report(o: SnpCertCacheOutcome): void {
    if (!this.log) return;
    if (o.state === 'ready') {
      const attrs = { variant: this.o.variant, product: this.product, source: o.source, persisted: o.persisted };
      if (o.problem) {
        this.logProblem(o.problem, attrs);
      } else {
        this.log.info('Using the SEV-SNP certificate chain cache', attrs);
      }
    } else if (o.state === 'unavailable') {
      if (o.problem) this.logProblem(o.problem, { variant: this.o.variant, product: this.product });
      this.log.error(o.error.message, { variant: this.o.variant, product: this.product, code: o.error.code, ...(o.error.details ?? {}), retrying: o.retrying });
    }
  }

  private logProblem(p: JoinServiceError, attrs: Record<string, unknown>): void {
    this.log?.error(p.message, { ...attrs, code: p.code, ...(p.details ?? {}), ...(p instanceof SnpCertCacheRbacError ? { fix: p.fix } : {}) });
  }

  private checkContext(kind: KdsKeyKind): AmdChainCheckContext {
    return { product: this.product, kind, nowMs: this.now(), ...(this.trustedArkDer ? { trustedArkDer: this.trustedArkDer } : {}) };
  }

  /** One build: read, maybe fetch, maybe write. Never throws. */
  private async attempt(kind: KdsKeyKind): Promise<SnpCertCacheOutcome> {
    try {
      return await this.attemptUnsafe(kind);
    } catch (err) {
      // Programming errors only; keep the "never throws" promise.
      return { state: 'unavailable', error: toJoinServiceError(err), retrying: false };
    }
  }

  private async attemptUnsafe(kind: KdsKeyKind): Promise<SnpCertCacheOutcome> {
    // The Kubernetes adapter compares deadlines with the real clock.
    const deadline = Date.now() + (this.o.attemptBudgetMs ?? DEFAULT_CERT_CACHE_ATTEMPT_BUDGET_MS);
    const limit = (): CallOptions => ({ deadline: new Date(deadline), signal: this.stopper.signal });
    const role = intermediateName(kind);
    const k8s = this.o.kubernetes;
    let fetched: KdsCertChain | undefined;

    for (let round = 0; round < MAX_ROUNDS; round++) {
      // 1. Read.
      let cm: V1ConfigMap | undefined;
      let readProblem: JoinServiceError | undefined;
      try {
        cm = await k8s.getConfigMap(SNP_CERT_CACHE_NAMESPACE, SNP_CERT_CACHE_CONFIGMAP, limit());
      } catch (err) {
        if (!isNotFound(err)) readProblem = this.kubernetesProblem(err, 'get', 'getting certificate chain cache: ');
      }
      const existing = cm ? this.readExisting(cm, kind) : {};
      if (existing.askDer && existing.arkDer) {
        return { state: 'ready', source: round === 0 ? 'configmap' : 'peer', persisted: true, askPem: certificatePem(existing.askDer), arkPem: certificatePem(existing.arkDer) };
      }

      // 2. Fetch (once per attempt).
      if (!fetched) {
        try {
          fetched = await this.kds.fetchCertChain(this.product, kind, { timeoutMs: Math.max(0, deadline - Date.now()), signal: this.stopper.signal });
          checkAmdCertChain(fetched.askDer, fetched.arkDer, this.checkContext(kind));
        } catch (err) {
          fetched = undefined;
          const kdsProblem = new JoinServiceError(
            ErrorCode.AttestationUpstreamUnavailable,
            `creating ${this.o.variant} certificate chain cache: retrieving certificate chain from KDS: ${(err as Error).message}`,
            { product: this.product, kind },
            { cause: err },
          );
          if (existing.askDer) {
            return { state: 'ready', source: 'configmap-partial', persisted: true, askPem: certificatePem(existing.askDer), arkPem: undefined, problem: kdsProblem };
          }
          return { state: 'unavailable', error: kdsProblem, ...(readProblem ? { problem: readProblem } : {}), retrying: this.o.retryInBackground ?? true };
        }
      }
      const askDer = existing.askDer ?? fetched.askDer;
      const arkDer = existing.arkDer ?? fetched.arkDer;
      const inMemory = (problem: JoinServiceError): SnpCertCacheOutcome => ({
        state: 'ready',
        source: 'memory',
        persisted: false,
        askPem: certificatePem(askDer),
        arkPem: certificatePem(arkDer),
        problem,
      });
      if (readProblem) return inMemory(readProblem);

      // 3. Write.
      // Only the missing (or unusable) keys change; usable values stay as they are.
      const data: Record<string, string> = { ...(cm?.data ?? {}) };
      if (!existing.askDer) data[SNP_CERT_CACHE_ASK_KEY] = fetched.askPem;
      if (!existing.arkDer) data[SNP_CERT_CACHE_ARK_KEY] = fetched.arkPem;
      if (!cm) {
        try {
          await k8s.createConfigMap(SNP_CERT_CACHE_NAMESPACE, { metadata: { name: SNP_CERT_CACHE_CONFIGMAP, namespace: SNP_CERT_CACHE_NAMESPACE }, data }, limit());
          return { state: 'ready', source: 'created', persisted: true, askPem: certificatePem(askDer), arkPem: certificatePem(arkDer) };
        } catch (err) {
          if (isAlreadyExists(err)) {
            // Another replica created it meanwhile: read it again.
            this.log?.debug('Certificate chain cache configmap already exists, retrieving cached certificates');
            continue;
          }
          return inMemory(this.kubernetesProblem(err, 'create', 'creating certificate chain cache configmap: '));
        }
      }
      const missing = [existing.askDer ? undefined : role, existing.arkDer ? undefined : 'ARK'].filter((x) => x !== undefined).join(' and ');
      try {
        await k8s.replaceConfigMap(SNP_CERT_CACHE_NAMESPACE, SNP_CERT_CACHE_CONFIGMAP, { ...cm, data }, limit());
        return { state: 'ready', source: 'updated', persisted: true, askPem: certificatePem(askDer), arkPem: certificatePem(arkDer) };
      } catch (err) {
        if (isConflict(err) || isNotFound(err)) continue;
        return inMemory(this.kubernetesProblem(err, 'update', `updating ${missing} in certificate chain cache configmap: `));
      }
    }
    if (!fetched) throw new Error('certificate cache: no chain after the last round');
    return {
      state: 'ready',
      source: 'memory',
      persisted: false,
      askPem: fetched.askPem,
      arkPem: fetched.arkPem,
      problem: new JoinServiceError(ErrorCode.KubernetesApiError, `certificate chain cache configmap kept changing during ${MAX_ROUNDS} read/write rounds; using the chain from AMD KDS without storing it`),
    };
  }

  /** The ConfigMap's usable values; a present but unusable value is logged and treated as missing. */
  private readExisting(cm: V1ConfigMap, kind: KdsKeyKind): Existing {
    const out: Existing = {};
    const ctx = this.checkContext(kind);
    const askText = cm.data?.[SNP_CERT_CACHE_ASK_KEY] ?? '';
    const arkText = cm.data?.[SNP_CERT_CACHE_ARK_KEY] ?? '';
    if (arkText !== '') {
      try {
        const der = certificateDerFromPem(arkText);
        checkAmdArk(der, ctx);
        out.arkDer = der;
      } catch (err) {
        this.log?.warn('Ignoring the cached ARK', { configMap: `${SNP_CERT_CACHE_NAMESPACE}/${SNP_CERT_CACHE_CONFIGMAP}`, key: SNP_CERT_CACHE_ARK_KEY, error: (err as Error).message });
      }
    }
    if (askText !== '') {
      try {
        const der = certificateDerFromPem(askText);
        checkAmdIntermediate(der, ctx);
        out.askDer = der;
      } catch (err) {
        this.log?.warn(`Ignoring the cached ${intermediateName(kind)}`, { configMap: `${SNP_CERT_CACHE_NAMESPACE}/${SNP_CERT_CACHE_CONFIGMAP}`, key: SNP_CERT_CACHE_ASK_KEY, error: (err as Error).message });
      }
    }
    return out;
  }

  private kubernetesProblem(err: unknown, verb: 'get' | 'create' | 'update', prefix: string): JoinServiceError {
    const e = toJoinServiceError(err, ErrorCode.KubernetesApiError);
    const status = kubernetesStatusOf(e);
    if (status?.httpStatus === 403) return rbacError(e, verb, prefix, this.o.variant);
    return new JoinServiceError(e.code, `${prefix}${e.message}`, e.details, { cause: err });
  }
}

const SERVICE_ACCOUNT_IN_MESSAGE = /User "system:serviceaccount:([a-z0-9.-]+):([a-z0-9.-]+)"/;

/** kubectl commands that grant `verb` on the cache ConfigMap to the service account. */
export function rbacFix(verb: 'get' | 'create' | 'update', serviceAccount: { namespace: string; name: string }): string {
  const role = 'join-service-sev-snp-cert-cache';
  const sa = `${serviceAccount.namespace}:${serviceAccount.name}`;
  // create cannot be limited by resourceNames; get and update can.
  const grant =
    verb === 'create'
      ? `kubectl -n ${SNP_CERT_CACHE_NAMESPACE} create role ${role} --verb=get,create --resource=configmaps`
      : `kubectl -n ${SNP_CERT_CACHE_NAMESPACE} create role ${role} --verb=${verb === 'get' ? 'get' : 'get,update'} --resource=configmaps --resource-name=${SNP_CERT_CACHE_CONFIGMAP}`;
  const bind = `kubectl -n ${SNP_CERT_CACHE_NAMESPACE} create rolebinding ${role} --role=${role} --serviceaccount=${sa}`;
  const helm = `or add "${verb}" to the configmaps rule of the join service's ClusterRole in the Helm chart`;
  const recreate =
    verb === 'update'
      ? `kubectl -n ${SNP_CERT_CACHE_NAMESPACE} delete configmap ${SNP_CERT_CACHE_CONFIGMAP} and restart the join service (it re-creates the ConfigMap complete, which needs only "create"); or grant the verb: `
      : 'grant the verb: ';
  return `${recreate}${grant} && ${bind}; ${helm}`;
}

function rbacError(e: JoinServiceError, verb: 'get' | 'create' | 'update', prefix: string, variant: VariantName): SnpCertCacheRbacError {
  const m = SERVICE_ACCOUNT_IN_MESSAGE.exec(e.message);
  const serviceAccount = m ? { namespace: m[1]!, name: m[2]! } : { namespace: 'kube-system', name: 'join-service' };
  const fix = rbacFix(verb, serviceAccount);
  const message =
    `${prefix}${e.message}. ` +
    `The join service's service account needs the RBAC verb "${verb}" on configmaps ("${SNP_CERT_CACHE_CONFIGMAP}") in namespace ${SNP_CERT_CACHE_NAMESPACE} for the ${variant} certificate chain cache. ` +
    `The service keeps running: an ASK checked in this process is used from memory if there is one, otherwise the node's ASK or the config's amdSigningKey (verification fails closed without one). ` +
    `Fix: ${fix}`;
  return new SnpCertCacheRbacError(
    message,
    verb,
    fix,
    {
      ...(e.details ?? {}),
      missingVerb: verb,
      namespace: SNP_CERT_CACHE_NAMESPACE,
      configMap: SNP_CERT_CACHE_CONFIGMAP,
      serviceAccount: `${serviceAccount.namespace}/${serviceAccount.name}`,
    },
    { cause: e },
  );
}

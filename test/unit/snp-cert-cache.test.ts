import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { KubernetesEmulator } from '../../src/emulator/kubernetes/index.js';
import { createKubernetesClient, type KubernetesClient } from '../../src/main/kubernetes/kubernetes-client.js';
import type { LogAttrs, Logger } from '../../src/main/log/logger.js';
import { certificateDerFromPem, checkAmdCertChain, verifyAskSignedByArk } from '../../src/main/snp/amd-chain-check.js';
import {
  certCacheKeyKind,
  SNP_CERT_CACHE_CONFIGMAP,
  SNP_CERT_CACHE_NAMESPACE,
  SnpCertCache,
  SnpCertCacheRbacError,
  type SnpCertCacheOptions,
  type SnpCertCacheOutcome,
} from '../../src/main/snp/cert-cache.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { createKdsClient, parseKdsCertChain } from '../../src/workers/attestation/snp/kds/kds-client.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-http.js';
import { readVectorText } from '../helpers/vectors.js';

const NS = SNP_CERT_CACHE_NAMESPACE;
const CM = SNP_CERT_CACHE_CONFIGMAP;
const MILAN = parseKdsCertChain(readVectorText('amd/ask_ark_milan.pem', '22e62f8d2c21a156470145fc75f7b5a377cb053ced3e97f0bd3f8d8ca5941ce6'));
const MILAN_VLEK = parseKdsCertChain(readVectorText('amd/ask_ark_milan_vlek.pem', '3098f7e90ee7049b8cf116448d1bdf33b08847b4250bd99507cf73b5c49d3467'));
const GENOA_TEXT = readVectorText('amd/ask_ark_genoa.pem');
const GENOA = parseKdsCertChain(GENOA_TEXT);
const NOW = Date.parse('2026-01-22T12:00:00Z');

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Line {
  level: string;
  msg: string;
  attrs: LogAttrs;
}

function captureLogger(lines: Line[] = []): Logger & { lines: Line[] } {
  const add = (level: string) => (msg: string, attrs: LogAttrs = {}) => void lines.push({ level, msg, attrs });
  return {
    lines,
    debug: add('DEBUG'),
    info: add('INFO'),
    warn: add('WARN'),
    error: add('ERROR'),
    group: () => captureLogger(lines),
    with: () => captureLogger(lines),
    flush: () => {},
  };
}

type KdsMode = 'ok' | 'down' | 'genoa';

describe('SEV-SNP certificate cache (§8.2) against the Kubernetes emulator', () => {
  let e: KubernetesEmulator;
  let dir: string;
  let admin: KubernetesClient;
  let readOnly: KubernetesClient;
  let kds: LoopbackServer;
  let kdsMode: KdsMode = 'ok';

  before(async () => {
    e = await KubernetesEmulator.start();
    dir = await mkdtemp(path.join(tmpdir(), 'snp-cert-cache-'));
    admin = await createKubernetesClient({ kubeconfigPath: await e.writeKubeconfig(path.join(dir, 'admin.yaml')) });
    readOnly = await createKubernetesClient({ kubeconfigPath: await e.writeKubeconfig(path.join(dir, 'ro.yaml'), { readOnly: true }) });
    kds = await startLoopbackServer((req) => {
      if (kdsMode === 'down') return { status: 503, body: 'unavailable' };
      if (req.url === '/vcek/v1/Milan/cert_chain') return { body: kdsMode === 'genoa' ? GENOA_TEXT : readVectorText('amd/ask_ark_milan.pem') };
      if (req.url === '/vlek/v1/Milan/cert_chain') return { body: readVectorText('amd/ask_ark_milan_vlek.pem') };
      return { status: 404, body: 'not found' };
    });
  });
  after(async () => {
    admin.close();
    readOnly.close();
    await kds.close();
    await e.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    e.reset();
    kdsMode = 'ok';
    kds.requests.length = 0;
  });

  /** KDS over loopback with retries that do not really wait. */
  const kdsClient = () => createKdsClient({ baseUrl: kds.baseUrl, sleep: () => Promise.resolve(), retry: { maxAttempts: 3, jitter: 0 } });

  function cache(o: Partial<SnpCertCacheOptions> = {}) {
    const log = captureLogger();
    const c = new SnpCertCache({ variant: 'azure-sev-snp', kubernetes: admin, kds: kdsClient(), log, now: () => NOW, retryInBackground: false, ...o });
    return { c, log };
  }

  const stored = () => e.objects.configmaps.get(NS, CM)?.['data'] as Record<string, string> | undefined;
  const putConfigMap = (data: Record<string, string>) => e.objects.configmaps.put({ metadata: { name: CM, namespace: NS }, data });
  const cmRequests = () => e.requests.filter((r) => r.path.startsWith(`/api/v1/namespaces/${NS}/configmaps`)).map((r) => `${r.method} ${r.status}`);

  function ready(o: SnpCertCacheOutcome): Extract<SnpCertCacheOutcome, { state: 'ready' }> {
    assert.equal(o.state, 'ready', JSON.stringify(o));
    return o as Extract<SnpCertCacheOutcome, { state: 'ready' }>;
  }

  test('variants: azure → VCEK chain, aws → VLEK chain, others none (no API calls)', async () => {
    assert.equal(certCacheKeyKind('azure-sev-snp'), 'vcek');
    assert.equal(certCacheKeyKind('aws-sev-snp'), 'vlek');
    assert.equal(certCacheKeyKind('gcp-sev-snp'), undefined);
    const { c } = cache({ variant: 'gcp-sev-snp' });
    assert.deepEqual(await c.start(), { state: 'not-applicable', variant: 'gcp-sev-snp' });
    assert.equal(c.getCachedAmdSigningKey(), undefined);
    assert.equal(e.requests.length, 0);
    assert.equal(kds.requests.length, 0);
  });

  test('missing → cert_chain fetched from KDS, ConfigMap created with ask and ark', async () => {
    const { c, log } = cache();
    const o = ready(await c.start());
    assert.equal(o.source, 'created');
    assert.equal(o.persisted, true);
    assert.deepEqual(kds.requests.map((r) => r.url), ['/vcek/v1/Milan/cert_chain']);
    assert.deepEqual(stored(), { ask: MILAN.askPem, ark: MILAN.arkPem });
    assert.deepEqual(cmRequests(), ['GET 404', 'POST 201']);
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
    assert.equal(c.getCachedArk(), MILAN.arkPem);
    assert.deepEqual(
      log.lines.map((l) => `${l.level} ${l.msg}`),
      ['INFO Using the SEV-SNP certificate chain cache'],
    );
  });

  test('aws-sev-snp: the VLEK chain; `ask` holds the ASVK', async () => {
    const { c } = cache({ variant: 'aws-sev-snp' });
    const o = ready(await c.start());
    assert.deepEqual(kds.requests.map((r) => r.url), ['/vlek/v1/Milan/cert_chain']);
    assert.deepEqual(stored(), { ask: MILAN_VLEK.askPem, ark: MILAN_VLEK.arkPem });
    assert.equal(sha256(certificateDerFromPem(o.askPem)), 'c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5');
  });

  test('exists with both keys → used, no KDS request, no write', async () => {
    putConfigMap({ ask: MILAN.askPem, ark: MILAN.arkPem });
    const { c } = cache();
    const o = ready(await c.start());
    assert.equal(o.source, 'configmap');
    assert.equal(kds.requests.length, 0);
    assert.deepEqual(cmRequests(), ['GET 200']);
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
  });

  test('exists with an empty ark → fetched, only ark filled (PUT), ask text untouched', async () => {
    const askText = MILAN.askPem.replaceAll('\n', '\r\n'); // another valid spelling of the same certificate
    putConfigMap({ ask: askText, ark: '', other: 'kept' });
    const { c } = cache();
    const o = ready(await c.start());
    assert.equal(o.source, 'updated');
    assert.deepEqual(stored(), { ask: askText, ark: MILAN.arkPem, other: 'kept' });
    assert.deepEqual(cmRequests(), ['GET 200', 'PUT 200']);
    assert.equal(o.askPem, MILAN.askPem);
  });

  test('a key that fails the check is treated as missing: re-fetched and replaced', async () => {
    putConfigMap({ ask: MILAN_VLEK.askPem, ark: MILAN.arkPem }); // an ASVK in an azure (VCEK) cache
    const { c, log } = cache();
    const o = ready(await c.start());
    assert.equal(o.source, 'updated');
    assert.deepEqual(stored(), { ask: MILAN.askPem, ark: MILAN.arkPem });
    const warn = log.lines.find((l) => l.level === 'WARN');
    assert.equal(warn?.msg, 'Ignoring the cached ASK');
    assert.match(String(warn?.attrs['error']), /ASK subject CN is "SEV-VLEK-Milan", want "SEV-Milan"/);
  });

  test('create race: AlreadyExists → the ConfigMap is read again and used', async () => {
    const peer = { ask: MILAN.askPem, ark: MILAN.arkPem, writer: 'peer' };
    const racing: SnpCertCacheOptions['kubernetes'] = {
      getConfigMap: (ns, name, limit) => admin.getConfigMap(ns, name, limit),
      createConfigMap: (ns, body, limit) => {
        putConfigMap(peer); // another replica wins between our GET and our POST
        return admin.createConfigMap(ns, body, limit);
      },
      replaceConfigMap: (ns, name, body, limit) => admin.replaceConfigMap(ns, name, body, limit),
    };
    const { c } = cache({ kubernetes: racing });
    const o = ready(await c.start());
    assert.equal(o.source, 'peer');
    assert.deepEqual(cmRequests(), ['GET 404', 'POST 409', 'GET 200']);
    assert.deepEqual(stored(), peer);
    assert.equal(kds.requests.length, 1);
  });

  test('update race: Conflict (stale resourceVersion) → read again', async () => {
    putConfigMap({ ask: MILAN.askPem, ark: '' });
    const racing: SnpCertCacheOptions['kubernetes'] = {
      getConfigMap: (ns, name, limit) => admin.getConfigMap(ns, name, limit),
      createConfigMap: (ns, body, limit) => admin.createConfigMap(ns, body, limit),
      replaceConfigMap: (ns, name, body, limit) => {
        putConfigMap({ ask: MILAN.askPem, ark: MILAN.arkPem }); // a peer completed it meanwhile
        return admin.replaceConfigMap(ns, name, body, limit);
      },
    };
    const { c } = cache({ kubernetes: racing });
    const o = ready(await c.start());
    assert.equal(o.source, 'peer');
    assert.deepEqual(cmRequests(), ['GET 200', 'PUT 409', 'GET 200']);
  });

  test('read-only token, empty ark → Forbidden on update: typed error with the RBAC fix, logged once, start-up continues', async () => {
    putConfigMap({ ask: MILAN.askPem, ark: '' });
    const { c, log } = cache({ kubernetes: readOnly });
    const o = ready(await c.start()); // resolves: no throw, no crash loop
    assert.equal(o.source, 'memory');
    assert.equal(o.persisted, false);
    assert.ok(o.problem instanceof SnpCertCacheRbacError);
    const p = o.problem;
    assert.equal(p.verb, 'update');
    assert.equal(p.code, ErrorCode.KubernetesApiError);
    assert.equal(p.details?.['httpStatus'], 403);
    assert.equal(p.details?.['missingVerb'], 'update');
    assert.equal(p.details?.['serviceAccount'], 'kube-system/read-only');
    assert.match(p.message, /^updating ARK in certificate chain cache configmap: configmaps "sev-snp-cert-cache" is forbidden: User "system:serviceaccount:kube-system:read-only" cannot update resource "configmaps"/);
    assert.match(p.message, /needs the RBAC verb "update" on configmaps \("sev-snp-cert-cache"\) in namespace kube-system/);
    assert.match(p.fix, /kubectl -n kube-system delete configmap sev-snp-cert-cache/);
    assert.match(p.fix, /kubectl -n kube-system create role join-service-sev-snp-cert-cache --verb=get,update --resource=configmaps --resource-name=sev-snp-cert-cache/);
    assert.match(p.fix, /kubectl -n kube-system create rolebinding join-service-sev-snp-cert-cache --role=join-service-sev-snp-cert-cache --serviceaccount=kube-system:read-only/);
    assert.match(p.fix, /ClusterRole in the Helm chart/);
    // The ASK from the ConfigMap (checked) is still what the validators get.
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
    assert.deepEqual(stored(), { ask: MILAN.askPem, ark: '' });
    const errors = log.lines.filter((l) => l.level === 'ERROR');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.msg, p.message);
    assert.equal(errors[0]!.attrs['missingVerb'], 'update');
  });

  test('read-only token, missing ConfigMap → Forbidden on create; the checked KDS chain is used from memory', async () => {
    const { c } = cache({ kubernetes: readOnly });
    const o = ready(await c.start());
    assert.ok(o.problem instanceof SnpCertCacheRbacError);
    assert.equal(o.problem.verb, 'create');
    assert.match(o.problem.fix, /--verb=get,create --resource=configmaps/);
    assert.equal(o.source, 'memory');
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
    assert.equal(stored(), undefined);
  });

  test('Forbidden on get (forced 403 without a user in the message) → verb "get", default service account in the fix', async () => {
    e.faults.failNext(1, { status: 403, message: 'configmaps "sev-snp-cert-cache" is forbidden' }, { method: 'GET', path: `/api/v1/namespaces/${NS}/configmaps/${CM}` });
    const { c } = cache();
    const o = ready(await c.start());
    assert.ok(o.problem instanceof SnpCertCacheRbacError);
    assert.equal(o.problem.verb, 'get');
    assert.match(o.problem.fix, /--verb=get --resource=configmaps --resource-name=sev-snp-cert-cache/);
    assert.match(o.problem.fix, /--serviceaccount=kube-system:join-service/);
    assert.equal(o.source, 'memory');
    assert.equal(stored(), undefined); // nothing written when the read failed
  });

  test('API server error on get → the checked KDS chain is used from memory, error reported', async () => {
    e.faults.failNext(1, { status: 500 }, { method: 'GET', path: `/api/v1/namespaces/${NS}/configmaps/${CM}` });
    const { c, log } = cache();
    const o = ready(await c.start());
    assert.equal(o.source, 'memory');
    assert.equal(o.problem?.code, ErrorCode.KubernetesApiError);
    assert.ok(!(o.problem instanceof SnpCertCacheRbacError));
    assert.match(o.problem?.message ?? '', /^getting certificate chain cache: /);
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
    assert.equal(log.lines.filter((l) => l.level === 'ERROR').length, 1);
  });

  test('KDS down, nothing cached → unavailable (logged once, nothing written), then a background retry succeeds', async () => {
    kdsMode = 'down';
    const sleeps: { ms: number; release: () => void }[] = [];
    let onSleep: (() => void) | undefined;
    const sleep = (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        sleeps.push({ ms, release: resolve });
        signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
        onSleep?.();
      });
    /** Resolves once the retry loop has started waiting for the n-th time. */
    const sleeping = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (sleeps.length >= n) resolve();
          else onSleep = check;
        };
        check();
      });
    const { c, log } = cache({ retryInBackground: true, sleep, retryInitialMs: 1000, retryMaxMs: 4000 });
    const ready$ = new Promise<string>((resolve) => c.onReady(resolve));
    const o = await c.start();
    assert.equal(o.state, 'unavailable');
    assert.equal(o.state === 'unavailable' && o.retrying, true);
    assert.equal(o.state === 'unavailable' && o.error.code, ErrorCode.AttestationUpstreamUnavailable);
    assert.match(o.state === 'unavailable' ? o.error.message : '', /^creating azure-sev-snp certificate chain cache: retrieving certificate chain from KDS: failed to retrieve .*\/vcek\/v1\/Milan\/cert_chain: HTTP status 503 Service Unavailable \(after 3 attempts\)$/);
    assert.equal(c.getCachedAmdSigningKey(), undefined);
    assert.equal(stored(), undefined);
    assert.equal(log.lines.filter((l) => l.level === 'ERROR').length, 1);

    // First retry: still down (logged at debug only), the delay doubles.
    await sleeping(1);
    sleeps[0]!.release();
    await sleeping(2);
    assert.deepEqual(
      sleeps.map((s) => s.ms),
      [1000, 2000],
    );
    assert.equal(log.lines.filter((l) => l.level === 'ERROR').length, 1);

    kdsMode = 'ok';
    sleeps[1]!.release();
    assert.equal(await ready$, MILAN.askPem);
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
    assert.deepEqual(stored(), { ask: MILAN.askPem, ark: MILAN.arkPem });
    await c.stop();
  });

  test('stop() ends a pending background retry', async () => {
    kdsMode = 'down';
    const { c } = cache({ retryInBackground: true, sleep: (_ms, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')))) });
    assert.equal((await c.start()).state, 'unavailable');
    await c.stop();
  });

  test('ConfigMap with only a usable ASK and KDS down → the ASK is used (configmap-partial)', async () => {
    kdsMode = 'down';
    putConfigMap({ ask: MILAN.askPem });
    const { c } = cache();
    const o = ready(await c.start());
    assert.equal(o.source, 'configmap-partial');
    assert.equal(o.arkPem, undefined);
    assert.equal(o.problem?.code, ErrorCode.AttestationUpstreamUnavailable);
    assert.equal(c.getCachedAmdSigningKey(), MILAN.askPem);
  });

  test('a KDS chain that fails the check is neither stored nor used', async () => {
    kdsMode = 'genoa';
    const { c } = cache();
    const o = await c.start();
    assert.equal(o.state, 'unavailable');
    assert.match(o.state === 'unavailable' ? o.error.message : '', /ARK subject CN is "ARK-Genoa", want "ARK-Milan"/);
    assert.equal(stored(), undefined);
  });

  test("the intermediate must be signed by the config's amdRootKey when one is given", async () => {
    const { c } = cache({ amdRootKeyPem: GENOA.arkPem });
    const o = await c.start();
    assert.equal(o.state, 'unavailable');
    assert.match(o.state === 'unavailable' ? o.error.message : '', /ASK is not issued by ARK "ARK-Genoa".*\(trusted ARK: amdRootKey of the attestation config\)/);
    const ok = cache({ amdRootKeyPem: MILAN.arkPem });
    assert.equal((await ok.c.start()).state, 'ready');
  });
});

describe('AMD chain check', () => {
  const ctx = { product: 'Milan' as const, kind: 'vcek' as const, nowMs: NOW };

  test('the real chains pass; names, links and validity are checked', () => {
    checkAmdCertChain(MILAN.askDer, MILAN.arkDer, ctx);
    checkAmdCertChain(MILAN_VLEK.askDer, MILAN_VLEK.arkDer, { ...ctx, kind: 'vlek' });
    checkAmdCertChain(GENOA.askDer, GENOA.arkDer, { ...ctx, product: 'Genoa' });
    assert.throws(() => checkAmdCertChain(MILAN_VLEK.askDer, MILAN.arkDer, ctx), /ASK subject CN is "SEV-VLEK-Milan", want "SEV-Milan"/);
    assert.throws(() => checkAmdCertChain(MILAN.askDer, MILAN.arkDer, { ...ctx, nowMs: Date.parse('2046-01-01T00:00:00Z') }), /ARK certificate is not valid now/);
    assert.throws(() => checkAmdCertChain(MILAN.askDer, MILAN.askDer, ctx), /ARK subject CN is "SEV-Milan"/);
    assert.throws(() => checkAmdCertChain(Uint8Array.of(0x30, 0x00), MILAN.arkDer, ctx), /parsing ASK certificate/);
  });

  test('verifyAskSignedByArk: the signature, not just the names', () => {
    verifyAskSignedByArk(MILAN.askDer, MILAN.arkDer);
    assert.throws(() => verifyAskSignedByArk(MILAN.askDer, GENOA.arkDer), /ASK is not issued by ARK "ARK-Genoa"/);
    const tampered = new Uint8Array(MILAN.askDer);
    tampered[tampered.length - 10]! ^= 1; // inside the signature
    assert.throws(() => verifyAskSignedByArk(tampered, MILAN.arkDer), /ASK signature does not verify with the ARK's key/);
  });

  test('certificateDerFromPem reads the first block like Go (type must be CERTIFICATE)', () => {
    assert.equal(sha256(certificateDerFromPem(`# comment\n${MILAN.askPem}trailing`)), '67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b');
    assert.throws(() => certificateDerFromPem('nothing'), /no PEM data found/);
    assert.throws(() => certificateDerFromPem(MILAN.askPem.replaceAll('CERTIFICATE', 'X509 CRL')), /block type is "X509 CRL"/);
  });
});

/**
 * The join benchmark's backends, as their own process: the dev state of the
 * variant (master secret and salts, dev attestation config, cluster CA and
 * PKI), the Kubernetes API emulator seeded like a bootstrapped cluster, and
 * the key service, each with injected latency per call.
 *
 *   node dist/bench/join/backends.js [--variant qemu-vtpm] [--state-dir .state/bench/qemu-vtpm]
 *        [--kube-latency-ms 5] [--kms-latency-ms 1] [--info-file FILE] [--pki-dir DIR]
 *
 * SEV-SNP variants (azure-sev-snp, aws-sev-snp; gcp-sev-snp has no cache):
 * the attestation config is syntheticSnpAttestationConfig of the synthetic
 * AMD PKI in --pki-dir (the issuer's; created when missing), written to
 * <state-dir>/attestationConfig.<variant>.json, and the emulator is seeded
 * with the `kube-system/sev-snp-cert-cache` ConfigMap (syntheticSnpCertCache:
 * ask = the ASK, or the ASVK for aws, ark = the ARK), so that the server's
 * start-up cache (src/main/snp/cert-cache.ts) finds it and never asks AMD KDS.
 *
 * Once everything listens it prints one JSON line (BackendsInfo) on stdout
 * (and writes it to --info-file), then runs until SIGTERM/SIGINT.
 * `GET <statsUrl>` answers BackendStats: calls served so far, and the
 * Kubernetes requests by route since the last `GET <statsUrl>?reset=1`.
 */
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { ensureDevState } from '../../src/main/cli/dev-state.js';
import { SNP_CERT_CACHE_ARK_KEY, SNP_CERT_CACHE_ASK_KEY, SNP_CERT_CACHE_CONFIGMAP, SNP_CERT_CACHE_NAMESPACE } from '../../src/main/snp/cert-cache.js';
import { startDevCluster } from '../../src/main/devcluster/dev-cluster.js';
import { startKeyService } from '../../src/main/keyservice/keyservice-server.js';
import { createLogger, levelForVerbosity } from '../../src/main/log/logger.js';
import { parseVariant } from '../../src/shared/variants.js';
import { isSnpVariant, loadOrCreateSyntheticAmdPki, syntheticSnpAttestationConfig, syntheticSnpCertCache } from '../../src/workers/attestation/snp/issuer/index.js';
import { routeOf } from './stats.js';

export interface BackendsInfo {
  pid: number;
  variant: string;
  stateDir: string;
  /** Holds `attestationConfig` and `measurementSalt`, for `joinservice serve --config-dir`. */
  configDir: string;
  attestationConfigPath: string;
  measurementSaltPath: string;
  kubeconfigPath: string;
  kubernetesEndpoint: string;
  pkiDir: string;
  adminConfPath: string;
  clusterConfigurationPath: string;
  keyServiceEndpoint: string;
  kubeLatencyMs: number;
  kmsLatencyMs: number;
  statsUrl: string;
  /** SEV-SNP: the synthetic AMD PKI directory the attestation config trusts. */
  snpPkiDir?: string;
  /** SEV-SNP: the seeded cert-cache ConfigMap (`kube-system/sev-snp-cert-cache`), or null when the variant has none (gcp). */
  snpCertCache?: { namespace: string; name: string; keys: string[] } | null;
}

export interface BackendStats {
  /** All Kubernetes API requests served since the start. */
  kubernetesRequests: number;
  /** All key service calls since the start. */
  kmsCalls: number;
  /** Kubernetes requests by route since the last reset (from the emulator's record of the last 10 000). */
  kubernetesRoutes: Record<string, number>;
  /** True when more requests came in since the reset than the emulator records. */
  routesTruncated: boolean;
}

function nonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
}

async function main(argv: string[]): Promise<void> {
  const flags = new Command('backends')
    .option('--variant <variant>', 'attestation variant (its dev attestation config)', 'qemu-vtpm')
    .option('--state-dir <dir>', 'dev state of the benchmark (reused between runs)')
    .option('--kube-latency-ms <ms>', 'latency added to every Kubernetes API request', nonNegative, 5)
    .option('--kms-latency-ms <ms>', 'latency added to every key service call', nonNegative, 1)
    .option('--info-file <file>', 'also write the info line to this file')
    .option('--pki-dir <dir>', 'SEV-SNP variants: the synthetic AMD PKI (default <state-dir>/amd-pki; created when missing)')
    .option('-v <level>', 'log level: 0 info, 1 warn', Number, 1)
    .parse(argv, { from: 'user' })
    .opts<{ variant: string; stateDir?: string; kubeLatencyMs: number; kmsLatencyMs: number; infoFile?: string; pkiDir?: string; v: number }>();
  const log = createLogger({ level: levelForVerbosity(flags.v) });
  const variant = parseVariant(flags.variant);
  const stateDir = flags.stateDir ?? path.join('.state', 'bench', variant);
  let snp: { pkiDir: string; certCache: { ask: string; ark: string } | null } | undefined;
  let attestationConfig: string | undefined;
  if (isSnpVariant(variant)) {
    // The config trusts the synthetic ARK of the issuer's PKI; rewritten every start (the PKI directory may have been re-created).
    const pkiDir = path.resolve(flags.pkiDir ?? path.join(stateDir, 'amd-pki'));
    const pki = loadOrCreateSyntheticAmdPki(pkiDir);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    attestationConfig = path.resolve(stateDir, `attestationConfig.${variant}.json`);
    await writeFile(`${attestationConfig}.tmp`, `${syntheticSnpAttestationConfig(variant, pki)}\n`);
    await rename(`${attestationConfig}.tmp`, attestationConfig);
    snp = { pkiDir, certCache: syntheticSnpCertCache(variant, pki) };
  }
  const state = await ensureDevState(stateDir, variant, attestationConfig);

  const configDir = path.join(state.dir, 'config');
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  await copyFile(state.attestationConfigPath, path.join(configDir, 'attestationConfig'));
  await copyFile(state.measurementSaltPath, path.join(configDir, 'measurementSalt'));

  const cluster = await startDevCluster(state.dir);
  if (snp?.certCache) {
    // What a cluster has after its first join service started (§8.2): the server uses it and never asks AMD KDS.
    cluster.emulator.objects.configmaps.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: SNP_CERT_CACHE_CONFIGMAP, namespace: SNP_CERT_CACHE_NAMESPACE },
      data: { [SNP_CERT_CACHE_ASK_KEY]: snp.certCache.ask, [SNP_CERT_CACHE_ARK_KEY]: snp.certCache.ark },
    });
  }
  // A rule matching every request: adds the latency and counts the requests (also at 0 ms).
  const kubeRule = cluster.emulator.faults.delay(flags.kubeLatencyMs);
  const keyService = await startKeyService({
    host: '127.0.0.1',
    port: 0,
    masterSecret: state.masterSecret,
    masterSalt: state.masterSalt,
    log,
    faults: { latencyMs: flags.kmsLatencyMs },
  });

  let hitsAtReset = 0;
  const stats = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://backends.invalid');
    if (url.pathname !== '/stats' || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    const routes: Record<string, number> = {};
    const requests = cluster.emulator.requests;
    for (const r of requests) {
      const k = routeOf(r.method, r.path);
      routes[k] = (routes[k] ?? 0) + 1;
    }
    const body: BackendStats = {
      kubernetesRequests: kubeRule.hits,
      kmsCalls: keyService.calls,
      kubernetesRoutes: routes,
      routesTruncated: kubeRule.hits - hitsAtReset > requests.length,
    };
    if (url.searchParams.get('reset') === '1') {
      cluster.emulator.clearRequests();
      hitsAtReset = kubeRule.hits;
    }
    const text = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));

  const info: BackendsInfo = {
    pid: process.pid,
    variant,
    stateDir: state.dir,
    configDir: path.resolve(configDir),
    attestationConfigPath: state.attestationConfigPath,
    measurementSaltPath: state.measurementSaltPath,
    kubeconfigPath: cluster.kubeconfigPath,
    kubernetesEndpoint: cluster.emulator.endpoint,
    pkiDir: cluster.pkiDir,
    adminConfPath: cluster.adminConfPath,
    clusterConfigurationPath: cluster.clusterConfigurationPath,
    keyServiceEndpoint: keyService.endpoint,
    kubeLatencyMs: flags.kubeLatencyMs,
    kmsLatencyMs: flags.kmsLatencyMs,
    statsUrl: `http://127.0.0.1:${(stats.address() as AddressInfo).port}/stats`,
    ...(snp
      ? {
          snpPkiDir: snp.pkiDir,
          snpCertCache: snp.certCache ? { namespace: SNP_CERT_CACHE_NAMESPACE, name: SNP_CERT_CACHE_CONFIGMAP, keys: [SNP_CERT_CACHE_ASK_KEY, SNP_CERT_CACHE_ARK_KEY] } : null,
        }
      : {}),
  };
  const line = JSON.stringify(info);
  if (flags.infoFile) {
    await writeFile(`${flags.infoFile}.tmp`, `${line}\n`);
    await rename(`${flags.infoFile}.tmp`, flags.infoFile);
  }
  process.stdout.write(`${line}\n`);

  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    stats.close();
    stats.closeAllConnections();
    void Promise.allSettled([keyService.close(), cluster.close()]).then(() => {
      log.flush();
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`backends: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}

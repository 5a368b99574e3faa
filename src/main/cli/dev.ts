import { rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Command } from 'commander';
import { parseVariant } from '../../shared/variants.js';
import { assertVariantSupported } from '../../workers/attestation/registry.js';
import { devVpcIpSource } from '../cloud/vpc-ip.js';
import { AttestationConfigSource } from '../config/attestation-config-source.js';
import { ConfigWatcher } from '../config/config-watcher.js';
import { seedSnpCertCache, startDevCluster } from '../devcluster/dev-cluster.js';
import { createKubernetesClient, DEFAULT_BURST, DEFAULT_QPS } from '../kubernetes/kubernetes-client.js';
import { startKeyService } from '../keyservice/keyservice-server.js';
import { KeyServiceClient } from '../kms/kms-client.js';
import type { Logger } from '../log/logger.js';
import { ServiceMetrics } from '../metrics/metrics.js';
import { startMetricsServer, type ListenAddress } from '../metrics/metrics-server.js';
import { startJoinService } from '../service/join-service.js';
import { ensureDevState } from './dev-state.js';
import { addLimitFlags, addMetricsFlag, intArg, limitsFrom } from './flags.js';
import { formatListenAddress, readMeasurementSalt, startSnpCertCache } from './serve.js';
import { runService } from './run-service.js';
import { closeOnSignals } from './shutdown.js';
import { SERVICE_VERSION } from './version.js';

interface DevFlags {
  host: string;
  port: number;
  stateDir: string;
  attestationVariant: string;
  attestationConfig?: string;
  snpPkiDir?: string;
  v: number;
  kubeQps: number;
  kubeBurst: number;
  metricsListen?: ListenAddress;
  [limit: string]: unknown;
}

/** What scripts and tests read to find the running dev service (`<state-dir>/dev-info.json`). */
export interface DevInfo {
  endpoint: string;
  attestationVariant: string;
  attestationConfigPath: string;
  masterSecretPath: string;
  masterSaltPath: string;
  measurementSaltPath: string;
  keyServiceEndpoint: string;
  /** The dev cluster CA (PEM): kubelet certificates chain to it. */
  caCertPath: string;
  /** kubeconfig of the emulated Kubernetes API (usable with kubectl). */
  kubeconfigPath: string;
  kubernetesEndpoint: string;
  pkiDir: string;
  adminConfPath: string;
  clusterConfigurationPath: string;
  apiServerEndpoint: string;
  pid: number;
  version: string;
  /** `http://HOST:PORT/metrics` (wildcard address replaced by loopback); only with --metrics-listen. */
  metricsEndpoint?: string;
  /** SEV-SNP variants: the synthetic AMD PKI (`joinservice issue --variant V --pki-dir <this>` makes documents the dev config accepts). */
  snpPkiDir?: string;
}

export function devCommand(): Command {
  const cmd = new Command('dev')
    .description('run the embedded default: a local key service, an emulated Kubernetes API and the join service on loopback, no cluster needed')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (0 = any free port)', intArg(0, 65535), 9090)
    .option('--state-dir <dir>', 'where the master secret, salts and dev config live', '.state/dev')
    .option('--attestation-variant <variant>', 'attestation variant (qemu-vtpm: simulated nodes use `joinservice issue`)', 'qemu-vtpm')
    .option('--attestation-config <file>', 'use this attestation config instead of the generated one')
    .option('--snp-pki-dir <dir>', 'SEV-SNP variants: the synthetic AMD PKI of the simulated nodes (created when missing; default <state-dir>/amd-pki)')
    .option('-v <level>', 'log level: <= -1 debug, 0 info, 1 warn, >= 2 error', intArg(-100, 100), 0)
    .option('--kube-qps <n>', 'client-side Kubernetes requests per second (as in serve)', intArg(1, 10_000), DEFAULT_QPS)
    .option('--kube-burst <n>', 'client-side Kubernetes request burst (as in serve)', intArg(1, 100_000), DEFAULT_BURST);
  addLimitFlags(cmd);
  addMetricsFlag(cmd);
  return cmd.action((flags: DevFlags) => runService(flags.v, 'Join service (dev) failed to start', (log) => dev(flags, log)));
}

async function dev(flags: DevFlags, log: Logger): Promise<void> {
  const variant = parseVariant(flags.attestationVariant);
  assertVariantSupported(variant);
  const state = await ensureDevState(flags.stateDir, variant, {
    ...(flags.attestationConfig !== undefined ? { attestationConfig: flags.attestationConfig } : {}),
    snpPkiDir: flags.snpPkiDir ?? path.join(flags.stateDir, 'amd-pki'),
  });
  log.info('Constellation Node Join Service (dev)', { version: SERVICE_VERSION, attestationVariant: variant, stateDir: state.dir });
  const config = await AttestationConfigSource.load(state.attestationConfigPath, { variant });
  const measurementSalt = await readMeasurementSalt(state.measurementSaltPath);

  const cluster = await startDevCluster(state.dir);
  // What a cluster has after its first join service started (§8.2): the cache below finds the synthetic chain and never asks AMD KDS.
  if (state.snp?.certCache) seedSnpCertCache(cluster.emulator, state.snp.certCache);
  const kubernetes = await createKubernetesClient({ kubeconfigPath: cluster.kubeconfigPath, qps: flags.kubeQps, burst: flags.kubeBurst, log });
  // azure-sev-snp / aws-sev-snp: the start-up certificate cache, as in serve.
  const snpCertCache = await startSnpCertCache(variant, kubernetes, config, log).catch(async (err: unknown) => {
    kubernetes.close();
    await cluster.close();
    throw err;
  });
  const vpcIp = devVpcIpSource();
  const keyService = await startKeyService({ host: '127.0.0.1', port: 0, masterSecret: state.masterSecret, masterSalt: state.masterSalt, log });
  const kms = new KeyServiceClient({ endpoint: keyService.endpoint, log });
  const limits = limitsFrom(flags);
  const metrics = flags.metricsListen ? new ServiceMetrics() : undefined;
  const svc = await startJoinService({
    host: flags.host,
    port: flags.port,
    variant,
    config,
    kms,
    cluster: {
      kubernetes,
      apiServerEndpoint: () => vpcIp.apiServerEndpoint(),
      measurementSalt,
      paths: { pkiDir: cluster.pkiDir, adminConfPath: cluster.adminConfPath, clusterConfigurationPath: cluster.clusterConfigurationPath },
    },
    limits,
    log,
    ...(metrics ? { metrics } : {}),
  }).catch(async (err: unknown) => {
    await snpCertCache?.stop();
    await keyService.close();
    await cluster.close();
    throw err;
  });
  const metricsServer =
    metrics && flags.metricsListen
      ? await startMetricsServer({ listen: flags.metricsListen, metrics, log }).catch(async (err: unknown) => {
          await svc.close();
          await keyService.close();
          await cluster.close();
          throw err;
        })
      : undefined;
  // Watching starts before dev-info.json announces the service, so no edit made after that is missed.
  const watcher = new ConfigWatcher({ source: config, log }).start();
  const info: DevInfo = {
    endpoint: svc.endpoint,
    attestationVariant: variant,
    attestationConfigPath: state.attestationConfigPath,
    masterSecretPath: state.masterSecretPath,
    masterSaltPath: state.masterSaltPath,
    measurementSaltPath: state.measurementSaltPath,
    keyServiceEndpoint: keyService.endpoint,
    caCertPath: cluster.caCertPath,
    kubeconfigPath: cluster.kubeconfigPath,
    kubernetesEndpoint: cluster.emulator.endpoint,
    pkiDir: cluster.pkiDir,
    adminConfPath: cluster.adminConfPath,
    clusterConfigurationPath: cluster.clusterConfigurationPath,
    apiServerEndpoint: vpcIp.apiServerEndpoint() ?? '',
    pid: process.pid,
    version: SERVICE_VERSION,
    ...(metricsServer ? { metricsEndpoint: metricsServer.localUrl } : {}),
    ...(state.snp ? { snpPkiDir: state.snp.pkiDir } : {}),
  };
  const infoPath = path.join(state.dir, 'dev-info.json');
  // Written atomically, only once the service accepts connections.
  await writeFile(`${infoPath}.tmp`, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  await rename(`${infoPath}.tmp`, infoPath);
  log.info(`Starting join service on ${formatListenAddress(svc.address)}`, { devInfo: infoPath, workers: limits.workers });
  closeOnSignals(log, async () => {
    await snpCertCache?.stop();
    await watcher.close();
    // A stale dev-info.json would point scripts at a dead endpoint.
    await rm(infoPath, { force: true });
    await metricsServer?.close();
    await svc.close();
    metrics?.close();
    kms.close();
    kubernetes.close();
    await keyService.close();
    await cluster.close();
  });
}

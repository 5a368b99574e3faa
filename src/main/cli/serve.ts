import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Command } from 'commander';
import { parseVariant, type VariantName } from '../../shared/variants.js';
import { assertVariantSupported } from '../../workers/attestation/registry.js';
import { vpcIpSourceFromFlags } from '../cloud/vpc-ip.js';
import { AttestationConfigSource } from '../config/attestation-config-source.js';
import { ConfigWatcher } from '../config/config-watcher.js';
import { createKubernetesClient, DEFAULT_BURST, DEFAULT_QPS, type KubernetesApi } from '../kubernetes/kubernetes-client.js';
import { KeyServiceClient } from '../kms/kms-client.js';
import type { Logger } from '../log/logger.js';
import { ServiceMetrics } from '../metrics/metrics.js';
import { startMetricsServer, type ListenAddress } from '../metrics/metrics-server.js';
import { startJoinService } from '../service/join-service.js';
import { certCacheKeyKind, SnpCertCache } from '../snp/cert-cache.js';
import { SnpSigningKeyOverlay } from '../snp/signing-key-overlay.js';
import { addLimitFlags, addMetricsFlag, intArg, limitsFrom } from './flags.js';
import { runService } from './run-service.js';
import { closeOnSignals } from './shutdown.js';
import { SERVICE_VERSION } from './version.js';

/** Measurement salts are 32 random bytes; anything much larger is a misconfiguration. */
const MAX_MEASUREMENT_SALT_BYTES = 4096;

/**
 * Longest wait for the SEV-SNP certificate cache (azure-sev-snp, aws-sev-snp)
 * before the service starts without it; the cache keeps trying afterwards and
 * its ASK is used from the moment it is ready.
 */
export const SNP_CERT_CACHE_START_WAIT_MS = 5_000;

export interface ServeFlags {
  cloudProvider: string;
  keyServiceEndpoint: string;
  attestationVariant: string;
  v: number;
  host: string;
  port: number;
  configDir: string;
  kubeconfig?: string;
  pkiDir: string;
  adminConf: string;
  kubeadmConfig: string;
  vpcIp?: string;
  kubeQps: number;
  kubeBurst: number;
  metricsListen?: ListenAddress;
  [limit: string]: unknown;
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('run the join service as deployed in a Constellation cluster (flags of the Go binary plus ours)')
    .option('--cloud-provider <name>', 'cloud provider: aws, azure, gcp, openstack, stackit, qemu', '')
    .option('--key-service-endpoint <target>', 'gRPC target of the key service, e.g. key-service.kube-system:9000', '')
    .option('--attestation-variant <variant>', 'attestation variant, e.g. azure-sev-snp', '')
    .option('-v <level>', 'log level: <= -1 debug, 0 info, 1 warn, >= 2 error', intArg(-100, 100), 0)
    .option('--host <address>', 'listen address (default: all interfaces)', '')
    .option('--port <port>', 'listen port', intArg(0, 65535), 9090)
    .option('--config-dir <dir>', 'directory with attestationConfig and measurementSalt', '/var/config')
    .option('--kubeconfig <file>', 'kubeconfig for the Kubernetes API (default: in-cluster service account)')
    .option('--pki-dir <dir>', 'cluster PKI: ca.crt/ca.key (kubelet certificates) and the control-plane files', '/etc/kubernetes/pki')
    .option('--admin-conf <file>', 'admin kubeconfig whose cluster CA gives the discovery hash', '/etc/kubernetes/admin.conf')
    .option('--kubeadm-config <file>', 'kubeadm ClusterConfiguration (extra SSH principals)', '/var/kubeadm-config/ClusterConfiguration')
    .option('--vpc-ip <ip>', 'this node\'s VPC IP (API server endpoint host) instead of asking the cloud metadata service')
    .option('--kube-qps <n>', 'client-side Kubernetes requests per second', intArg(1, 10_000), DEFAULT_QPS)
    .option('--kube-burst <n>', 'client-side Kubernetes request burst', intArg(1, 100_000), DEFAULT_BURST);
  addLimitFlags(cmd);
  addMetricsFlag(cmd);
  return cmd.action((flags: ServeFlags) => runService(flags.v, 'Join service failed to start', (log) => serve(flags, log)));
}

async function serve(flags: ServeFlags, log: Logger): Promise<void> {
  log.info('Constellation Node Join Service', {
    version: SERVICE_VERSION,
    cloudProvider: flags.cloudProvider,
    attestationVariant: flags.attestationVariant,
  });
  const variant = parseVariant(flags.attestationVariant);
  assertVariantSupported(variant);
  if (flags.keyServiceEndpoint === '') throw new Error('--key-service-endpoint is required');
  const kubernetes = await createKubernetesClient({
    ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
    qps: flags.kubeQps,
    burst: flags.kubeBurst,
    log,
  });

  const config = await AttestationConfigSource.load(path.join(flags.configDir, 'attestationConfig'), { variant });
  const measurementSalt = await readMeasurementSalt(path.join(flags.configDir, 'measurementSalt'));
  log.debug('Measurement salt loaded', { bytes: measurementSalt.length });
  const snpCertCache = await startSnpCertCache(variant, kubernetes, config, log);

  // Unlike Go, a failing metadata service does not stop the start: IssueJoinTicket answers UNAVAILABLE until the IP is known.
  const vpcIp = vpcIpSourceFromFlags({ cloudProvider: flags.cloudProvider, vpcIp: flags.vpcIp }, { log });
  const kms = new KeyServiceClient({ endpoint: flags.keyServiceEndpoint, log });
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
      paths: { pkiDir: flags.pkiDir, adminConfPath: flags.adminConf, clusterConfigurationPath: flags.kubeadmConfig },
    },
    limits: limitsFrom(flags),
    log,
    ...(metrics ? { metrics } : {}),
  }).catch(async (err: unknown) => {
    await snpCertCache?.stop();
    throw err;
  });
  const metricsServer =
    metrics && flags.metricsListen
      ? await startMetricsServer({ listen: flags.metricsListen, metrics, log }).catch(async (err: unknown) => {
          await svc.close();
          throw err;
        })
      : undefined;
  log.info(`Starting join service on ${formatListenAddress(svc.address)}`, { workers: limitsFrom(flags).workers });
  // The measurement salt is not watched (changing it requires a restart).
  const watcher = new ConfigWatcher({ source: config, log }).start();
  closeOnSignals(log, async () => {
    await snpCertCache?.stop();
    await watcher.close();
    vpcIp.close();
    await metricsServer?.close();
    await svc.close();
    metrics?.close();
    kms.close();
    kubernetes.close();
  });
}

/**
 * The SEV-SNP certificate cache (§8.2) for azure-sev-snp / aws-sev-snp:
 * started at once, awaited at most SNP_CERT_CACHE_START_WAIT_MS. Its ASK
 * (ASVK for AWS) overrides the config's `amdSigningKey` for every
 * verification from the moment it is ready — at start-up or after a
 * background retry — through an overlay on the config the verification tasks
 * carry (../snp/signing-key-overlay.ts explains the mechanism). The config
 * source's `current()` is replaced by the overlay's, so the join service and
 * everything else keep using the one source. Undefined for other variants.
 */
export async function startSnpCertCache(
  variant: VariantName,
  kubernetes: Pick<KubernetesApi, 'getConfigMap' | 'createConfigMap' | 'replaceConfigMap'>,
  config: AttestationConfigSource,
  log: Logger,
  waitMs = SNP_CERT_CACHE_START_WAIT_MS,
): Promise<SnpCertCache | undefined> {
  if (!certCacheKeyKind(variant)) return undefined;
  const baseCurrent = config.current.bind(config);
  const overlay = new SnpSigningKeyOverlay(baseCurrent);
  config.current = () => overlay.current();
  const cache = new SnpCertCache({ variant, kubernetes, amdRootKeyPem: amdRootKeyOf(baseCurrent().text), log });
  const use = (askPem: string): void => {
    if (overlay.signingKey !== undefined) return;
    const offset = overlay.setSigningKey(askPem);
    log.info('The SEV-SNP certificate cache\'s ASK overrides amdSigningKey for all further verifications', {
      variant,
      ...(offset > 0 ? { note: `ready after verifications had started: verifications now report config generation N+${offset} for attestation config generation N` } : {}),
    });
  };
  cache.onReady(use);
  const started = cache.start().then((outcome) => {
    if (outcome.state === 'ready') use(outcome.askPem);
  });
  const wait = new AbortController();
  await Promise.race([started, delay(waitMs, undefined, { ref: false, signal: wait.signal }).catch(() => undefined)]);
  wait.abort();
  if (overlay.signingKey === undefined) {
    log.info('Starting without the SEV-SNP certificate cache; its ASK will be used once it is ready', { variant, waitedMs: waitMs });
  }
  return cache;
}

/** `amdRootKey` of a config text (for the cache's chain check); undefined when absent or not a string. */
function amdRootKeyOf(text: string): string | undefined {
  try {
    const v = (JSON.parse(text) as Record<string, unknown>).amdRootKey;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function readMeasurementSalt(file: string): Promise<Buffer> {
  const salt = await readFile(file);
  if (salt.length > MAX_MEASUREMENT_SALT_BYTES) throw new Error(`measurement salt ${file} is ${salt.length} bytes, limit ${MAX_MEASUREMENT_SALT_BYTES}`);
  return salt;
}

export function formatListenAddress(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

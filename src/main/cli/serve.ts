import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Command } from 'commander';
import { parseVariant } from '../../shared/variants.js';
import { assertVariantSupported } from '../../workers/attestation/registry.js';
import { vpcIpSourceFromFlags } from '../cloud/vpc-ip.js';
import { AttestationConfigSource } from '../config/attestation-config-source.js';
import { ConfigWatcher } from '../config/config-watcher.js';
import { createKubernetesClient, DEFAULT_BURST, DEFAULT_QPS } from '../kubernetes/kubernetes-client.js';
import { KeyServiceClient } from '../kms/kms-client.js';
import type { Logger } from '../log/logger.js';
import { ServiceMetrics } from '../metrics/metrics.js';
import { startMetricsServer, type ListenAddress } from '../metrics/metrics-server.js';
import { startJoinService } from '../service/join-service.js';
import { addLimitFlags, addMetricsFlag, intArg, limitsFrom } from './flags.js';
import { runService } from './run-service.js';
import { closeOnSignals } from './shutdown.js';
import { SERVICE_VERSION } from './version.js';

/** Measurement salts are 32 random bytes; anything much larger is a misconfiguration. */
const MAX_MEASUREMENT_SALT_BYTES = 4096;

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
    await watcher.close();
    vpcIp.close();
    await metricsServer?.close();
    await svc.close();
    metrics?.close();
    kms.close();
    kubernetes.close();
  });
}

export async function readMeasurementSalt(file: string): Promise<Buffer> {
  const salt = await readFile(file);
  if (salt.length > MAX_MEASUREMENT_SALT_BYTES) throw new Error(`measurement salt ${file} is ${salt.length} bytes, limit ${MAX_MEASUREMENT_SALT_BYTES}`);
  return salt;
}

export function formatListenAddress(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

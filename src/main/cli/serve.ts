import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Command } from 'commander';
import { parseVariant } from '../../shared/variants.js';
import { toJoinServiceError } from '../../shared/errors.js';
import { assertVariantSupported } from '../../workers/attestation/registry.js';
import { AttestationConfigSource } from '../config/attestation-config-source.js';
import { KeyServiceClient } from '../kms/kms-client.js';
import { createLogger, levelForVerbosity, type Logger } from '../log/logger.js';
import { startJoinService } from '../service/join-service.js';
import { addLimitFlags, intArg, limitsFrom } from './flags.js';
import { closeOnSignals } from './shutdown.js';
import { SERVICE_VERSION } from './version.js';

/** Providers Go's join service knows for the VPC-IP lookup (config-and-operations.md §5), matched case-insensitively. */
const CLOUD_PROVIDERS = new Set(['aws', 'azure', 'gcp', 'openstack', 'stackit', 'qemu']);

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
    .option('--config-dir <dir>', 'directory with attestationConfig and measurementSalt', '/var/config');
  addLimitFlags(cmd);
  return cmd.action(async (flags: ServeFlags) => {
    const log = createLogger({ level: levelForVerbosity(flags.v) });
    try {
      await serve(flags, log);
    } catch (err) {
      const e = toJoinServiceError(err);
      log.error('Join service failed to start', { code: e.code, error: e.message });
      log.flush();
      process.exit(1);
    }
  });
}

async function serve(flags: ServeFlags, log: Logger): Promise<void> {
  log.info('Constellation Node Join Service', {
    version: SERVICE_VERSION,
    cloudProvider: flags.cloudProvider,
    attestationVariant: flags.attestationVariant,
  });
  const variant = parseVariant(flags.attestationVariant);
  assertVariantSupported(variant);
  if (!CLOUD_PROVIDERS.has(flags.cloudProvider.toLowerCase())) throw new Error(`unsupported cloud provider: ${JSON.stringify(flags.cloudProvider)}`);
  if (flags.keyServiceEndpoint === '') throw new Error('--key-service-endpoint is required');

  const config = await AttestationConfigSource.load(path.join(flags.configDir, 'attestationConfig'));
  const measurementSalt = await readMeasurementSalt(path.join(flags.configDir, 'measurementSalt'));
  log.debug('Measurement salt loaded', { bytes: measurementSalt.length });

  const kms = new KeyServiceClient({ endpoint: flags.keyServiceEndpoint, log });
  const svc = await startJoinService({
    host: flags.host,
    port: flags.port,
    variant,
    config,
    kms,
    limits: limitsFrom(flags),
    log,
  });
  log.info(`Starting join service on ${formatListenAddress(svc.address)}`, { workers: limitsFrom(flags).workers });
  closeOnSignals(log, async () => {
    await svc.close();
    kms.close();
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

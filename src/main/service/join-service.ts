import type { AddressInfo } from 'node:net';
import type { VariantName } from '../../shared/variants.js';
import { AtlsServer } from '../atls/atls-server.js';
import { AttestedConnections } from '../atls/attested-connections.js';
import { peerKey } from '../atls/peer-address.js';
import type { AttestationConfigSource, ConfigReloadStats } from '../config/attestation-config-source.js';
import { JoinApiServer } from '../grpc/join-api-server.js';
import type { DataKeySource } from '../kms/kms-client.js';
import type { Logger } from '../log/logger.js';
import type { ServiceMetrics } from '../metrics/metrics.js';
import type { JoinTicketDeps } from '../ticket/join-ticket.js';
import { WorkerPool, type PoolStats } from '../pool/worker-pool.js';
import type { ServiceLimits } from './limits.js';

export interface JoinServiceOptions {
  host: string;
  port: number;
  variant: VariantName;
  config: AttestationConfigSource;
  kms: DataKeySource;
  /** IssueJoinTicket's cluster access (the pool is the service's own). */
  cluster: Omit<JoinTicketDeps, 'kms' | 'pool'>;
  limits: ServiceLimits;
  log: Logger;
  /** Counts into these metrics and connects their scrape-time gauges (--metrics-listen). */
  metrics?: ServiceMetrics;
}

export interface RunningJoinService {
  address: AddressInfo;
  /** `host:port` a client on this machine can dial. */
  endpoint: string;
  stats(): { pool: PoolStats; pendingHandshakes: number; attestedConnections: number; config: ConfigReloadStats };
  close(): Promise<void>;
}

/**
 * Wires one join service: aTLS listener → verification pool → connection
 * injection into the join.API gRPC server.
 */
export async function startJoinService(o: JoinServiceOptions): Promise<RunningJoinService> {
  const m = o.metrics;
  const pool = new WorkerPool({
    workers: o.limits.workers,
    maxQueue: o.limits.maxVerifyQueue,
    timeoutMs: o.limits.verifyTimeoutMs,
    ...(m ? { onTaskDone: m.poolTaskDone } : {}),
  });
  await pool.start();
  const connections = new AttestedConnections();
  const api = new JoinApiServer({ connections, kms: o.kms, joinTicket: { ...o.cluster, pool }, log: o.log, ...(m ? { onRpcDone: m.rpcDone } : {}) });
  const atls = new AtlsServer({
    host: o.host,
    port: o.port,
    variant: o.variant,
    currentConfig: () => o.config.current(),
    pool,
    log: o.log,
    handshakeTimeoutMs: o.limits.handshakeTimeoutMs,
    maxPendingHandshakes: o.limits.maxPendingHandshakes,
    maxCertListBytes: o.limits.maxCertListBytes,
    ...(o.limits.nonceCa ? { nonceCa: o.limits.nonceCa } : {}),
    ...(m ? { onHandshakeOutcome: m.handshake } : {}),
    onAttested: (socket, peer, peerAddress) => {
      const key = peerKey(socket);
      const record = { peer, peerAddress, attestedAt: Date.now() };
      connections.add(key, record);
      socket.once('close', () => connections.remove(key, record));
      api.inject(socket);
    },
  });
  let address: AddressInfo;
  try {
    address = await atls.listen();
  } catch (err) {
    await pool.close();
    throw err;
  }
  m?.bind({
    pool: () => pool.stats(),
    poolThreads: () => pool.threadCount(),
    poolBusyMs: () => pool.threadsBusyMs(),
    pendingHandshakes: () => atls.pendingHandshakes,
    attestedConnections: () => connections.size,
    config: () => o.config.stats(),
  });
  const host = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
  const endpoint = host.includes(':') ? `[${host}]:${address.port}` : `${host}:${address.port}`;
  return {
    address,
    endpoint,
    stats: () => ({ pool: pool.stats(), pendingHandshakes: atls.pendingHandshakes, attestedConnections: connections.size, config: o.config.stats() }),
    close: async () => {
      await atls.close().catch(() => undefined);
      api.forceClose();
      await pool.close();
    },
  };
}

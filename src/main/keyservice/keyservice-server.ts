import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { GetDataKeyResponseSchema } from '../../gen/keyservice/keyserviceproto/keyservice_pb.js';
import { kmsApiDefinition } from '../grpc/definitions.js';
import { toServiceError } from '../grpc/status.js';
import { deriveDataKey } from './derive-key.js';
import type { Logger } from '../log/logger.js';

export interface KeyServiceOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  masterSecret: Uint8Array;
  masterSalt: Uint8Array;
  log: Logger;
  /** Fault injection for tests and benchmarks. */
  faults?: KeyServiceFaults;
}

export interface KeyServiceFaults {
  latencyMs?: number;
  /** Answer the next N calls with this status instead of a key. */
  failNext?: { count: number; code: grpc.status; message: string };
}

export interface RunningKeyService {
  endpoint: string;
  port: number;
  faults: KeyServiceFaults;
  calls: number;
  close(): Promise<void>;
}

/**
 * Plaintext gRPC kms.API server deriving keys like Constellation's key service.
 * Used by the embedded default (`joinservice dev`) and by tests.
 */
export async function startKeyService(o: KeyServiceOptions): Promise<RunningKeyService> {
  const log = o.log.group('keyService');
  const server = new grpc.Server();
  const running: RunningKeyService = {
    endpoint: '',
    port: 0,
    faults: o.faults ?? {},
    calls: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
  server.addService(kmsApiDefinition, {
    getDataKey: (call: grpc.ServerUnaryCall<{ dataKeyId: string; length: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      running.calls++;
      const reply = () => {
        const f = running.faults.failNext;
        if (f && f.count > 0) {
          f.count--;
          cb({ code: f.code, details: f.message });
          return;
        }
        try {
          const key = deriveDataKey(o.masterSecret, o.masterSalt, call.request.dataKeyId, call.request.length);
          cb(null, create(GetDataKeyResponseSchema, { dataKey: key }));
        } catch (err) {
          log.debug('GetDataKey failed', { error: (err as Error).message });
          cb(toServiceError(err));
        }
      };
      const latency = running.faults.latencyMs ?? 0;
      if (latency > 0) setTimeout(reply, latency);
      else reply();
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${o.host}:${o.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  running.port = port;
  running.endpoint = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  log.info('Key service listening', { endpoint: running.endpoint });
  return running;
}

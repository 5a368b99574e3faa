import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { GetDataKeyRequestSchema, type GetDataKeyResponse } from '../../gen/keyservice/keyserviceproto/keyservice_pb.js';
import { kmsApiDefinition } from '../grpc/definitions.js';
import { goRpcErrorText } from '../grpc/go-status-text.js';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import type { Logger } from '../log/logger.js';

export interface KeyServiceClientOptions {
  /** gRPC target, e.g. `key-service.kube-system:9000` (plaintext h2c). */
  endpoint: string;
  log: Logger;
  /** Upper bound per request when the caller has no (earlier) deadline. */
  requestTimeoutMs?: number;
  /** Attempts for UNAVAILABLE answers, including the first. */
  maxAttempts?: number;
  initialBackoffMs?: number;
}

/** What the ticket handlers need: one data key by ID. */
export interface DataKeySource {
  getDataKey(keyId: string, length: number, deadline?: Date): Promise<Uint8Array>;
}

/**
 * kms.API client over one persistent channel (the Go service dials anew per
 * key; a kept channel saves a TCP+HTTP/2 setup on each of the three calls of
 * a join). Retries only UNAVAILABLE, with exponential backoff, inside the
 * caller's deadline; every other status is final.
 */
export class KeyServiceClient implements DataKeySource {
  private readonly client: grpc.Client;
  private readonly log: Logger;
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;

  constructor(private readonly o: KeyServiceClientOptions) {
    this.client = new grpc.Client(o.endpoint, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 60_000,
      'grpc.max_receive_message_length': 1 << 20,
    });
    this.log = o.log.group('keyServiceClient');
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.maxAttempts = o.maxAttempts ?? 4;
    this.initialBackoffMs = o.initialBackoffMs ?? 50;
  }

  async getDataKey(keyId: string, length: number, deadline?: Date): Promise<Uint8Array> {
    const own = Date.now() + this.requestTimeoutMs;
    const until = deadline && deadline.getTime() < own ? deadline.getTime() : own;
    let backoff = this.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.call(keyId, length, new Date(until));
        return res.dataKey;
      } catch (err) {
        const e = err as grpc.ServiceError;
        const retryable = e.code === grpc.status.UNAVAILABLE && attempt < this.maxAttempts && Date.now() + backoff < until;
        this.log.debug('GetDataKey failed', { keyID: keyId, endpoint: this.o.endpoint, attempt, code: e.code, retry: retryable });
        if (!retryable) {
          throw new JoinServiceError(
            ErrorCode.KmsRequestFailed,
            `fetching data encryption key from Constellation KMS: ${goRpcErrorText(e.code ?? grpc.status.UNKNOWN, e.details ?? e.message)}`,
            { grpcCode: e.code ?? grpc.status.UNKNOWN, attempts: attempt },
          );
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 1000);
      }
    }
  }

  private call(keyId: string, length: number, deadline: Date): Promise<GetDataKeyResponse> {
    return new Promise((resolve, reject) => {
      const req = create(GetDataKeyRequestSchema, { dataKeyId: keyId, length });
      this.client.makeUnaryRequest(
        kmsApiDefinition.getDataKey.path,
        kmsApiDefinition.getDataKey.requestSerialize,
        kmsApiDefinition.getDataKey.responseDeserialize,
        req,
        new grpc.Metadata(),
        { deadline },
        (err, res) => (err || !res ? reject(err ?? new Error('empty response')) : resolve(res)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { IssueJoinTicketRequest, IssueRejoinTicketRequest } from '../../gen/joinservice/joinproto/join_pb.js';
import { ErrorCode, toJoinServiceError } from '../../shared/errors.js';
import type { AttestedConnections, AttestedConnection } from '../atls/attested-connections.js';
import type { DataKeySource } from '../kms/kms-client.js';
import type { Logger } from '../log/logger.js';
import { issueJoinTicket, type JoinTicketDeps } from '../ticket/join-ticket.js';
import { issueRejoinTicket, type TicketContext } from '../ticket/rejoin-ticket.js';
import { joinApiDefinition } from './definitions.js';
import { grpcStatusFor } from './status.js';

export interface JoinApiServerOptions {
  connections: AttestedConnections;
  kms: DataKeySource;
  /** Everything IssueJoinTicket needs besides the KMS. */
  joinTicket: Omit<JoinTicketDeps, 'kms'>;
  log: Logger;
  /** Called once per call with its status and handler time; for metrics, must be cheap. */
  onRpcDone?: (method: JoinRpcMethod, code: grpc.status, seconds: number) => void;
}

export type JoinRpcMethod = 'IssueJoinTicket' | 'IssueRejoinTicket';

/** Go's default grpc server limit for received messages. */
const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The join.API gRPC service on top of already-attested sockets: the aTLS layer
 * injects each verified connection; no listener of its own. Every call first
 * looks up what its connection proved and fails closed without it.
 */
export class JoinApiServer {
  private readonly server: grpc.Server;
  private readonly injector: grpc.ConnectionInjector;
  private readonly log: Logger;

  constructor(private readonly o: JoinApiServerOptions) {
    this.log = o.log.group('server');
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
      // Nodes make one or two calls and leave; bound what idle peers can hold.
      'grpc.max_connection_idle_ms': 5 * 60 * 1000,
    });
    this.server.addService(joinApiDefinition, {
      issueJoinTicket: this.unary('IssueJoinTicket', (req: IssueJoinTicketRequest, ctx) => issueJoinTicket(req, { ...this.o.joinTicket, kms: this.o.kms }, ctx)),
      issueRejoinTicket: this.unary('IssueRejoinTicket', (req: IssueRejoinTicketRequest, ctx) => issueRejoinTicket(req, this.o.kms, ctx)),
    });
    this.injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  inject(socket: Duplex): void {
    this.injector.injectConnection(socket);
  }

  private unary<Req, Res>(
    name: JoinRpcMethod,
    handle: (req: Req, ctx: TicketContext, conn: AttestedConnection) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const started = performance.now();
      const done = this.o.onRpcDone;
      const conn = this.o.connections.get(call.getPeer());
      if (!conn) {
        this.log.error(`${name} refused: connection has no attestation record`, { peer: call.getPeer() });
        callback({ code: grpcStatusFor(ErrorCode.PeerNotAttested), details: 'connection is not attested' });
        done?.(name, grpcStatusFor(ErrorCode.PeerNotAttested), (performance.now() - started) / 1000);
        return;
      }
      const log = this.log.with({ peerAddress: conn.peerAddress });
      const ctx: TicketContext = { peerAddress: conn.peerAddress, deadline: finiteDeadline(call.getDeadline()), log };
      log.info(`${name} called`);
      handle(call.request, ctx, conn).then(
        (res) => {
          log.info(`${name} successful`);
          callback(null, res);
          done?.(name, grpc.status.OK, (performance.now() - started) / 1000);
        },
        (err: unknown) => {
          const e = toJoinServiceError(err);
          log.error(`${name} failed`, { code: e.code, error: e.message });
          callback({ code: grpcStatusFor(e.code), details: e.message });
          done?.(name, grpcStatusFor(e.code), (performance.now() - started) / 1000);
        },
      );
    };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  forceClose(): void {
    this.server.forceShutdown();
  }
}

function finiteDeadline(d: grpc.Deadline): Date | undefined {
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

import { create } from '@bufbuild/protobuf';
import {
  IssueRejoinTicketResponseSchema,
  type IssueRejoinTicketRequest,
  type IssueRejoinTicketResponse,
} from '../../gen/joinservice/joinproto/join_pb.js';
import type { DataKeySource } from '../kms/kms-client.js';
import type { Logger } from '../log/logger.js';
import { MEASUREMENT_SECRET_KEY_ID, MEASUREMENT_SECRET_LENGTH, STATE_DISK_KEY_LENGTH } from './constants.js';
import { stepFailed } from './ticket-error.js';

export interface TicketContext {
  peerAddress: string;
  /** The caller's gRPC deadline, propagated to the KMS calls. */
  deadline?: Date;
  log: Logger;
}

/**
 * IssueRejoinTicket (join-protocol.md §5): measurement secret, then the state
 * disk key for the request's disk UUID. No Kubernetes calls, no side effects.
 * The two KMS requests stay sequential so that a failing first step never
 * triggers the second, exactly as in Go.
 */
export async function issueRejoinTicket(
  req: IssueRejoinTicketRequest,
  kms: DataKeySource,
  ctx: TicketContext,
): Promise<IssueRejoinTicketResponse> {
  ctx.log.info('Requesting measurement secret');
  let measurementSecret: Uint8Array;
  try {
    measurementSecret = await kms.getDataKey(MEASUREMENT_SECRET_KEY_ID, MEASUREMENT_SECRET_LENGTH, ctx.deadline);
  } catch (err) {
    throw stepFailed('unable to get measurement secret', err);
  }
  ctx.log.info('Requesting disk encryption key');
  let stateDiskKey: Uint8Array;
  try {
    stateDiskKey = await kms.getDataKey(req.diskUuid, STATE_DISK_KEY_LENGTH, ctx.deadline);
  } catch (err) {
    throw stepFailed('unable to get key for stateful disk', err);
  }
  return create(IssueRejoinTicketResponseSchema, { stateDiskKey, measurementSecret });
}

import type { IssueJoinTicketRequest, IssueJoinTicketResponse } from '../../gen/joinservice/joinproto/join_pb.js';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';

/**
 * IssueJoinTicket needs the Kubernetes adapter, the cluster CA and SSH signing,
 * which this version of the service does not have yet. Until then the RPC is
 * refused outright with UNIMPLEMENTED, before any KMS or Kubernetes call, so a
 * node never receives a partial ticket.
 */
export async function issueJoinTicket(_req: IssueJoinTicketRequest): Promise<IssueJoinTicketResponse> {
  throw new JoinServiceError(
    ErrorCode.Unimplemented,
    'IssueJoinTicket is not supported by this join service version yet (only IssueRejoinTicket is served)',
  );
}

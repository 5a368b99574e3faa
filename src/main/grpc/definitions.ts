import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  IssueJoinTicketRequestSchema,
  IssueJoinTicketResponseSchema,
  IssueRejoinTicketRequestSchema,
  IssueRejoinTicketResponseSchema,
} from '../../gen/joinservice/joinproto/join_pb.js';
import { GetDataKeyRequestSchema, GetDataKeyResponseSchema } from '../../gen/keyservice/keyserviceproto/keyservice_pb.js';

/** A grpc-js unary method whose messages are (de)serialised by @bufbuild/protobuf in binary form. */
function unary<I extends DescMessage, O extends DescMessage>(
  path: string,
  input: I,
  output: O,
): MethodDefinition<MessageShape<I>, MessageShape<O>> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b) => fromBinary(input, b),
    responseSerialize: (m) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b) => fromBinary(output, b),
  };
}

export const joinApiDefinition = {
  issueJoinTicket: unary('/join.API/IssueJoinTicket', IssueJoinTicketRequestSchema, IssueJoinTicketResponseSchema),
  issueRejoinTicket: unary('/join.API/IssueRejoinTicket', IssueRejoinTicketRequestSchema, IssueRejoinTicketResponseSchema),
} satisfies ServiceDefinition;

export const kmsApiDefinition = {
  getDataKey: unary('/kms.API/GetDataKey', GetDataKeyRequestSchema, GetDataKeyResponseSchema),
} satisfies ServiceDefinition;

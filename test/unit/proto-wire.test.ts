import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { create, fromBinary, toBinary, equals, clone } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import {
  IssueJoinTicketRequestSchema,
  IssueJoinTicketResponseSchema,
  IssueRejoinTicketRequestSchema,
  IssueRejoinTicketResponseSchema,
  file_joinservice_joinproto_join,
} from '../../src/gen/joinservice/joinproto/join_pb.js';
import { file_internal_versions_components_components } from '../../src/gen/internal/versions/components/components_pb.js';
import { GetDataKeyRequestSchema, file_keyservice_keyserviceproto_keyservice } from '../../src/gen/keyservice/keyserviceproto/keyservice_pb.js';
import { repoRoot } from '../helpers/repo-root.js';

// An encoder written from the protobuf wire-format spec, independent of @bufbuild/protobuf.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
};
const bytesField = (field: number, b: Uint8Array | string): number[] => {
  const data = typeof b === 'string' ? [...Buffer.from(b, 'utf8')] : [...b];
  return [...varint((field << 3) | 2), ...varint(data.length), ...data];
};
const boolField = (field: number): number[] => [...varint(field << 3), 1];
const msgField = (field: number, inner: number[]): number[] => [...varint((field << 3) | 2), ...varint(inner.length), ...inner];

test('IssueRejoinTicket messages encode exactly as the proto3 wire format prescribes', () => {
  const key = Buffer.alloc(32, 0xaa);
  const secret = Buffer.alloc(32, 0xbb);
  const res = create(IssueRejoinTicketResponseSchema, { stateDiskKey: key, measurementSecret: secret });
  assert.deepEqual([...toBinary(IssueRejoinTicketResponseSchema, res)], [...bytesField(1, key), ...bytesField(2, secret)]);
  const req = create(IssueRejoinTicketRequestSchema, { diskUuid: 'disk-1' });
  assert.deepEqual([...toBinary(IssueRejoinTicketRequestSchema, req)], bytesField(1, 'disk-1'));
  assert.equal(fromBinary(IssueRejoinTicketRequestSchema, Uint8Array.from(bytesField(1, 'x'))).diskUuid, 'x');
});

test('a fully populated IssueJoinTicket request and response have the expected bytes', () => {
  const req = create(IssueJoinTicketRequestSchema, {
    diskUuid: 'u',
    certificateRequest: Uint8Array.of(1, 2),
    isControlPlane: true,
    hostPublicKey: Uint8Array.of(3),
    hostCertificatePrincipals: ['a', 'bc'],
  });
  assert.deepEqual([...toBinary(IssueJoinTicketRequestSchema, req)], [
    ...bytesField(1, 'u'), ...bytesField(2, Uint8Array.of(1, 2)), ...boolField(3), ...bytesField(4, Uint8Array.of(3)), ...bytesField(5, 'a'), ...bytesField(5, 'bc'),
  ]);
  const res = create(IssueJoinTicketResponseSchema, {
    stateDiskKey: Uint8Array.of(1),
    measurementSalt: Uint8Array.of(2),
    measurementSecret: Uint8Array.of(3),
    kubeletCert: Uint8Array.of(4),
    apiServerEndpoint: '10.0.0.1:6443',
    token: 'abcdef.0123456789abcdef',
    discoveryTokenCaCertHash: 'sha256:00',
    controlPlaneFiles: [{ name: 'ca.key', data: Uint8Array.of(5) }],
    kubernetesVersion: 'v1.34.0',
    kubernetesComponents: [{ url: 'https://x', hash: 'sha256:1', installPath: '/opt', extract: true }],
    authorizedCaPublicKey: Uint8Array.of(6),
    hostCertificate: Uint8Array.of(7),
  });
  assert.deepEqual([...toBinary(IssueJoinTicketResponseSchema, res)], [
    ...bytesField(1, Uint8Array.of(1)), ...bytesField(2, Uint8Array.of(2)), ...bytesField(3, Uint8Array.of(3)), ...bytesField(4, Uint8Array.of(4)),
    ...bytesField(5, '10.0.0.1:6443'), ...bytesField(6, 'abcdef.0123456789abcdef'), ...bytesField(7, 'sha256:00'),
    ...msgField(8, [...bytesField(1, 'ca.key'), ...bytesField(2, Uint8Array.of(5))]),
    ...bytesField(9, 'v1.34.0'),
    ...msgField(10, [...bytesField(1, 'https://x'), ...bytesField(2, 'sha256:1'), ...bytesField(3, '/opt'), ...boolField(4)]),
    ...bytesField(11, Uint8Array.of(6)), ...bytesField(12, Uint8Array.of(7)),
  ]);
  const kms = create(GetDataKeyRequestSchema, { dataKeyId: 'measurementSecret', length: 32 });
  assert.deepEqual([...toBinary(GetDataKeyRequestSchema, kms)], [...bytesField(1, 'measurementSecret'), 0x10, 32]);
});

/** Drops what protoc-gen-es leaves out of its embedded descriptors (source info, default json names). */
function normalize(fd: FileDescriptorProto): FileDescriptorProto {
  const c = clone(FileDescriptorProtoSchema, fd);
  c.sourceCodeInfo = undefined;
  for (const m of c.messageType) for (const f of m.field) f.jsonName = '';
  return c;
}

test('the generated descriptors equal protoc\'s compilation of proto/', (t) => {
  const probe = spawnSync('protoc', ['--version']);
  if (probe.error) {
    // test:all installs protobuf-compiler; a bare `npm test` on a machine without it cannot run this comparison.
    t.skip('protoc not installed');
    return;
  }
  const tmp = mkdtempSync(path.join(tmpdir(), 'desc-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const out = path.join(tmp, 'set.pb');
  const root = repoRoot();
  const r = spawnSync('protoc', [
    `-I${path.join(root, 'proto')}`,
    `--descriptor_set_out=${out}`,
    'internal/versions/components/components.proto',
    'joinservice/joinproto/join.proto',
    'keyservice/keyserviceproto/keyservice.proto',
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(out));
  const generated = [file_internal_versions_components_components, file_joinservice_joinproto_join, file_keyservice_keyserviceproto_keyservice];
  assert.equal(set.file.length, 3);
  for (const [i, g] of generated.entries()) {
    const want = normalize(set.file[i]!);
    const got = normalize(g.proto);
    assert.ok(equals(FileDescriptorProtoSchema, want, got), `descriptor of ${want.name} differs`);
  }
  assert.equal(set.file[1]!.messageType.find((m) => m.name === 'control_plane_cert_or_key')?.field.length, 2);
  assert.equal(set.file[1]!.package, 'join');
  assert.equal(set.file[2]!.package, 'kms');
});

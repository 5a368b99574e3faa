import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { startKeyService } from '../../src/main/keyservice/keyservice-server.js';
import { KeyServiceClient } from '../../src/main/kms/kms-client.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';

const range = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => from + i));

// join-protocol.md §3.1: HKDF-SHA256 vectors (the first three from Constellation's testvector package).
const VECTORS = [
  { ikm: Buffer.alloc(32, 0), salt: Buffer.alloc(32, 0), id: '00000000-0000-0000-0000-000000000000', out: '2b5c829f691bfd4232f8aac464bccc07e605c7c8e82cbca09837e86d0b6d0665' },
  { ikm: Buffer.alloc(32, 0xff), salt: Buffer.alloc(32, 0xff), id: 'ffffffff-ffff-ffff-ffff-ffffffffffff', out: '1484aa39d3415e906e07940ff215d8b1eee705d3027dba93306af4abff4f70be' },
  { ikm: range(0x40, 32), salt: range(0x60, 32), id: 'measurementSecret', out: '4790578891f3fe6cc22cb661ecdc1b7e33121b1287546a52ba33a9136719c213' },
  { ikm: Buffer.alloc(32, 0), salt: Buffer.alloc(32, 0), id: 'ca_emergency_ssh', out: '9e713c43390b642211dac2251376b4ac901635b197ccd2288393cc61bb73e127' },
];

test('deriveDataKey matches the published HKDF vectors', () => {
  for (const v of VECTORS) assert.equal(deriveDataKey(v.ikm, v.salt, v.id, 32).toString('hex'), v.out, v.id);
});

test('deriveDataKey refuses length zero and an empty key ID with the key service messages', () => {
  assert.throws(() => deriveDataKey(Buffer.alloc(32), Buffer.alloc(32), 'x', 0), { code: ErrorCode.InvalidArgument, message: "can't derive key with length zero" });
  assert.throws(() => deriveDataKey(Buffer.alloc(32), Buffer.alloc(32), '', 32), { code: ErrorCode.InvalidArgument, message: 'no data key ID specified' });
  assert.throws(() => deriveDataKey(Buffer.alloc(32), Buffer.alloc(32), 'x', 255 * 32 + 1), { code: ErrorCode.Internal });
});

test('key service over gRPC: keys, errors in grpc-go text form, retries on UNAVAILABLE only', async (t) => {
  const ks = await startKeyService({ host: '127.0.0.1', port: 0, masterSecret: VECTORS[2]!.ikm, masterSalt: VECTORS[2]!.salt, log: silentLogger() });
  const client = new KeyServiceClient({ endpoint: ks.endpoint, log: silentLogger(), initialBackoffMs: 5 });
  t.after(async () => {
    client.close();
    await ks.close();
  });

  const key = await client.getDataKey('measurementSecret', 32);
  assert.equal(Buffer.from(key).toString('hex'), VECTORS[2]!.out);

  await assert.rejects(client.getDataKey('', 32), (e: JoinServiceError) => {
    assert.equal(e.code, ErrorCode.KmsRequestFailed);
    assert.equal(e.message, 'fetching data encryption key from Constellation KMS: rpc error: code = InvalidArgument desc = no data key ID specified');
    return true;
  });

  ks.faults.failNext = { count: 2, code: grpc.status.UNAVAILABLE, message: 'flaky' };
  const before = ks.calls;
  assert.equal(Buffer.from(await client.getDataKey('measurementSecret', 32)).toString('hex'), VECTORS[2]!.out);
  assert.equal(ks.calls - before, 3, 'two UNAVAILABLE answers then success');

  ks.faults.failNext = { count: 1, code: grpc.status.PERMISSION_DENIED, message: 'no' };
  const before2 = ks.calls;
  await assert.rejects(client.getDataKey('x', 32), /code = PermissionDenied desc = no/);
  assert.equal(ks.calls - before2, 1, 'non-UNAVAILABLE errors are final');
});

test('KMS client gives up at the caller deadline', async (t) => {
  const ks = await startKeyService({ host: '127.0.0.1', port: 0, masterSecret: Buffer.alloc(32), masterSalt: Buffer.alloc(32), log: silentLogger() });
  const client = new KeyServiceClient({ endpoint: ks.endpoint, log: silentLogger() });
  t.after(async () => {
    client.close();
    await ks.close();
  });
  ks.faults.latencyMs = 2000;
  await assert.rejects(client.getDataKey('x', 32, new Date(Date.now() + 100)), /code = DeadlineExceeded/);
});

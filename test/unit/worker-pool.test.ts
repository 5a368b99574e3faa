import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool } from '../../src/main/pool/worker-pool.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyResult, type VerifyTask } from '../../src/shared/worker-protocol.js';

const task = (over: Partial<VerifyTask> = {}): VerifyTask => ({
  v: VERIFY_PROTOCOL_VERSION,
  kind: 'verify-certificate',
  certificate: Uint8Array.of(0x30, 0x00),
  nonce: new Uint8Array(32),
  variant: 'dummy',
  config: { generation: 1, text: '{}' },
  nowMs: Date.now(),
  ...over,
});

const isCode = (code: string) => (e: unknown) => {
  assert.ok(e instanceof JoinServiceError, String(e));
  assert.equal(e.code, code, e.message);
  return true;
};

test('the real worker pool answers with typed errors, never throws', async (t) => {
  const pool = new WorkerPool({ workers: 1, maxQueue: 4, timeoutMs: 30_000 });
  t.after(() => pool.close());
  await pool.start();
  const garbage = await pool.verify(task());
  assert.equal(garbage.ok, false);
  if (!garbage.ok) assert.equal(garbage.error.code, ErrorCode.CertParse);
  // A task of another protocol version is refused by the worker.
  const other = await pool.verify({ ...task(), v: 99 as typeof VERIFY_PROTOCOL_VERSION });
  assert.equal(other.ok, false);
  if (!other.ok) assert.equal(other.error.code, ErrorCode.PoolProtocol);
});

test('a full queue refuses at once', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const never: VerifyResult = { v: 1, ok: false, error: { code: ErrorCode.Internal, message: 'x' }, timings: { certificateUs: 0, attestationUs: 0 } };
  const pool = new WorkerPool({ workers: 0, maxQueue: 1, timeoutMs: 30_000, inlineRunner: () => gate.then(() => never) });
  t.after(() => pool.close());
  await pool.start();
  const a = pool.verify(task());
  const b = pool.verify(task());
  await assert.rejects(pool.verify(task()), isCode(ErrorCode.PoolOverloaded));
  assert.equal(pool.stats().rejectedOverload, 1);
  release();
  await Promise.all([a, b]);
  // Capacity is back once tasks finish.
  assert.equal((await pool.verify(task())).ok, false);
});

test('a verification that runs too long fails with ATTESTATION_TIMEOUT', async (t) => {
  const pool = new WorkerPool({ workers: 0, maxQueue: 0, timeoutMs: 50, inlineRunner: () => new Promise<VerifyResult>(() => undefined) });
  t.after(() => pool.close());
  await pool.start();
  await assert.rejects(pool.verify(task()), isCode(ErrorCode.AttestationTimeout));
  assert.equal(pool.stats().running, 0);
});

test('results of another protocol version are refused', async (t) => {
  const pool = new WorkerPool({
    workers: 0,
    maxQueue: 0,
    timeoutMs: 1000,
    inlineRunner: async () => ({ v: 7 }) as unknown as VerifyResult,
  });
  t.after(() => pool.close());
  await pool.start();
  await assert.rejects(pool.verify(task()), isCode(ErrorCode.PoolProtocol));
});

test('invalid worker counts are configuration errors', () => {
  assert.throws(() => new WorkerPool({ workers: -1, maxQueue: 0, timeoutMs: 1 }), isCode(ErrorCode.ConfigInvalid));
});

test('a worker that crashes is replaced; its task fails with POOL_WORKER_FAILED', async (t) => {
  const pool = new WorkerPool({ workers: 1, maxQueue: 2, timeoutMs: 30_000, workerEntry: new URL('./support/crashing-worker.js', import.meta.url) });
  t.after(() => pool.close());
  await pool.start();
  await assert.rejects(pool.verify(task({ nowMs: -1 })), isCode(ErrorCode.PoolWorkerFailed));
  const next = await pool.verify(task());
  assert.equal(next.ok, false);
  if (!next.ok) assert.equal(next.error.message, 'answered', 'a new worker serves the next task');
});

test('follow-up tasks of admitted connections are not refused because new verifications fill the queue', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const done: VerifyResult = { v: 1, ok: false, error: { code: ErrorCode.Internal, message: 'x' }, timings: { certificateUs: 0, attestationUs: 0 } };
  const pool = new WorkerPool({ workers: 0, maxQueue: 1, maxFollowUpTasks: 2, timeoutMs: 30_000, inlineRunner: () => gate.then(() => done) });
  t.after(() => pool.close());
  await pool.start();
  const verifications = [pool.verify(task()), pool.verify(task())];
  await assert.rejects(pool.verify(task()), isCode(ErrorCode.PoolOverloaded));
  const kubelet = () => pool.run({ v: VERIFY_PROTOCOL_VERSION, kind: 'issue-kubelet-certificate', csr: new Uint8Array(1), pkiDir: '/nonexistent', nowMs: 0 });
  // The verification queue is full, yet follow-ups are admitted up to their own bound.
  const followUps = [kubelet(), kubelet()];
  await assert.rejects(kubelet(), isCode(ErrorCode.PoolOverloaded));
  release();
  await Promise.all([...verifications, ...followUps]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AtlsServer, type HandshakeOutcome } from '../../src/main/atls/atls-server.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { WorkerPool } from '../../src/main/pool/worker-pool.js';

/** An aTLS listener whose handshake outcomes are recorded; the pool is never reached in these tests. */
async function listener(t: { after: (fn: () => unknown) => void }, o: { maxPendingHandshakes?: number; handshakeTimeoutMs?: number } = {}) {
  const outcomes: HandshakeOutcome[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const pool = new WorkerPool({ workers: 0, maxQueue: 0, timeoutMs: 1000, inlineRunner: () => Promise.reject(new Error('not reached')) });
  await pool.start();
  const atls = new AtlsServer({
    host: '127.0.0.1',
    port: 0,
    variant: 'dummy',
    currentConfig: () => ({ generation: 1, text: '{}' }),
    pool,
    log: silentLogger(),
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
    maxPendingHandshakes: o.maxPendingHandshakes ?? 16,
    maxCertListBytes: 256 * 1024,
    onAttested: () => assert.fail('nothing attests here'),
    onHandshakeOutcome: (r) => {
      outcomes.push(r);
      for (const w of [...waiters]) {
        if (outcomes.length < w.n) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
  });
  const { port } = await atls.listen();
  t.after(async () => {
    await atls.close();
    await pool.close();
  });
  const outcomeCount = (n: number) => (outcomes.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { atls, port, outcomes, outcomeCount };
}

const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  });

test('a connection refused at the pending-handshake limit counts once, as refused', async (t) => {
  const l = await listener(t, { maxPendingHandshakes: 1 });
  const held = await connect(l.port);
  while (l.atls.pendingHandshakes < 1) await nextTurn();
  const refused = await connect(l.port);
  await new Promise((r) => refused.once('close', r));
  await l.outcomeCount(1);
  assert.deepEqual(l.outcomes, ['refused']);
  // The held connection hangs up mid-handshake: rejected. The refused one's TLS error was not counted again.
  held.destroy();
  await l.outcomeCount(2);
  for (let i = 0; i < 10; i++) await nextTurn();
  assert.deepEqual(l.outcomes, ['refused', 'rejected']);
});

test('handshake timeout, garbage and a failed precheck', async (t) => {
  const l = await listener(t, { handshakeTimeoutMs: 150 });
  // Silent client: the TLS handshake times out.
  const silent = await connect(l.port);
  await l.outcomeCount(1);
  assert.deepEqual(l.outcomes, ['timeout']);
  silent.destroy();

  // Not TLS at all.
  const garbage = await connect(l.port);
  garbage.write('GET / HTTP/1.1\r\n\r\n');
  await l.outcomeCount(2);
  assert.equal(l.outcomes[1], 'rejected');
  garbage.destroy();

  // A TLS client without SNI, ALPN or certificate finishes the handshake and fails the precheck.
  const client = tls.connect({ port: l.port, host: '127.0.0.1', rejectUnauthorized: false });
  client.on('error', () => undefined);
  await l.outcomeCount(3);
  client.destroy();
  assert.deepEqual(l.outcomes, ['timeout', 'rejected', 'rejected']);
});

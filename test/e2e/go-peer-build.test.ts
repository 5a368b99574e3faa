/**
 * Checks that the Go aTLS peer builds and that its CLI contract holds (JSON on
 * stdout, exit 2 on usage errors, exit 0 when a connection fails). The end-to-end
 * tests against the join service live in other files and use the same helper.
 */
import assert from 'node:assert/strict';
import { access, constants } from 'node:fs/promises';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { buildGoPeer, GoPeerError, runGoPeer } from '../helpers/go-peer.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

const sockets = new Set<net.Socket>();

/** A server that accepts and reads but never answers (reading lets it see the client's close). */
function silentServer(): net.Server {
  return net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.resume();
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function expectUsageError(args: string[], messagePart: string): Promise<void> {
  await assert.rejects(runGoPeer(args), (err: unknown) => {
    assert.ok(err instanceof GoPeerError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.result?.ok, false);
    assert.equal(err.result?.code, 'UsageError');
    assert.match(err.result?.message ?? '', new RegExp(messagePart));
    assert.match(err.stderr, /usage: atls-peer --endpoint HOST:PORT/);
    return true;
  });
}

describe('Go aTLS peer', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    await buildGoPeer();
  });

  it('builds an executable binary', async () => {
    const bin = await buildGoPeer();
    await access(bin, constants.X_OK);
    assert.equal(await buildGoPeer(), bin, 'memoised');
  });

  it('answers --help with usage and a UsageError JSON line (exit 2)', async () => {
    await expectUsageError(['--help'], 'help requested');
  });

  it('rejects misuse with exit 2', async () => {
    await expectUsageError([], '--endpoint is required');
    await expectUsageError(['--endpoint', '127.0.0.1:1', '--mode', 'nonsense'], 'invalid --mode');
    await expectUsageError(['--endpoint', '127.0.0.1:1', '--rpc', 'nonsense'], 'invalid --rpc');
    await expectUsageError(['--endpoint', '127.0.0.1:1', '--tls-version', '1.1'], 'invalid --tls-version');
    await expectUsageError(['--endpoint', '127.0.0.1:1', '--mode', 'big-document', '--doc-size', '10'], '--doc-size');
    await expectUsageError(['--endpoint', '127.0.0.1:1', 'extra'], 'unexpected arguments');
  });

  describe('against local TCP servers', () => {
    const servers: net.Server[] = [];
    after(async () => {
      for (const sock of sockets) sock.destroy();
      await Promise.all(servers.map(close));
    });

    it('reports a refused connection as Unavailable with exit 0', async () => {
      const probe = net.createServer();
      const port = await listen(probe);
      await close(probe);
      const res = await runGoPeer(['--endpoint', `127.0.0.1:${port}`, '--timeout', '5s']);
      assert.equal(res.ok, false);
      assert.equal(res.code, 'Unavailable');
      assert.equal(res.calls, 0);
      assert.equal(typeof res.elapsedMs, 'number');
    });

    it('reports a server that never answers as DeadlineExceeded', async () => {
      const silent = silentServer();
      servers.push(silent);
      const port = await listen(silent);
      const res = await runGoPeer(['--endpoint', `127.0.0.1:${port}`, '--timeout', '300ms']);
      assert.equal(res.ok, false);
      assert.equal(res.code, 'DeadlineExceeded');
    });

    it('slow-handshake: sends a partial ClientHello and reports the close', async () => {
      let received = Buffer.alloc(0);
      const closing = net.createServer((sock) => {
        sock.on('data', (b: Buffer) => {
          received = Buffer.concat([received, b]);
          setTimeout(() => sock.destroy(), 100);
        });
      });
      servers.push(closing);
      const port = await listen(closing);
      const res = await runGoPeer(['--endpoint', `127.0.0.1:${port}`, '--mode', 'slow-handshake', '--hold', '5s']);
      assert.equal(res.code, 'ClosedByServer');
      assert.equal(typeof res.closedAfterMs, 'number');
      assert.ok(received.length >= 5 && received.length <= 20, `sent ${received.length} bytes`);
      assert.equal(received[0], 0x16, 'TLS handshake record');
    });

    it('slow-handshake: reports StillOpen after --hold', async () => {
      const silent = silentServer();
      servers.push(silent);
      const port = await listen(silent);
      const res = await runGoPeer(['--endpoint', `127.0.0.1:${port}`, '--mode', 'slow-handshake', '--hold', '200ms']);
      assert.deepEqual([res.ok, res.code, res.closedAfterMs], [false, 'StillOpen', null]);
    });

    it('aggregates --count N runs', async () => {
      const probe = net.createServer();
      const port = await listen(probe);
      await close(probe);
      const res = await runGoPeer(['--endpoint', `127.0.0.1:${port}`, '--count', '4', '--parallel', '2']);
      assert.equal(res.ok, false);
      assert.equal(res.count, 4);
      assert.equal(res.failed, 4);
      assert.deepEqual(res.codes, { Unavailable: 4 });
      assert.equal(typeof res.latencyMs?.p99, 'number');
    });
  });
});

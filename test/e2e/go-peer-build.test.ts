/**
 * Checks that the Go aTLS peer builds and that its CLI contract holds (JSON on
 * stdout, exit 2 on usage errors, exit 0 when a connection fails), including the
 * contract of --issuer-command against `joinservice dev` (argv, variant OIDs,
 * failure reporting, and real qemu-vtpm documents from `joinservice issue`).
 * The other end-to-end tests against the join service live in other files and
 * use the same helper.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ErrorCode } from '../../src/shared/errors.js';
import { VARIANTS } from '../../src/shared/variants.js';
import { startDevService, type DevService, type LogLine } from '../helpers/dev-service.js';
import { buildGoPeer, GoPeerError, issuerFlags, joinserviceIssuerFlags, runGoPeer } from '../helpers/go-peer.js';

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

  it('rejects misuse of the join flags with exit 2', async () => {
    const join = ['--endpoint', '127.0.0.1:1', '--rpc', 'join'];
    await expectUsageError([...join, '--csr-key', 'dsa'], 'invalid --csr-key "dsa"');
    await expectUsageError([...join, '--csr-ip', '10.0.0.1,not-an-ip'], 'invalid --csr-ip "not-an-ip"');
    await expectUsageError([...join, '--csr-ip', '10.0.0.256'], 'invalid --csr-ip');
    await expectUsageError([...join, '--principal', 'a', '--no-principals'], 'mutually exclusive');
    // The request-breaking modes need --rpc join.
    await expectUsageError(['--endpoint', '127.0.0.1:1', '--mode', 'csr-pem'], '--mode csr-pem requires --rpc join');
    await expectUsageError(['--endpoint', '127.0.0.1:1', '--rpc', 'rejoin', '--mode', 'bad-host-key'], 'requires --rpc join');
    await expectUsageError([...join, '--mode', 'csr-nonsense'], 'invalid --mode');
  });

  it('rejects misuse of the attestation flags with exit 2', async () => {
    const ep = ['--endpoint', '127.0.0.1:1'];
    const cmd = ['--issuer-command', process.execPath];
    await expectUsageError([...ep, '--variant', 'nonsense'], 'invalid --variant "nonsense"');
    await expectUsageError([...ep, '--variant', 'Qemu-vtpm', ...cmd], 'invalid --variant "Qemu-vtpm"');
    await expectUsageError([...ep, '--variant', 'qemu-vtpm'], '--variant qemu-vtpm requires --issuer-command');
    await expectUsageError([...ep, '--variant', 'azure-sev-snp', '--mode', 'garbage-document'], 'requires --issuer-command');
    await expectUsageError([...ep, '--issuer-arg', 'x'], '--issuer-arg requires --issuer-command');
    for (const mode of ['garbage-document', 'big-document', 'missing-extension', 'other-variant', 'no-client-cert', 'no-sni', 'expired-cert', 'slow-handshake']) {
      await expectUsageError([...ep, ...cmd, '--mode', mode], `--mode ${mode} cannot be used with --issuer-command`);
    }
    await expectUsageError([...ep, ...cmd, '--rpc', 'join', '--mode', 'csr-pem'], 'cannot be used with --issuer-command');
    await expectUsageError([...ep, ...cmd, '--mode', 'nonsense'], 'invalid --mode');
    await expectUsageError([...ep, '--issuer-command', '/nonexistent/atls-issuer'], 'invalid --issuer-command');
    await expectUsageError([...ep, '--issuer-command', 'atls-issuer-not-in-path'], 'invalid --issuer-command');
  });

  it('accepts every atls.md §3 variant with --issuer-command', async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await close(probe);
    for (const { name } of VARIANTS) {
      const res = await runGoPeer(['--endpoint', `127.0.0.1:${port}`, '--timeout', '5s', ...issuerFlags(name, process.execPath)]);
      assert.equal(res.code, 'Unavailable', name);
    }
  });

  describe('--issuer-command against joinservice dev', () => {
    let dummySvc: DevService;
    let vtpmSvc: DevService;
    let dir: string;
    let script: string;
    let argLog: string;

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'atls-peer-issuer-'));
      argLog = path.join(dir, 'argv.jsonl');
      // A throw-away issuer: <log> <behaviour> [extra…] --nonce <hex> --user-data <hex>.
      script = path.join(dir, 'issuer.mjs');
      await writeFile(
        script,
        [
          "import { appendFileSync } from 'node:fs';",
          'const argv = process.argv.slice(2);',
          "appendFileSync(argv[0], JSON.stringify(argv) + '\\n');",
          "const hex = (f) => Buffer.from(argv[argv.lastIndexOf(f) + 1], 'hex').toString('base64');",
          'switch (argv[1]) {',
          "  case 'fail': process.stderr.write('boom\\n'); process.exit(3);",
          "  case 'empty': process.exit(0);",
          "  case 'big': process.stdout.write(Buffer.alloc(1024 * 1024 + 1, 0x41)); break;",
          "  default: process.stdout.write(JSON.stringify({ UserData: hex('--user-data'), Nonce: hex('--nonce') }));",
          '}',
          '',
        ].join('\n'),
      );
      [dummySvc, vtpmSvc] = await Promise.all([startDevService(), startDevService(['--attestation-variant', 'qemu-vtpm'])]);
    });
    after(async () => {
      await Promise.all([dummySvc?.stop(), vtpmSvc?.stop()]);
      await rm(dir, { recursive: true, force: true });
    });

    const issuer = (variant: string, behaviour: string, ...extra: string[]): string[] =>
      issuerFlags(variant, process.execPath, [script, argLog, behaviour, ...extra]);

    /** Runs the peer against svc and returns its result plus the service's aTLS rejection (if any). */
    async function peerAgainst(svc: DevService, args: string[]): Promise<{ res: Awaited<ReturnType<typeof runGoPeer>>; rejection?: LogLine }> {
      const since = svc.logs.length;
      const res = await runGoPeer(['--endpoint', svc.info.endpoint, '--timeout', '30s', ...args]);
      if (res.ok) return { res };
      const rejection = await svc.waitForLog((l) => l.msg === 'aTLS client rejected', { since });
      return { res, rejection };
    }
    const check = (l?: LogLine): unknown => (l?.atls as { check?: string } | undefined)?.check;

    it('runs the command once per handshake with its args, the server nonce and the key hash', async () => {
      await rm(argLog, { force: true });
      const { res } = await peerAgainst(dummySvc, ['--count', '2', ...issuer('dummy', 'ok', 'a b', '')]);
      assert.equal(res.ok, true, JSON.stringify(res));
      const calls = (await readFile(argLog, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as string[]);
      assert.equal(calls.length, 2);
      for (const argv of calls) {
        assert.deepEqual(argv.slice(0, 4), [argLog, 'ok', 'a b', '']);
        assert.equal(argv.length, 8);
        assert.equal(argv[4], '--nonce');
        assert.match(argv[5] ?? '', /^[0-9a-f]{64}$/);
        assert.equal(argv[6], '--user-data');
        assert.match(argv[7] ?? '', /^[0-9a-f]{64}$/);
      }
      assert.notEqual(calls[0]?.[5], calls[1]?.[5], 'fresh server nonce per connection');
      assert.notEqual(calls[0]?.[7], calls[1]?.[7], 'fresh key per handshake');
    });

    it('embeds the document under the --variant OID', async () => {
      for (const { name, oid } of VARIANTS) {
        const { res, rejection } = await peerAgainst(dummySvc, issuer(name, 'ok'));
        if (name === 'dummy') {
          assert.equal(res.ok, true, JSON.stringify(res));
          continue;
        }
        assert.equal(res.ok, false, name);
        assert.equal(check(rejection), ErrorCode.AttestationMissing, JSON.stringify(rejection));
        assert.deepEqual((rejection?.atls as { extensionOids?: string[] }).extensionOids, [oid], name);
      }
    });

    it('wrong-nonce and wrong-key-hash feed the command a wrong nonce / key hash', async () => {
      const nonce = await peerAgainst(dummySvc, ['--mode', 'wrong-nonce', ...issuer('dummy', 'ok')]);
      assert.equal(nonce.res.ok, false);
      assert.equal(check(nonce.rejection), ErrorCode.AttestationNonceMismatch);
      const key = await peerAgainst(dummySvc, ['--mode', 'wrong-key-hash', ...issuer('dummy', 'ok')]);
      assert.equal(key.res.ok, false);
      assert.equal(check(key.rejection), ErrorCode.AttestationUserDataMismatch);
    });

    it('reports a failing command as a handshake error (exit 0)', async () => {
      const ep = ['--endpoint', dummySvc.info.endpoint, '--timeout', '30s'];
      const fail = await runGoPeer([...ep, ...issuer('dummy', 'fail')]);
      assert.deepEqual([fail.ok, fail.code], [false, 'Unavailable']);
      assert.match(fail.handshakeError ?? '', /^issuer command: exit status 3; stderr: boom$/);
      assert.match(fail.message ?? '', /issuer command: exit status 3/);
      const empty = await runGoPeer([...ep, ...issuer('dummy', 'empty')]);
      assert.match(empty.handshakeError ?? '', /^issuer command: wrote no document to stdout$/);
      const big = await runGoPeer([...ep, ...issuer('dummy', 'big')]);
      assert.match(big.handshakeError ?? '', /^issuer command: output exceeds 1048576 bytes/);
    });

    it('qemu-vtpm documents from `joinservice issue` pass the qemu-vtpm validator', async () => {
      const good = await peerAgainst(vtpmSvc, joinserviceIssuerFlags('qemu-vtpm'));
      assert.equal(good.res.ok, true, JSON.stringify(good));
      assert.match(good.res.stateDiskKey ?? '', /^[0-9a-f]{64}$/);
      const join = await peerAgainst(vtpmSvc, ['--rpc', 'join', '--tls-version', '1.2', ...joinserviceIssuerFlags('qemu-vtpm')]);
      assert.equal(join.res.ok, true, JSON.stringify(join));
      assert.equal(join.res.checks?.errors, undefined);

      const nonce = await peerAgainst(vtpmSvc, ['--mode', 'wrong-nonce', ...joinserviceIssuerFlags('qemu-vtpm')]);
      assert.equal(check(nonce.rejection), ErrorCode.AttestationNonceMismatch);
      const key = await peerAgainst(vtpmSvc, ['--mode', 'wrong-key-hash', ...joinserviceIssuerFlags('qemu-vtpm')]);
      assert.equal(check(key.rejection), ErrorCode.AttestationUserDataMismatch);
      // The built-in dummy document, and a dummy document under the qemu-vtpm OID.
      assert.equal(check((await peerAgainst(vtpmSvc, [])).rejection), ErrorCode.AttestationMissing);
      assert.equal(check((await peerAgainst(vtpmSvc, issuer('qemu-vtpm', 'ok'))).rejection), ErrorCode.AttestationMalformed);
    });
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

    it('--rpc join reports the request it built even when the connection fails', async () => {
      const probe = net.createServer();
      const port = await listen(probe);
      await close(probe);
      const endpoint = ['--endpoint', `127.0.0.1:${port}`, '--timeout', '5s', '--rpc', 'join'];

      const def = await runGoPeer(endpoint);
      assert.equal(def.code, 'Unavailable');
      assert.equal(def.nodeName, 'worker-0');
      assert.deepEqual(def.principalsSent, ['10.9.0.5', 'worker-0']);
      const ecKey = createPublicKey({ key: Buffer.from(def.csrPublicKeySpkiHex ?? '', 'hex'), format: 'der', type: 'spki' });
      assert.equal(ecKey.asymmetricKeyType, 'ec');
      assert.equal(ecKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      // SSH wire format: string "ssh-ed25519", string <32-byte key>.
      const m = /^ssh-ed25519 ([A-Za-z0-9+/]+={0,2})$/.exec(def.hostPublicKeyLine ?? '');
      assert.ok(m, def.hostPublicKeyLine);
      const wire = Buffer.from(m[1] ?? '', 'base64');
      assert.equal(wire.length, 4 + 11 + 4 + 32);
      assert.equal(wire.readUInt32BE(0), 11);
      assert.equal(wire.subarray(4, 15).toString(), 'ssh-ed25519');
      assert.equal(wire.readUInt32BE(15), 32);
      assert.equal(def.stateDiskKey, undefined, 'no ticket fields on failure');
      assert.equal(def.checks, undefined);

      const custom = await runGoPeer([
        ...endpoint,
        ...['--node-name', 'n1', '--csr-ip', '10.0.0.1,fe80::1', '--csr-ip', '192.168.0.7', '--csr-key', 'ed25519'],
      ]);
      assert.deepEqual(custom.principalsSent, ['10.0.0.1', 'fe80::1', '192.168.0.7', 'n1']);
      assert.equal(custom.nodeName, 'n1');
      const edKey = createPublicKey({ key: Buffer.from(custom.csrPublicKeySpkiHex ?? '', 'hex'), format: 'der', type: 'spki' });
      assert.equal(edKey.asymmetricKeyType, 'ed25519');
      assert.notEqual(custom.hostPublicKeyLine, def.hostPublicKeyLine, 'fresh host key per run');

      const rsa = await runGoPeer([...endpoint, '--csr-key', 'rsa', '--principal', 'p1', '--principal', 'a,b', '--csr-ip', '']);
      assert.deepEqual(rsa.principalsSent, ['p1', 'a,b'], '--principal is not split at commas');
      const rsaKey = createPublicKey({ key: Buffer.from(rsa.csrPublicKeySpkiHex ?? '', 'hex'), format: 'der', type: 'spki' });
      assert.equal(rsaKey.asymmetricKeyType, 'rsa');
      assert.equal(rsaKey.asymmetricKeyDetails?.modulusLength, 2048);

      assert.deepEqual((await runGoPeer([...endpoint, '--csr-ip', ''])).principalsSent, ['worker-0']);
      assert.deepEqual((await runGoPeer([...endpoint, '--no-principals'])).principalsSent, []);
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

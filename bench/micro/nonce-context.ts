/**
 * Micro-benchmark: the synchronous main-thread work the aTLS server does per
 * ClientHello to get the server nonce into the CertificateRequest, in both
 * `--nonce-ca` modes:
 *
 * - context: SNICallback builds a nonce certificate and a SecureContext
 *   holding it (timed directly, next to OpenSSL's bare cost of a SecureContext);
 * - native: the OpenSSL ClientHello callback of the addon (native/nonce_ca.c)
 *   calls the listener's JS (SNI check + NonceStore) and sets the CA list on
 *   the SSL; timed inside the callback over real loopback handshakes.
 *
 * Then whole handshakes against an AtlsServer in each mode (clients in a child
 * process, so only the server is measured): main-thread busy time (event-loop
 * utilization) and process CPU per handshake. The clients send no certificate,
 * so every connection ends at the precheck (no pool task).
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/nonce-context.js [iterations] [handshakes]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { AtlsServer } from '../../src/main/atls/atls-server.js';
import { CONTEXT_OPTIONS } from '../../src/main/atls/listener-options.js';
import type { NonceCaMode } from '../../src/main/atls/nonce-ca.js';
import { ServerIdentity } from '../../src/main/atls/server-identity.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { WorkerPool } from '../../src/main/pool/worker-pool.js';

const CLIENT_PARALLEL = 4;

if (process.argv[2] === '--client') {
  await runClients(Number(process.argv[3]), Number(process.argv[4]), process.argv[5] as 'TLSv1.2' | 'TLSv1.3');
} else {
  await main(Number(process.argv[2] ?? 2000), Number(process.argv[3] ?? 2000));
}

function measure(name: string, iterations: number, fn: () => unknown): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - start) * 1000) / iterations;
  console.log(`${name.padEnd(58)} ${us.toFixed(1).padStart(7)} µs/op`);
  return us;
}

async function main(iterations: number, handshakes: number): Promise<void> {
  const identity = new ServerIdentity();
  const base: tls.SecureContextOptions = CONTEXT_OPTIONS;
  console.log(`Node ${process.version}, OpenSSL ${process.versions.openssl}`);
  console.log('\nper ClientHello, context mode (direct calls)');
  const empty = measure('tls.createSecureContext({}) (OpenSSL floor)', iterations, () => tls.createSecureContext({}));
  measure('nonce certificate (template + ECDSA sign)', iterations, () => identity.nonceCertificate(randomBytes(32)));
  const full = measure('whole per-ClientHello nonce context', iterations, () => identity.nonceContext(randomBytes(32), base));
  console.log(`per-ClientHello work / bare SecureContext: ${(full / empty).toFixed(2)}x`);

  console.log(`\nwhole handshakes against an AtlsServer (${handshakes} per run, TLS 1.3 unless noted, ${CLIENT_PARALLEL} parallel clients in a child process)`);
  const results: Record<string, { elu: number; cpu: number; callback?: number }> = {};
  for (const [mode, version] of [
    ['context', 'TLSv1.3'],
    ['native', 'TLSv1.3'],
    ['context', 'TLSv1.2'],
    ['native', 'TLSv1.2'],
  ] as const) {
    const r = await handshakeRun(mode, version, handshakes);
    results[`${mode} ${version}`] = r;
    console.log(
      `${`${mode.padEnd(8)} ${version}`.padEnd(20)} main thread busy ${r.elu.toFixed(0).padStart(5)} µs/handshake, process CPU ${r.cpu.toFixed(0).padStart(5)} µs/handshake` +
        (r.callback !== undefined ? `, in the ClientHello callback ${r.callback.toFixed(1)} µs` : ''),
    );
  }
  const saved = results['context TLSv1.3']!.elu - results['native TLSv1.3']!.elu;
  console.log(`\nnative saves ${saved.toFixed(0)} µs of main thread per TLS 1.3 handshake`);
}

async function handshakeRun(mode: NonceCaMode, version: 'TLSv1.2' | 'TLSv1.3', n: number): Promise<{ elu: number; cpu: number; callback?: number }> {
  const pool = new WorkerPool({ workers: 0, maxQueue: 0, timeoutMs: 1000, inlineRunner: () => Promise.reject(new Error('not reached')) });
  await pool.start();
  let done = 0;
  let resolveDone: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (resolveDone = r));
  const count = () => {
    if (++done === n) resolveDone();
  };
  const atls = new AtlsServer({
    host: '127.0.0.1',
    port: 0,
    variant: 'dummy',
    currentConfig: () => ({ generation: 1, text: '{}' }),
    pool,
    log: silentLogger(),
    handshakeTimeoutMs: 10_000,
    maxPendingHandshakes: 1024,
    maxCertListBytes: 256 * 1024,
    nonceCa: mode,
    onAttested: () => undefined,
    onHandshakeOutcome: count,
  });
  const { port } = await atls.listen();
  // Warm-up run (JIT, OpenSSL caches), then the measured one.
  const warm = Math.min(200, n);
  done = n - warm;
  await Promise.all([runClientProcess(port, warm, version), allDone]);
  done = 0;
  const measured = new Promise<void>((r) => (resolveDone = r));
  const before = atls.nativeNonceCaStats();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  await Promise.all([runClientProcess(port, n, version), measured]);
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const after = atls.nativeNonceCaStats();
  await atls.close();
  await pool.close();
  const out: { elu: number; cpu: number; callback?: number } = { elu: (elu.active * 1000) / n, cpu: (cpu.user + cpu.system) / n };
  if (before && after) out.callback = (after.nanos - before.nanos) / 1000 / (after.clientHellos - before.clientHellos);
  return out;
}

function runClientProcess(port: number, n: number, version: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', String(port), String(n), version], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`client process exit ${String(code)}`))));
  });
}

/** n connections with a fresh Go-style SNI each, CLIENT_PARALLEL at a time; no client certificate. */
async function runClients(port: number, n: number, version: 'TLSv1.2' | 'TLSv1.3'): Promise<void> {
  let started = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const c = tls.connect({
        port,
        host: '127.0.0.1',
        servername: randomBytes(32).toString('base64'),
        minVersion: version,
        maxVersion: version,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
      });
      c.on('data', () => undefined);
      c.on('error', () => undefined);
      c.once('close', () => resolve());
    });
  await Promise.all(
    Array.from({ length: CLIENT_PARALLEL }, async () => {
      while (started < n) {
        started++;
        await one();
      }
    }),
  );
}

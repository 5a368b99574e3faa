/**
 * Micro-benchmark: the synchronous main-thread work the aTLS server does per
 * ClientHello (SNICallback): the nonce certificate and the SecureContext
 * holding it, next to OpenSSL's bare cost of a SecureContext.
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/nonce-context.js [iterations]
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import { ServerIdentity } from '../../src/main/atls/server-identity.js';

const iterations = Number(process.argv[2] ?? 2000);
const identity = new ServerIdentity();
const base: tls.SecureContextOptions = { minVersion: 'TLSv1.2' };

function measure(name: string, fn: () => unknown): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - start) * 1000) / iterations;
  console.log(`${name.padEnd(44)} ${us.toFixed(1).padStart(7)} µs/op`);
  return us;
}

const empty = measure('tls.createSecureContext({}) (OpenSSL floor)', () => tls.createSecureContext({}));
measure('nonce certificate (template + ECDSA sign)', () => identity.nonceCertificate(randomBytes(32)));
const full = measure('whole per-ClientHello nonce context', () => identity.nonceContext(randomBytes(32), base));
console.log(`per-ClientHello work / bare SecureContext: ${(full / empty).toFixed(2)}x`);

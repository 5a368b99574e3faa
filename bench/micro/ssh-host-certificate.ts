/**
 * Micro-benchmark: IssueJoinTicket Steps 3, 5 and 6 on the main thread (CA
 * from the KMS seed, host key parsing, host certificate issuance) next to the
 * bare cost of one Ed25519 signature over a certificate-sized message.
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/ssh-host-certificate.js [iterations]
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { signHostCertificate } from '../../src/main/ssh/host-certificate.js';
import { parseSshPublicKey } from '../../src/main/ssh/host-public-key.js';
import { sshCaFromSeed } from '../../src/main/ssh/ssh-ca.js';

const iterations = Number(process.argv[2] ?? 20000);

function measure(name: string, fn: () => unknown, n = iterations): number {
  for (let i = 0; i < Math.min(500, n); i++) fn();
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  const us = ((performance.now() - start) * 1000) / n;
  console.log(`${name.padEnd(52)} ${us.toFixed(1).padStart(7)} µs/op`);
  return us;
}

function sshString(b: Uint8Array | string): Buffer {
  const v = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(v.length);
  return Buffer.concat([len, v]);
}

const seed = randomBytes(32);
const caKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
const hostPub = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
const hostKeyWire = Buffer.concat([sshString('ssh-ed25519'), sshString(hostPub)]);
const principals = ['10.9.0.5', 'fe80::1', 'my-node', '*', '34.8.0.20'];
const ca = sshCaFromSeed(seed);
const hostKey = parseSshPublicKey(hostKeyWire);
const certificateSize = signHostCertificate({ ca, hostKey, principals, now: new Date() }).blob.length;
const message = randomBytes(certificateSize - 87); // the signed part: the blob without its signature field

const bare = measure(`bare Ed25519 sign (${message.length} bytes)`, () => sign(null, message, caKey));
measure('sshCaFromSeed, cached (SHA-256 of the seed + lookup)', () => sshCaFromSeed(seed));
measure('sshCaFromSeed, new seed (createPrivateKey + public key)', () => sshCaFromSeed(randomBytes(32)), Math.min(iterations, 5000));
measure('parseSshPublicKey (ssh-ed25519)', () => parseSshPublicKey(hostKeyWire));
const cert = measure('signHostCertificate (Ed25519 host key, 5 principals)', () => signHostCertificate({ ca, hostKey, principals, now: new Date() }));
const whole = measure('Steps 3+5+6 + both response lines', () => {
  const c = sshCaFromSeed(seed);
  const k = parseSshPublicKey(hostKeyWire);
  const h = signHostCertificate({ ca: c, hostKey: k, principals, now: new Date() });
  return [c.authorizedKeyLine(), h.line];
});
console.log(`certificate issuance / bare Ed25519 sign: ${(cert / bare).toFixed(2)}x; Steps 3+5+6 / bare sign: ${(whole / bare).toFixed(2)}x`);

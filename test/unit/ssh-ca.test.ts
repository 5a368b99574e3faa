import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { sshCaFromSeed } from '../../src/main/ssh/ssh-ca.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { fingerprint, NO_SSH_KEYGEN, openSshEd25519PrivateKey, sshKeygen, sshKeygenAvailable, str, TempDir, wire } from './ssh-support.js';

// join-protocol.md §4 Step 3 examples.
const ZERO_SEED_PUBLIC_KEY = '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29';
const ZERO_SEED_LINE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop\n';
const HKDF_SEED = '9e713c43390b642211dac2251376b4ac901635b197ccd2288393cc61bb73e127';
const HKDF_LINE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILE28oPYuVPpSFCkQFBaHzG74KcxsOfw9syObfxXqPkz\n';

function verifyEd25519(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]);
  return verify(null, data, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature);
}

test('seed = 32 zero bytes: the spec public key and authorized_keys line', () => {
  const ca = sshCaFromSeed(Buffer.alloc(32));
  assert.equal(Buffer.from(ca.publicKey).toString('hex'), ZERO_SEED_PUBLIC_KEY);
  assert.equal(ca.authorizedKeyLine(), ZERO_SEED_LINE);
  assert.deepEqual(Buffer.from(ca.publicKeyBlob), wire(str('ssh-ed25519'), str(Buffer.from(ZERO_SEED_PUBLIC_KEY, 'hex'))));
});

test('master secret = salt = 32 zero bytes: HKDF seed and CA line of the spec', () => {
  const seed = deriveDataKey(Buffer.alloc(32), Buffer.alloc(32), 'ca_emergency_ssh', 32);
  assert.equal(seed.toString('hex'), HKDF_SEED);
  assert.equal(sshCaFromSeed(seed).authorizedKeyLine(), HKDF_LINE);
});

test('RFC 8032 §7.1 test 1: seed → public key', () => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  assert.equal(Buffer.from(sshCaFromSeed(seed).publicKey).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
});

test('short seeds fail like Go io.ReadFull: EOF for none, unexpected EOF for 1..31 bytes', () => {
  assert.throws(() => sshCaFromSeed(new Uint8Array(0)), { code: ErrorCode.SshCaSeedInvalid, message: 'EOF' });
  for (const n of [1, 16, 31]) {
    assert.throws(() => sshCaFromSeed(new Uint8Array(n)), { code: ErrorCode.SshCaSeedInvalid, message: 'unexpected EOF' }, `length ${n}`);
  }
});

test('only the first 32 bytes of the seed material are used', () => {
  const seed = randomBytes(32);
  const longer = Buffer.concat([seed, randomBytes(32)]);
  assert.equal(sshCaFromSeed(longer).authorizedKeyLine(), sshCaFromSeed(seed).authorizedKeyLine());
});

test('the CA is cached per seed value (not per buffer) and does not alias the caller buffer', () => {
  const seed = randomBytes(32);
  const a = sshCaFromSeed(seed);
  const b = sshCaFromSeed(Buffer.from(seed));
  assert.equal(a, b);
  const other = sshCaFromSeed(randomBytes(32));
  assert.notEqual(other, a);
  const line = a.authorizedKeyLine();
  seed.fill(0);
  assert.equal(a.authorizedKeyLine(), line);
  assert.equal(sshCaFromSeed(Buffer.alloc(32)).authorizedKeyLine(), ZERO_SEED_LINE);
  // Many distinct seeds (bounded cache) still give correct, independent CAs.
  for (let i = 0; i < 10; i++) sshCaFromSeed(randomBytes(32));
  assert.equal(sshCaFromSeed(Buffer.alloc(32)).authorizedKeyLine(), ZERO_SEED_LINE);
});

test('sign() produces Ed25519 signatures that verify under the CA public key', () => {
  const ca = sshCaFromSeed(randomBytes(32));
  const data = randomBytes(300);
  const sig = ca.sign(data);
  assert.equal(sig.length, 64);
  assert.ok(verifyEd25519(ca.publicKey, data, sig));
  assert.ok(!verifyEd25519(ca.publicKey, Buffer.concat([data, Buffer.from([0])]), sig));
});

test('ssh-keygen agrees: fingerprint of the CA line, and the public key of the same seed as an OpenSSH private key', { skip: !sshKeygenAvailable() && NO_SSH_KEYGEN }, (t) => {
  const tmp = new TempDir();
  t.after(() => tmp.remove());
  const seed = deriveDataKey(Buffer.alloc(32), Buffer.alloc(32), 'ca_emergency_ssh', 32);
  const ca = sshCaFromSeed(seed);
  const pub = tmp.write('ca.pub', ca.authorizedKeyLine());
  const listing = sshKeygen(['-l', '-f', pub]).stdout.trim();
  assert.equal(listing, `256 ${fingerprint(ca.publicKeyBlob)} no comment (ED25519)`);
  const priv = tmp.write('ca', openSshEd25519PrivateKey(seed));
  assert.equal(sshKeygen(['-y', '-f', priv]).stdout.trim().split(' ').slice(0, 2).join(' '), ca.authorizedKeyLine().trim());
});

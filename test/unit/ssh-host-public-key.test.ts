import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { CERTIFICATE_TYPE, parseSshPublicKey, SSH_KEY_TYPES, type SshPublicKey } from '../../src/main/ssh/host-public-key.js';
import { ErrorCode } from '../../src/shared/errors.js';
import {
  b64url,
  fingerprint,
  generateWithSshKeygen,
  mpint,
  NO_SSH_KEYGEN,
  nodeKeyToWire,
  sshKeygen,
  sshKeygenAvailable,
  sshPubToKeyObject,
  str,
  TempDir,
  u32,
  wire,
  withoutType,
} from './ssh-support.js';

const hasKeygen = sshKeygenAvailable();

function rejects(input: Uint8Array, message: string, what = message): void {
  assert.throws(() => parseSshPublicKey(input), { code: ErrorCode.SshHostKeyInvalid, message }, what);
}

function p256Point(): Buffer {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
}

function ed25519Key(): Buffer {
  return b64url(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x);
}

function assertCommon(k: SshPublicKey, blob: Buffer, type: string): void {
  assert.equal(k.type, type);
  assert.deepEqual(Buffer.from(k.blob), blob);
  assert.deepEqual(Buffer.from(k.keyData), withoutType(blob), `${type}: type-specific part copied exactly`);
  assert.equal(k.certificateType, CERTIFICATE_TYPE[k.type]);
}

test('certificate type names per key type (PROTOCOL.certkeys)', () => {
  assert.deepEqual(
    SSH_KEY_TYPES.map((t) => CERTIFICATE_TYPE[t]),
    [
      'ssh-rsa-cert-v01@openssh.com',
      'ssh-dss-cert-v01@openssh.com',
      'ecdsa-sha2-nistp256-cert-v01@openssh.com',
      'ecdsa-sha2-nistp384-cert-v01@openssh.com',
      'ecdsa-sha2-nistp521-cert-v01@openssh.com',
      'ssh-ed25519-cert-v01@openssh.com',
      'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
      'sk-ssh-ed25519-cert-v01@openssh.com',
    ],
  );
});

test('keys made by ssh-keygen: every type parses, fields match the key', { skip: !hasKeygen && NO_SSH_KEYGEN }, (t) => {
  const tmp = new TempDir();
  t.after(() => tmp.remove());
  const cases: { type: string; bits?: number; sshType: string }[] = [
    { type: 'rsa', bits: 2048, sshType: 'ssh-rsa' },
    { type: 'dsa', sshType: 'ssh-dss' },
    { type: 'ecdsa', bits: 256, sshType: 'ecdsa-sha2-nistp256' },
    { type: 'ecdsa', bits: 384, sshType: 'ecdsa-sha2-nistp384' },
    { type: 'ecdsa', bits: 521, sshType: 'ecdsa-sha2-nistp521' },
    { type: 'ed25519', sshType: 'ssh-ed25519' },
  ];
  let dsaDone = false;
  for (const [i, c] of cases.entries()) {
    const key = generateWithSshKeygen(tmp, `k${i}`, c.type, c.bits);
    if (key === undefined) {
      assert.equal(c.type, 'dsa', `ssh-keygen cannot generate ${c.type}`); // OpenSSH ≥ 10 dropped DSA
      continue;
    }
    const k = parseSshPublicKey(key.blob);
    assertCommon(k, key.blob, c.sshType);
    // ssh-keygen -e -m PKCS8 converts RSA, DSA and ECDSA keys (not Ed25519).
    const jwk = c.type === 'dsa' || c.type === 'ed25519' ? undefined : sshPubToKeyObject(key.pubPath).export({ format: 'jwk' });
    switch (k.type) {
      case 'ssh-rsa':
        assert.deepEqual(Buffer.from(k.e), b64url(jwk!.e));
        assert.deepEqual(Buffer.from(k.n), b64url(jwk!.n));
        assert.equal(k.n.length * 8, c.bits);
        break;
      case 'ssh-dss': {
        const details = sshPubToKeyObject(key.pubPath).asymmetricKeyDetails!;
        assert.equal(k.p.length * 8, details.modulusLength);
        assert.equal(k.q.length * 8, details.divisorLength);
        dsaDone = true;
        break;
      }
      case 'ecdsa-sha2-nistp256':
      case 'ecdsa-sha2-nistp384':
      case 'ecdsa-sha2-nistp521':
        assert.equal(k.curve, `nistp${c.bits}`);
        assert.deepEqual(Buffer.from(k.point), Buffer.concat([Buffer.from([4]), b64url(jwk!.x), b64url(jwk!.y)]));
        break;
      case 'ssh-ed25519':
        assert.deepEqual(Buffer.from(k.key), key.blob.subarray(key.blob.length - 32));
        break;
      default:
        assert.fail(k.type);
    }
  }
  t.diagnostic(dsaDone ? 'DSA key from ssh-keygen parsed' : 'this ssh-keygen has no DSA (OpenSSH >= 10)');
});

test('keys made by node:crypto: RSA, ECDSA P-256/384/521, Ed25519', () => {
  const keys = [
    generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 3 }).publicKey,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
    generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
    generateKeyPairSync('ed25519').publicKey,
  ];
  for (const pk of keys) {
    const blob = nodeKeyToWire(pk);
    const k = parseSshPublicKey(blob);
    const expected = { rsa: 'ssh-rsa', ed25519: 'ssh-ed25519' }[pk.asymmetricKeyType as string] ?? `ecdsa-sha2-${k.type.slice(-8)}`;
    assertCommon(k, blob, expected);
  }
});

test('DSA: the size gate of Go (p must have exactly 1024 bits), range checks, field framing', () => {
  // Synthetic blobs: only the size of p is checked (Go's checkDSAParams).
  const p = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(127, 1)]); // 1024 bits
  const blob = wire(str('ssh-dss'), mpint(p), mpint(Buffer.alloc(20, 7)), mpint(Buffer.from([2])), mpint(Buffer.alloc(127, 3)));
  assertCommon(parseSshPublicKey(blob), blob, 'ssh-dss');
  const p2048 = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(255, 1)]);
  rejects(wire(str('ssh-dss'), mpint(p2048), mpint(Buffer.alloc(32, 7)), mpint(Buffer.from([2])), mpint(Buffer.alloc(255, 3))), 'ssh: unsupported DSA key size 2048');
  const p1000 = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(124, 1)]); // 1000 bits
  rejects(wire(str('ssh-dss'), mpint(p1000), mpint(Buffer.alloc(20, 7)), mpint(Buffer.from([2])), mpint(Buffer.alloc(125, 3))), 'ssh: unsupported DSA key size 1000');
  rejects(wire(str('ssh-dss'), mpint(p), mpint(Buffer.alloc(32, 7)), mpint(Buffer.from([2]))), 'ssh: short read', 'DSA without y');
  rejects(wire(str('ssh-dss')), 'ssh: parse error in message type 0');
  const q = mpint(Buffer.alloc(20, 7));
  const y = mpint(Buffer.alloc(127, 3));
  const neg = (len: number) => str(Buffer.concat([Buffer.from([0xff]), Buffer.alloc(len - 1, 0)]));
  rejects(wire(str('ssh-dss'), mpint(p), q, mpint(Buffer.concat([p, Buffer.from([0])])), y), 'ssh: DSA generator larger than modulus');
  rejects(wire(str('ssh-dss'), mpint(p), q, mpint(p), y), 'ssh: DSA generator larger than modulus', 'g = p');
  rejects(wire(str('ssh-dss'), mpint(p), q, str(new Uint8Array(0)), y), 'ssh: DSA generator must be positive', 'g = 0');
  rejects(wire(str('ssh-dss'), mpint(p), q, neg(2), y), 'ssh: DSA generator must be positive', 'g < 0');
  rejects(wire(str('ssh-dss'), mpint(p), q, mpint(Buffer.from([2])), str(new Uint8Array(0))), 'ssh: DSA public value Y out of range', 'y = 0');
  rejects(wire(str('ssh-dss'), mpint(p), q, mpint(Buffer.from([2])), mpint(p)), 'ssh: DSA public value Y out of range', 'y = p');
  rejects(wire(str('ssh-dss'), mpint(p), q, mpint(Buffer.from([2])), neg(3)), 'ssh: DSA public value Y out of range', 'y < 0');
  rejects(wire(str('ssh-dss'), mpint(p), neg(20), mpint(Buffer.from([2])), y), 'ssh: negative DSA sub-prime');
  rejects(wire(str('ssh-dss'), str(Buffer.concat([Buffer.from([0x80]), Buffer.alloc(127, 0)])), q, mpint(Buffer.from([2])), y), 'ssh: negative DSA modulus', 'p = -2^1023 (|p| has 1024 bits)');
  rejects(wire(str('ssh-dss'), mpint(p), q, mpint(Buffer.from([2])), y, Buffer.from([0])), 'ssh: trailing junk in public key');
});

test('security-key types: sk-ecdsa-sha2-nistp256 and sk-ssh-ed25519 with their application string', (t) => {
  const point = p256Point();
  const skEcdsa = wire(str('sk-ecdsa-sha2-nistp256@openssh.com'), str('nistp256'), str(point), str('ssh:'));
  const k1 = parseSshPublicKey(skEcdsa);
  assertCommon(k1, skEcdsa, 'sk-ecdsa-sha2-nistp256@openssh.com');
  assert.ok(k1.type === 'sk-ecdsa-sha2-nistp256@openssh.com' && Buffer.from(k1.application).toString() === 'ssh:' && k1.curve === 'nistp256');

  const key = ed25519Key();
  const skEd = wire(str('sk-ssh-ed25519@openssh.com'), str(key), str('ssh:my-app'));
  const k2 = parseSshPublicKey(skEd);
  assertCommon(k2, skEd, 'sk-ssh-ed25519@openssh.com');
  assert.ok(k2.type === 'sk-ssh-ed25519@openssh.com' && Buffer.from(k2.application).toString() === 'ssh:my-app');
  assert.deepEqual(Buffer.from(k2.key), key);

  if (hasKeygen) {
    // OpenSSH reads the same blobs (same fingerprint).
    const tmp = new TempDir();
    t.after(() => tmp.remove());
    for (const [name, blob, label] of [
      ['ecdsa-sk.pub', skEcdsa, 'ECDSA-SK'],
      ['ed25519-sk.pub', skEd, 'ED25519-SK'],
    ] as const) {
      const f = tmp.write(name, `${new TextDecoder().decode(blob.subarray(4, 4 + blob.readUInt32BE(0)))} ${blob.toString('base64')}\n`);
      assert.match(sshKeygen(['-l', '-f', f]).stdout, new RegExp(`^256 ${fingerprint(blob).replace(/[+/]/g, '\\$&')} no comment \\(${label}\\)`));
    }
  }
});

test('non-minimal mpints are accepted and re-encoded minimally, as Go does', () => {
  const n = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }).n!;
  const nBytes = b64url(n);
  const padded = wire(str('ssh-rsa'), str(Buffer.from([0, 0, 1, 0, 1])), str(Buffer.concat([Buffer.alloc(3), nBytes])));
  const k = parseSshPublicKey(padded);
  assert.deepEqual(Buffer.from(k.blob), padded);
  assert.deepEqual(Buffer.from(k.keyData), wire(mpint(Buffer.from([1, 0, 1])), mpint(nBytes)));
  assert.ok(k.type === 'ssh-rsa' && Buffer.from(k.e).equals(Buffer.from([1, 0, 1])));
});

test('the parsed key does not alias the caller buffer', () => {
  const key = ed25519Key();
  const blob = wire(str('ssh-ed25519'), str(key));
  const k = parseSshPublicKey(blob);
  blob.fill(0);
  assert.ok(k.type === 'ssh-ed25519');
  assert.deepEqual(Buffer.from(k.key), key);
  assert.deepEqual(Buffer.from(k.keyData), str(key));
});

test('framing errors: Go x/crypto/ssh texts', () => {
  const key = ed25519Key();
  rejects(new Uint8Array(0), 'ssh: short read', 'empty');
  rejects(Buffer.from([0, 0, 0]), 'ssh: short read', 'short length');
  rejects(Buffer.from([0, 0, 0, 11, 0x73, 0x73, 0x68]), 'ssh: short read', 'truncated type string');
  rejects(str('ssh-ed25519'), 'ssh: parse error in message type 0', 'type only');
  rejects(wire(str('ssh-ed25519'), Buffer.from([0, 0])), 'ssh: short read', 'key length truncated');
  rejects(wire(str('ssh-ed25519'), u32(32), key.subarray(0, 31)), 'ssh: short read', 'key bytes truncated');
  rejects(wire(str('ssh-ed25519'), str(key), Buffer.from([0])), 'ssh: trailing junk in public key', 'one trailing byte');
  rejects(wire(str('ssh-ed25519'), str(key), str('comment')), 'ssh: trailing junk in public key', 'trailing string');
  rejects(wire(str('ssh-ed25519'), str(key.subarray(0, 31))), 'invalid size 31 for Ed25519 public key');
  rejects(wire(str('ssh-ed25519'), str(Buffer.concat([key, Buffer.from([0])]))), 'invalid size 33 for Ed25519 public key');
  rejects(wire(str('sk-ssh-ed25519@openssh.com'), str(key)), 'ssh: unmarshal error for field Application of type ', 'sk-ed25519 without application');
  rejects(wire(str('sk-ssh-ed25519@openssh.com'), str(key.subarray(1)), str('ssh:')), 'invalid size 31 for Ed25519 public key');
  rejects(wire(str('sk-ssh-ed25519@openssh.com'), str(key), str('ssh:'), Buffer.from([1])), 'ssh: trailing junk in public key');
});

test('unknown, signature-only and certificate types are refused', () => {
  const key = ed25519Key();
  rejects(wire(str('foo'), str(key)), 'ssh: unknown key algorithm: foo');
  rejects(wire(str(''), str(key)), 'ssh: unknown key algorithm: ');
  rejects(wire(str('SSH-ED25519'), str(key)), 'ssh: unknown key algorithm: SSH-ED25519');
  rejects(wire(str('ssh-ed448'), str(key)), 'ssh: unknown key algorithm: ssh-ed448');
  rejects(
    wire(str('rsa-sha2-256'), mpint(Buffer.from([1, 0, 1])), mpint(Buffer.alloc(128, 0xcc))),
    'ssh: signature algorithm "rsa-sha2-256" isn\'t a key format; key is malformed and should be re-encoded with type "ssh-rsa"',
  );
  rejects(
    wire(str('rsa-sha2-512-cert-v01@openssh.com'), str(key)),
    'ssh: signature algorithm "rsa-sha2-512-cert-v01@openssh.com" isn\'t a key format; key is malformed and should be re-encoded with type "ssh-rsa-cert-v01@openssh.com"',
  );
  for (const certType of Object.values(CERTIFICATE_TYPE)) {
    rejects(wire(str(certType), str(Buffer.alloc(32)), str(key)), `ssh: ${certType} is a certificate; a plain public key is required`);
  }
});

test('RSA: exponent checks of Go, negative modulus refused', () => {
  const n = mpint(Buffer.alloc(256, 0xab));
  rejects(wire(str('ssh-rsa')), 'ssh: parse error in message type 0');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1]))), 'ssh: short read', 'no modulus');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 0])), n), 'ssh: incorrect exponent', 'even exponent');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1])), n), 'ssh: incorrect exponent', 'e = 1');
  rejects(wire(str('ssh-rsa'), str(new Uint8Array(0)), n), 'ssh: incorrect exponent', 'e = 0');
  rejects(wire(str('ssh-rsa'), str(Buffer.from([0xff, 0xfd])), n), 'ssh: incorrect exponent', 'e = -3');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 0, 1])), n), 'ssh: exponent too large', 'e = 2^24 + 1');
  rejects(wire(str('ssh-rsa'), str(Buffer.from([0x80, 0, 0, 1])), n), 'ssh: exponent too large', 'negative, 32 bits');
  // 2^24 - 1 = 0xffffff is odd and 24 bits: accepted.
  assert.equal(parseSshPublicKey(wire(str('ssh-rsa'), mpint(Buffer.from([0xff, 0xff, 0xff])), n)).type, 'ssh-rsa');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), str(Buffer.from([0x80, 1]))), 'ssh: negative RSA modulus');
  // 16384 bits (OpenSSH's maximum) is accepted, one more bit is not.
  const n16384 = Buffer.alloc(2048, 0xff);
  assert.equal(parseSshPublicKey(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), mpint(n16384))).type, 'ssh-rsa');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), mpint(Buffer.concat([Buffer.from([1]), n16384]))), 'ssh: rsa modulus too large');
  // v0.43's exponent checks come first.
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([2])), mpint(Buffer.concat([Buffer.from([1]), n16384]))), 'ssh: incorrect exponent');
  rejects(wire(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), n, Buffer.from([0, 0, 0, 0])), 'ssh: trailing junk in public key');
});

test('ECDSA: curve name and point checks', () => {
  const point = p256Point();
  const p384 = nodeKeyToWire(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
  const p384Point = withoutType(p384).subarray(4 + 4 + 8 + 4);
  rejects(wire(str('ecdsa-sha2-nistp256')), 'ssh: parse error in message type 0');
  rejects(wire(str('ecdsa-sha2-nistp256'), Buffer.from([0, 0])), 'ssh: unmarshal error for field Curve of type ', 'curve string cut');
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256')), 'ssh: short read', 'no point');
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp999'), str(point)), 'ssh: unsupported curve');
  rejects(wire(str('ecdsa-sha2-nistp256'), str('secp256r1'), str(point)), 'ssh: unsupported curve');
  rejects(
    wire(str('ecdsa-sha2-nistp256'), str('nistp384'), str(p384Point)),
    'ssh: algorithm type mismatch: expected "ecdsa-sha2-nistp256", found curve "nistp384" (type "ecdsa-sha2-nistp384")',
    'curve/type mismatch (accepted by x/crypto v0.43, refused by newer x/crypto and here)',
  );
  rejects(wire(str('ecdsa-sha2-nistp384'), str('nistp384'), str(point)), 'ssh: invalid curve point', 'P-256 point on P-384');
  const offCurve = Buffer.from(point);
  offCurve[64]! ^= 1;
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256'), str(offCurve)), 'ssh: invalid curve point', 'not on the curve');
  const compressed = Buffer.concat([Buffer.from([2 + (point[64]! & 1)]), point.subarray(1, 33)]);
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256'), str(compressed)), 'ssh: invalid curve point', 'compressed form');
  const badPrefix = Buffer.from(point);
  badPrefix[0] = 6;
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256'), str(badPrefix)), 'ssh: invalid curve point', 'hybrid prefix');
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256'), str(Buffer.from([0]))), 'ssh: invalid curve point', 'infinity');
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256'), str(point.subarray(0, 64))), 'ssh: invalid curve point', 'short point');
  rejects(wire(str('ecdsa-sha2-nistp256'), str('nistp256'), str(point), Buffer.from([9])), 'ssh: trailing junk in public key');
  // P-521: coordinates >= p (p = 2^521 - 1 leaves room in 66 bytes) are not canonical.
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey.export({ format: 'jwk' });
  const x = BigInt('0x' + b64url(jwk.x).toString('hex')) + (2n ** 521n - 1n);
  const bigX = Buffer.from(x.toString(16).padStart(132, '0'), 'hex');
  rejects(wire(str('ecdsa-sha2-nistp521'), str('nistp521'), str(Buffer.concat([Buffer.from([4]), bigX, b64url(jwk.y)]))), 'ssh: invalid curve point', 'x >= p');
  // sk-ecdsa: the order of Go's checks (all fields first, then curve, then point).
  rejects(wire(str('sk-ecdsa-sha2-nistp256@openssh.com'), str('nistp256'), str(point)), 'ssh: unmarshal error for field Application of type ');
  rejects(wire(str('sk-ecdsa-sha2-nistp256@openssh.com'), str('nistp384'), str(p384Point), str('ssh:')), 'ssh: unsupported curve');
  rejects(wire(str('sk-ecdsa-sha2-nistp256@openssh.com'), str('nistp256'), str(offCurve), str('ssh:')), 'ssh: invalid curve point');
});

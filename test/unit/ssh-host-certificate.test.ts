import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { signHostCertificate } from '../../src/main/ssh/host-certificate.js';
import { parseSshPublicKey, type SshPublicKey } from '../../src/main/ssh/host-public-key.js';
import { sshCaFromSeed, type SshCa } from '../../src/main/ssh/ssh-ca.js';
import { ErrorCode } from '../../src/shared/errors.js';
import {
  b64url,
  fingerprint,
  generateWithSshKeygen,
  listCertificate,
  NO_SSH_KEYGEN,
  openSshEd25519PrivateKey,
  sshKeygen,
  sshKeygenAvailable,
  str,
  TempDir,
  wire,
  WireReader,
  withoutType,
} from './ssh-support.js';

const hasKeygen = sshKeygenAvailable();
const SEED = deriveDataKey(Buffer.alloc(32), Buffer.alloc(32), 'ca_emergency_ssh', 32);
const NOW = new Date('2024-05-06T07:08:09.999Z');
const NOW_S = BigInt(Math.floor(NOW.getTime() / 1000));
const PRINCIPALS = ['10.9.0.5', 'fe80::1', 'my-node', '*', '34.8.0.20', 'my-node'];

interface DecodedCert {
  type: string;
  nonce: Buffer;
  keyData: Buffer;
  serial: bigint;
  certType: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: Buffer;
  extensions: Buffer;
  reserved: Buffer;
  signatureKey: Buffer;
  signatureFormat: string;
  signature: Buffer;
  signedLength: number;
}

/** Test-side decoder of a certificate blob; the host key part is located with the key's own blob length. */
function decodeCertificate(blob: Uint8Array, hostKeyDataLength: number): DecodedCert {
  const r = new WireReader(Buffer.from(blob));
  const type = r.str().toString();
  const nonce = r.str();
  const keyData = r.buf.subarray(r.pos, r.pos + hostKeyDataLength);
  r.pos += hostKeyDataLength;
  const serial = r.u64();
  const certType = r.u32();
  const keyId = r.str().toString();
  const pr = new WireReader(r.str());
  const principals: string[] = [];
  while (!pr.done) principals.push(pr.str().toString());
  const validAfter = r.u64();
  const validBefore = r.u64();
  const criticalOptions = r.str();
  const extensions = r.str();
  const reserved = r.str();
  const signatureKey = r.str();
  const signedLength = r.pos;
  const sr = new WireReader(r.str());
  assert.ok(r.done, 'nothing after the signature');
  const signatureFormat = sr.str().toString();
  const signature = sr.str();
  assert.ok(sr.done, 'nothing after the signature blob');
  return { type, nonce, keyData, serial, certType, keyId, principals, validAfter, validBefore, criticalOptions, extensions, reserved, signatureKey, signatureFormat, signature, signedLength };
}

function ed25519Verify(ca: SshCa, data: Uint8Array, sig: Uint8Array): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), ca.publicKey]);
  return verify(null, data, createPublicKey({ key: spki, format: 'der', type: 'spki' }), sig);
}

function checkLayout(ca: SshCa, hostKey: SshPublicKey, blob: Uint8Array, principals: string[], now: bigint): DecodedCert {
  const c = decodeCertificate(blob, hostKey.keyData.length);
  assert.equal(c.type, hostKey.certificateType);
  assert.equal(c.nonce.length, 32);
  assert.deepEqual(c.keyData, withoutType(hostKey.blob), 'host key part copied exactly');
  assert.equal(c.serial, 0n);
  assert.equal(c.certType, 2);
  assert.equal(c.keyId, principals[0]);
  assert.deepEqual(c.principals, principals);
  assert.equal(c.validAfter, now);
  assert.equal(c.validBefore, 0xffffffffffffffffn);
  assert.equal(c.criticalOptions.length, 0);
  assert.equal(c.extensions.length, 0);
  assert.equal(c.reserved.length, 0);
  assert.deepEqual(c.signatureKey, Buffer.from(ca.publicKeyBlob));
  assert.deepEqual(c.signatureKey, wire(str('ssh-ed25519'), str(ca.publicKey)));
  assert.equal(c.signatureFormat, 'ssh-ed25519');
  assert.equal(c.signature.length, 64);
  assert.ok(ed25519Verify(ca, Buffer.from(blob).subarray(0, c.signedLength), c.signature), 'CA signature over everything up to the signature key');
  return c;
}

function ed25519HostKey(): SshPublicKey {
  const x = b64url(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x);
  return parseSshPublicKey(wire(str('ssh-ed25519'), str(x)));
}

test('Ed25519 host key: byte layout of join-protocol.md Step 6, signature verifies, line form', () => {
  const ca = sshCaFromSeed(SEED);
  const hostKey = ed25519HostKey();
  const cert = signHostCertificate({ ca, hostKey, principals: PRINCIPALS, now: NOW });
  checkLayout(ca, hostKey, cert.blob, PRINCIPALS, NOW_S);
  assert.equal(cert.line, `ssh-ed25519-cert-v01@openssh.com ${Buffer.from(cert.blob).toString('base64')}\n`);
  // Fixed header: type string, then the 32-byte nonce.
  assert.deepEqual(Buffer.from(cert.blob).subarray(0, 36), str('ssh-ed25519-cert-v01@openssh.com'));
});

test('golden certificate (zero CA seed, fixed host key, nonce and time): Ed25519 signatures are deterministic', () => {
  const ca = sshCaFromSeed(Buffer.alloc(32));
  const hostKey = parseSshPublicKey(wire(str('ssh-ed25519'), str(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'))));
  const cert = signHostCertificate({ ca, hostKey, principals: ['10.9.0.5', 'fe80::1', 'my-node'], now: new Date('2024-01-01T00:00:00Z'), nonce: Buffer.alloc(32, 1) });
  assert.equal(
    cert.line,
    'ssh-ed25519-cert-v01@openssh.com ' +
      'AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1EaAAAAAAAAAAAAAAACAAAACDEwLjkuMC41AAAAIgAAAAgxMC45LjAuNQAAAAdmZTgwOjoxAAAAB215LW5vZGUAAAAAZZIAgP//////////AAAAAAAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACA7aie8zrakLWKjqNAqbw1zZTIVdx3iQ6Y6wEihi1naKQAAAFMAAAALc3NoLWVkMjU1MTkAAABA' +
      'fv/0U/Y62ARZW6RpgydtEEup8gFvKA8bvCLIxzOCqQf4CikHGm3T34dAzA3wZsccouTWQtN2/P+rQTDT7LJoAQ==\n',
  );
});

test('every accepted host key type: ssh-keygen -L reads and verifies the certificate', { skip: !hasKeygen && NO_SSH_KEYGEN }, (t) => {
  const tmp = new TempDir();
  t.after(() => tmp.remove());
  const ca = sshCaFromSeed(SEED);
  const caFingerprint = fingerprint(ca.publicKeyBlob);
  const cases: { type: string; bits?: number; label: string }[] = [
    { type: 'ed25519', label: 'ED25519-CERT' },
    { type: 'ecdsa', bits: 256, label: 'ECDSA-CERT' },
    { type: 'ecdsa', bits: 384, label: 'ECDSA-CERT' },
    { type: 'ecdsa', bits: 521, label: 'ECDSA-CERT' },
    { type: 'rsa', bits: 2048, label: 'RSA-CERT' },
    { type: 'dsa', label: 'DSA-CERT' },
  ];
  for (const [i, c] of cases.entries()) {
    const key = generateWithSshKeygen(tmp, `host${i}`, c.type, c.bits);
    if (key === undefined) {
      assert.equal(c.type, 'dsa');
      t.diagnostic('this ssh-keygen has no DSA (OpenSSH >= 10): DSA certificate not checked with ssh-keygen');
      continue;
    }
    const hostKey = parseSshPublicKey(key.blob);
    const cert = signHostCertificate({ ca, hostKey, principals: PRINCIPALS, now: NOW });
    checkLayout(ca, hostKey, cert.blob, PRINCIPALS, NOW_S);
    const certPath = tmp.write(`host${i}-cert.pub`, cert.line);
    const l = listCertificate(certPath);
    assert.equal(l.typeLine, `${hostKey.certificateType} host certificate`);
    assert.equal(l.publicKey, `${c.label} ${fingerprint(key.blob)}`, 'certified key = the host key');
    assert.equal(l.signingCa, `ED25519 ${caFingerprint} (using ssh-ed25519)`);
    assert.equal(l.keyId, `"${PRINCIPALS[0]}"`);
    assert.equal(l.serial, '0');
    assert.equal(l.valid, 'after 2024-05-06T07:08:09', 'valid after now, forever (ssh-keygen omits the infinite end)');
    assert.deepEqual(l.principals, PRINCIPALS, 'order and duplicates kept');
    assert.equal(l.criticalOptions, '(none)');
    assert.equal(l.extensions, '(none)');
  }
});

test('ssh-keygen -L refuses the certificate when the CA signature is broken (it verifies)', { skip: !hasKeygen && NO_SSH_KEYGEN }, (t) => {
  const tmp = new TempDir();
  t.after(() => tmp.remove());
  const ca = sshCaFromSeed(SEED);
  const cert = signHostCertificate({ ca, hostKey: ed25519HostKey(), principals: ['a'], now: NOW });
  const broken = Buffer.from(cert.blob);
  broken[broken.length - 1]! ^= 1;
  const good = tmp.write('good-cert.pub', cert.line);
  const bad = tmp.write('bad-cert.pub', `ssh-ed25519-cert-v01@openssh.com ${broken.toString('base64')}\n`);
  assert.equal(sshKeygen(['-L', '-f', good], { allowFailure: true }).status, 0);
  assert.notEqual(sshKeygen(['-L', '-f', bad], { allowFailure: true }).status, 0);
});

test('byte-identical to a certificate signed by ssh-keygen -s with the same CA key, nonce and validity', { skip: !hasKeygen && NO_SSH_KEYGEN }, (t) => {
  const tmp = new TempDir();
  t.after(() => tmp.remove());
  const caPath = tmp.write('ca', openSshEd25519PrivateKey(SEED));
  const ca = sshCaFromSeed(SEED);
  const principals = ['10.9.0.5', 'fe80::1', 'my-node', '10.9.0.5'];
  let compared = 0;
  for (const [i, [type, bits]] of ([['ed25519'], ['ecdsa', 256], ['ecdsa', 384], ['ecdsa', 521], ['rsa', 2048], ['dsa']] as [string, number?][]).entries()) {
    const key = generateWithSshKeygen(tmp, `h${i}`, type, bits);
    if (key === undefined) {
      assert.equal(type, 'dsa'); // OpenSSH >= 10 has no DSA
      continue;
    }
    sshKeygen(['-q', '-s', caPath, '-h', '-I', principals[0]!, '-n', principals.join(','), '-V', `0x${NOW_S.toString(16)}:forever`, '-z', '0', key.pubPath]);
    const theirs = Buffer.from(tmp.read(`h${i}-cert.pub`).trim().split(/\s+/)[1]!, 'base64');
    const hostKey = parseSshPublicKey(key.blob);
    const nonce = decodeCertificate(theirs, hostKey.keyData.length).nonce;
    const ours = signHostCertificate({ ca, hostKey, principals, now: NOW, nonce });
    assert.deepEqual(Buffer.from(ours.blob), theirs, `${type} ${bits ?? ''}: same bytes as ssh-keygen`);
    compared++;
  }
  t.diagnostic(`${compared} key types compared byte for byte with ssh-keygen -s`);
  assert.ok(compared >= 5);
});

test('security-key host keys: certificate type and the application string kept', (t) => {
  const tmp = new TempDir();
  t.after(() => tmp.remove());
  if (!hasKeygen) t.diagnostic(`${NO_SSH_KEYGEN}: ssh-keygen -L not run`);
  const ca = sshCaFromSeed(SEED);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), b64url(ec.x), b64url(ec.y)]);
  const ed = b64url(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x);
  for (const [blob, certType, label] of [
    [wire(str('sk-ecdsa-sha2-nistp256@openssh.com'), str('nistp256'), str(point), str('ssh:')), 'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ECDSA-SK-CERT'],
    [wire(str('sk-ssh-ed25519@openssh.com'), str(ed), str('ssh:x')), 'sk-ssh-ed25519-cert-v01@openssh.com', 'ED25519-SK-CERT'],
  ] as const) {
    const hostKey = parseSshPublicKey(blob);
    const cert = signHostCertificate({ ca, hostKey, principals: ['n'], now: NOW });
    checkLayout(ca, hostKey, cert.blob, ['n'], NOW_S);
    assert.ok(cert.line.startsWith(`${certType} `));
    if (!hasKeygen) continue;
    const l = listCertificate(tmp.write(`${label}.pub`, cert.line));
    assert.equal(l.typeLine, `${certType} host certificate`);
    assert.equal(l.publicKey, `${label} ${fingerprint(blob)}`);
  }
});

test('nonce: 32 fresh random bytes per certificate', () => {
  const ca = sshCaFromSeed(SEED);
  const hostKey = ed25519HostKey();
  const a = decodeCertificate(signHostCertificate({ ca, hostKey, principals: ['p'], now: NOW }).blob, hostKey.keyData.length);
  const b = decodeCertificate(signHostCertificate({ ca, hostKey, principals: ['p'], now: NOW }).blob, hostKey.keyData.length);
  assert.equal(a.nonce.length, 32);
  assert.notDeepEqual(a.nonce, b.nonce);
});

test('valid after: Unix seconds, rounded down; the key id is principals[0]; UTF-8 principals', () => {
  const ca = sshCaFromSeed(randomBytes(32));
  const hostKey = ed25519HostKey();
  for (const [iso, s] of [
    ['1970-01-01T00:00:00.000Z', 0n],
    ['2024-05-06T07:08:09.999Z', NOW_S],
    ['2106-02-07T06:28:16.000Z', 2n ** 32n],
  ] as const) {
    const c = decodeCertificate(signHostCertificate({ ca, hostKey, principals: ['x'], now: new Date(iso) }).blob, hostKey.keyData.length);
    assert.equal(c.validAfter, s, iso);
  }
  const principals = ['knoten-ä', '', 'b'];
  const cert = signHostCertificate({ ca, hostKey, principals, now: NOW });
  checkLayout(ca, hostKey, cert.blob, principals, NOW_S);
});

test('refuses an empty principal list, a wrong-size nonce and an invalid date', () => {
  const ca = sshCaFromSeed(randomBytes(32));
  const hostKey = ed25519HostKey();
  assert.throws(() => signHostCertificate({ ca, hostKey, principals: [], now: NOW }), { code: ErrorCode.Internal });
  assert.throws(() => signHostCertificate({ ca, hostKey, principals: ['a'], now: NOW, nonce: new Uint8Array(16) }), { code: ErrorCode.Internal });
  assert.throws(() => signHostCertificate({ ca, hostKey, principals: ['a'], now: new Date(NaN) }), { code: ErrorCode.Internal });
});

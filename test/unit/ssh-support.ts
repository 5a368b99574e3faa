/**
 * Test helpers for the SSH tests: an independent SSH wire encoder/decoder
 * (deliberately not the one under test), OpenSSH's ssh-keygen (Debian package
 * openssh-client) and OpenSSH private-key files for a raw Ed25519 seed.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

// ---- independent wire helpers ----

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

export function str(v: Uint8Array | string): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
  return Buffer.concat([u32(b.length), b]);
}

/** mpint of a non-negative big-endian magnitude, minimally encoded. */
export function mpint(magnitude: Uint8Array): Buffer {
  let m = Buffer.from(magnitude);
  while (m.length > 0 && m[0] === 0) m = m.subarray(1);
  if (m.length > 0 && (m[0]! & 0x80) !== 0) m = Buffer.concat([Buffer.from([0]), m]);
  return str(m);
}

export function wire(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

export class WireReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): Buffer {
    const n = this.u32();
    if (this.pos + n > this.buf.length) throw new Error('WireReader: short');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

/** Wire blob without its leading type string. */
export function withoutType(blob: Uint8Array): Buffer {
  const r = new WireReader(Buffer.from(blob));
  r.str();
  return r.buf.subarray(r.pos);
}

/** OpenSSH fingerprint: SHA256:<unpadded base64 of sha256(blob)>. */
export function fingerprint(blob: Uint8Array): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function b64url(s: string | undefined): Buffer {
  if (s === undefined) throw new Error('missing JWK member');
  return Buffer.from(s, 'base64url');
}

// ---- node:crypto keys in SSH wire form (independent of src/) ----

export function nodeKeyToWire(publicKey: ReturnType<typeof createPublicKey>): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  switch (publicKey.asymmetricKeyType) {
    case 'rsa':
      return wire(str('ssh-rsa'), mpint(b64url(jwk.e)), mpint(b64url(jwk.n)));
    case 'ed25519':
      return wire(str('ssh-ed25519'), str(b64url(jwk.x)));
    case 'ec': {
      const curve = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' }[jwk.crv as string]!;
      return wire(str(`ecdsa-sha2-${curve}`), str(curve), str(Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)])));
    }
    default:
      throw new Error(`nodeKeyToWire: ${publicKey.asymmetricKeyType}`);
  }
}

// ---- ssh-keygen ----

export function sshKeygenAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v ssh-keygen'], { stdio: 'ignore' }).status === 0;
}

export const NO_SSH_KEYGEN = 'ssh-keygen not installed (Debian package openssh-client)';

export function sshKeygen(args: string[], opts: { allowFailure?: boolean } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ssh-keygen', args, { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
  if (r.status !== 0 && !opts.allowFailure) throw new Error(`ssh-keygen ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export class TempDir {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'ssh-test-'));
  file(name: string): string {
    return path.join(this.dir, name);
  }
  write(name: string, data: string | Uint8Array, mode = 0o600): string {
    const p = this.file(name);
    writeFileSync(p, data, { mode });
    return p;
  }
  read(name: string): string {
    return readFileSync(this.file(name), 'utf8');
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface GeneratedKey {
  /** private key file (OpenSSH format) */
  privatePath: string;
  pubPath: string;
  line: string;
  blob: Buffer;
}

/** `ssh-keygen -t <type> [-b bits] -N '' -f <file>`; undefined if this ssh-keygen cannot make that type (e.g. DSA in OpenSSH ≥ 10). */
export function generateWithSshKeygen(tmp: TempDir, name: string, type: string, bits?: number): GeneratedKey | undefined {
  const privatePath = tmp.file(name);
  const args = ['-q', '-t', type, '-N', '', '-C', '', '-f', privatePath];
  if (bits !== undefined) args.push('-b', String(bits));
  const r = sshKeygen(args, { allowFailure: true });
  if (r.status !== 0) return undefined;
  const pubPath = `${privatePath}.pub`;
  const line = readFileSync(pubPath, 'utf8');
  const fields = line.trim().split(/\s+/);
  return { privatePath, pubPath, line, blob: Buffer.from(fields[1]!, 'base64') };
}

/** Public key of an SSH public-key file as node:crypto KeyObject (via `ssh-keygen -e -m PKCS8`). */
export function sshPubToKeyObject(pubPath: string) {
  return createPublicKey(sshKeygen(['-e', '-m', 'PKCS8', '-f', pubPath]).stdout);
}

/**
 * An unencrypted OpenSSH private key file (PROTOCOL.key, "openssh-key-v1")
 * for a raw Ed25519 seed, so that ssh-keygen can sign with the same CA key.
 */
export function openSshEd25519PrivateKey(seed: Uint8Array): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const pub = b64url(createPublicKey(priv).export({ format: 'jwk' }).x);
  const pubBlob = wire(str('ssh-ed25519'), str(pub));
  const check = randomBytes(4);
  let section = wire(check, check, str('ssh-ed25519'), str(pub), str(Buffer.concat([seed, pub])), str(''));
  const pad: number[] = [];
  for (let i = 1; (section.length + pad.length) % 8 !== 0; i++) pad.push(i);
  section = Buffer.concat([section, Buffer.from(pad)]);
  const body = wire(Buffer.from('openssh-key-v1\0', 'latin1'), str('none'), str('none'), str(''), u32(1), str(pubBlob), str(section));
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`;
}

/** Parsed `ssh-keygen -L -f <cert>` output. */
export interface CertListing {
  typeLine: string;
  publicKey: string;
  signingCa: string;
  keyId: string;
  serial: string;
  valid: string;
  principals: string[];
  criticalOptions: string;
  extensions: string;
}

export function listCertificate(certPath: string): CertListing {
  const out = sshKeygen(['-L', '-f', certPath]).stdout;
  const lines = out.split('\n').map((l) => l.trim());
  const get = (label: string) => {
    const l = lines.find((x) => x.startsWith(`${label}:`));
    if (l === undefined) throw new Error(`ssh-keygen -L: no "${label}" in:\n${out}`);
    return l.slice(label.length + 1).trim();
  };
  const pi = lines.findIndex((l) => l.startsWith('Principals:'));
  const ci = lines.findIndex((l) => l.startsWith('Critical Options:'));
  return {
    typeLine: get('Type'),
    publicKey: get('Public key'),
    signingCa: get('Signing CA'),
    keyId: get('Key ID'),
    serial: get('Serial'),
    valid: get('Valid'),
    principals: lines.slice(pi + 1, ci).filter((l) => l !== ''),
    criticalOptions: get('Critical Options'),
    extensions: get('Extensions'),
  };
}

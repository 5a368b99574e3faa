import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as tls from 'node:tls';
import { pem } from '../../shared/der/encode.js';
import { buildSelfSignedCertificate } from './certificate-builder.js';

const ROTATE_AFTER_MS = 60 * 60 * 1000;

interface KeyMaterial {
  privateKey: KeyObject;
  spki: Uint8Array;
  keyPem: string;
  certPem: string;
  createdAt: number;
}

/**
 * The join service's own (unattested) TLS identity and the per-ClientHello
 * nonce contexts. Go makes a fresh P-256 key per TCP connection; the server
 * certificate carries no attestation, so nothing rests on the key being
 * fresh, and one key rotated hourly (well inside the ±2 h validity) saves a
 * key generation per connection on the main thread. The nonce certificate
 * (atls.md §5.2) is per ClientHello: its subject CN = base64(serverNonce) is the
 * one entry of the CertificateRequest's acceptable-CA list.
 */
export class ServerIdentity {
  private current: KeyMaterial;

  constructor(private readonly now: () => number = Date.now) {
    this.current = this.makeKeyMaterial();
  }

  private makeKeyMaterial(): KeyMaterial {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const cert = buildSelfSignedCertificate({ privateKey, spki, commonName: 'Constellation' });
    return {
      privateKey,
      spki,
      keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      certPem: pem('CERTIFICATE', cert),
      createdAt: this.now(),
    };
  }

  private material(): KeyMaterial {
    if (this.now() - this.current.createdAt > ROTATE_AFTER_MS) this.current = this.makeKeyMaterial();
    return this.current;
  }

  /** PEM key and certificate for the server's default context. */
  defaultCredentials(): { key: string; cert: string } {
    const m = this.material();
    return { key: m.keyPem, cert: m.certPem };
  }

  /** DER of the nonce certificate: serial 0, CN = base64(nonce), signed by the server key. */
  nonceCertificate(nonce: Uint8Array): Uint8Array {
    const m = this.material();
    return buildSelfSignedCertificate({
      privateKey: m.privateKey,
      spki: m.spki,
      commonName: Buffer.from(nonce).toString('base64'),
      serial: Uint8Array.of(0),
    });
  }

  /** A secure context presenting the server certificate and asking for a client certificate issued "by" the nonce. */
  nonceContext(nonce: Uint8Array, base: tls.SecureContextOptions): tls.SecureContext {
    const m = this.material();
    return tls.createSecureContext({
      ...base,
      key: m.keyPem,
      cert: m.certPem,
      ca: [pem('CERTIFICATE', this.nonceCertificate(nonce))],
    });
  }
}

/** For tests: parse a PEM key back (kept here so callers need not know the format). */
export function parsePrivateKeyPem(keyPem: string): KeyObject {
  return createPrivateKey(keyPem);
}

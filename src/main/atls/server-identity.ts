import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as tls from 'node:tls';
import { readElement, readSingle, Tag } from '../../shared/der/decode.js';
import { bitString, pem, sequence } from '../../shared/der/encode.js';
import { buildSelfSignedCertificate } from './certificate-builder.js';

/** base64 of 32 bytes is always 44 characters, so the nonce certificate's TBS has a fixed layout. */
const NONCE_B64_LENGTH = 44;
const NONCE_PLACEHOLDER = 'A'.repeat(NONCE_B64_LENGTH);

const ROTATE_AFTER_MS = 60 * 60 * 1000;

interface NonceCertificateTemplate {
  tbs: Buffer;
  /** Offsets of the CN value (subject and issuer) inside `tbs`. */
  cnOffsets: number[];
  sigAlg: Uint8Array;
}

interface KeyMaterial {
  privateKey: KeyObject;
  spki: Uint8Array;
  keyPem: string;
  certPem: string;
  nonceTemplate: NonceCertificateTemplate;
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
  private generation = 0;

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
      nonceTemplate: nonceTemplate(privateKey, spki),
      createdAt: this.now(),
    };
  }

  private material(): KeyMaterial {
    if (this.now() - this.current.createdAt > ROTATE_AFTER_MS) {
      this.current = this.makeKeyMaterial();
      this.generation++;
    }
    return this.current;
  }

  /**
   * Rotates the key if due; returns the generation of the current credentials
   * (+1 per rotation). A listener whose default context serves every
   * connection (`--nonce-ca native`) polls it and installs new credentials
   * when it changed.
   */
  credentialsGeneration(): number {
    this.material();
    return this.generation;
  }

  /** PEM key and certificate for the server's default context. */
  defaultCredentials(): { key: string; cert: string } {
    const m = this.material();
    return { key: m.keyPem, cert: m.certPem };
  }

  /**
   * DER of the nonce certificate: serial 0, issuer = subject = CN=base64(nonce), signed by the
   * server key. Built from a per-key template (only the CN bytes change) to keep the
   * per-ClientHello work on the main thread to one ECDSA signature.
   */
  nonceCertificate(nonce: Uint8Array): Uint8Array {
    if (nonce.length !== 32) throw new Error(`server nonce must be 32 bytes, got ${nonce.length}`);
    const m = this.material();
    const t = m.nonceTemplate;
    const tbs = Buffer.from(t.tbs);
    const cn = Buffer.from(Buffer.from(nonce).toString('base64'), 'latin1');
    for (const off of t.cnOffsets) cn.copy(tbs, off);
    const signature = sign('sha256', tbs, { key: m.privateKey, dsaEncoding: 'der' });
    return sequence(tbs, t.sigAlg, bitString(signature));
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

function nonceTemplate(privateKey: KeyObject, spki: Uint8Array): NonceCertificateTemplate {
  const der = buildSelfSignedCertificate({ privateKey, spki, commonName: NONCE_PLACEHOLDER, serial: Uint8Array.of(0) });
  const cert = readSingle(der, Tag.Sequence);
  const tbsEl = readElement(der, cert.contentStart, cert.end);
  const sigAlgEl = readElement(der, tbsEl.end, cert.end);
  const tbs = Buffer.from(der.subarray(tbsEl.start, tbsEl.end));
  const placeholder = Buffer.from(NONCE_PLACEHOLDER, 'latin1');
  const cnOffsets: number[] = [];
  for (let i = tbs.indexOf(placeholder); i >= 0; i = tbs.indexOf(placeholder, i + 1)) cnOffsets.push(i);
  // Exactly the issuer and subject CN; the same 44-byte run inside the key would make the template ambiguous.
  if (cnOffsets.length !== 2) throw new Error(`nonce certificate template has ${cnOffsets.length} CN slots, expected 2`);
  return { tbs, cnOffsets, sigAlg: der.subarray(sigAlgEl.start, sigAlgEl.end) };
}

/** For tests: parse a PEM key back (kept here so callers need not know the format). */
export function parsePrivateKeyPem(keyPem: string): KeyObject {
  return createPrivateKey(keyPem);
}

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { listenerOptions } from './listener-options.js';
import { loadAtlsAddon, type NativeHandle, type NativeNonceCaStats } from './native-addon.js';
import { NONCE_NAME_TEMPLATE, nonceName } from './nonce-name.js';
import { ServerIdentity } from './server-identity.js';

/**
 * How the server nonce gets into the CertificateRequest's acceptable-CA list:
 * - `native`: an OpenSSL ClientHello callback (native/nonce_ca.c) sets a
 *   one-entry CA list on the connection's SSL; no SecureContext per ClientHello.
 * - `context`: SNICallback answers with a fresh SecureContext whose only `ca` is
 *   a nonce certificate (the portable fallback, ~0.35 ms of main thread per ClientHello).
 */
export type NonceCaMode = 'native' | 'context';
/** `auto`: native when the addon loads and its self-test passes, else context (one WARN line). */
export type NonceCaSetting = NonceCaMode | 'auto';

export const NONCE_CA_SETTINGS: readonly NonceCaSetting[] = ['auto', 'native', 'context'];

let processSetting: NonceCaSetting = 'auto';

/**
 * The setting of `--nonce-ca` for listeners that are not given one explicitly
 * (the CLI sets it while parsing the limit flags).
 */
export function setDefaultNonceCaSetting(setting: NonceCaSetting): void {
  processSetting = setting;
}

export function defaultNonceCaSetting(): NonceCaSetting {
  return processSetting;
}

/**
 * The JS side of the native ClientHello callback: gets the SNI and the fresh
 * 32-byte server nonce drawn natively (RAND_bytes), as the standard base64
 * text that is also the CN; returns `true` when it stored the nonce for this
 * SNI (the CA list is then set), or the ErrorCode why the handshake is
 * refused. Runs synchronously inside OpenSSL: it must not touch any socket.
 */
export type ClientHelloHandler = (servername: string, nonceBase64: string) => true | string;

const REJECTED = /\batls-rejected:([A-Z0-9_]+)/;

/**
 * The ErrorCode a native nonce CA put into a failed handshake's error (Node's
 * tlsClientError `err.message` carries OpenSSL's error data), or undefined.
 */
export function nativeRejectionCode(err: Error): string | undefined {
  return (err as NodeJS.ErrnoException).code === 'ERR_SSL_CALLBACK_FAILED' ? REJECTED.exec(err.message)?.[1] : undefined;
}

/** One attachment of the native nonce CA to the SSL_CTX(s) created by one synchronous call. */
export class NativeNonceCa {
  private detached = false;

  private constructor(private readonly handle: NativeHandle) {}

  /**
   * Runs `create` (which must synchronously create the TLS server, or the
   * secure context, it returns) with the ClientHello callback attached to
   * every SSL_CTX created meanwhile. Throws if none was.
   */
  static attach<T>(onClientHello: ClientHelloHandler, create: () => T): { ca: NativeNonceCa; result: T } {
    const { der, cnOffset } = NONCE_NAME_TEMPLATE;
    const r = loadAtlsAddon().nonceCaAttach(onClientHello, der, cnOffset, create);
    const ca = new NativeNonceCa(r.handle);
    if (r.contexts < 1) {
      ca.detach();
      throw new JoinServiceError(ErrorCode.Internal, 'attaching the native nonce CA had no effect (no SSL_CTX created)');
    }
    return { ca, result: r.result };
  }

  /** Later ClientHellos on these contexts fail closed; call once no handshake on them is wanted. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    loadAtlsAddon().nonceCaDetach(this.handle);
  }

  stats(): NativeNonceCaStats {
    return loadAtlsAddon().nonceCaStats(this.handle);
  }
}

/** DER of the Name the native nonce CA sends for `nonce` (OpenSSL's re-encoding of what it built). */
export function nativeNonceName(nonce: Buffer): Buffer {
  const { der, cnOffset } = NONCE_NAME_TEMPLATE;
  return loadAtlsAddon().nonceCaName(der, cnOffset, nonce);
}

/**
 * A client SecureContext (created by `create`) that reports, per handshake,
 * the acceptable-CA names of the server's CertificateRequest (DER, in order)
 * and sends no client certificate. For the self-test and tests.
 */
export function caListProbe(onCaList: (names: Buffer[]) => void, create: () => tls.SecureContext): { context: tls.SecureContext; close: () => void } {
  const r = loadAtlsAddon().caListProbe(onCaList, create);
  const close = () => loadAtlsAddon().nonceCaDetach(r.handle);
  if (r.contexts < 1) {
    close();
    throw new JoinServiceError(ErrorCode.Internal, 'attaching the CA list probe had no effect (no SSL_CTX created)');
  }
  return { context: r.result, close };
}

const SELF_TEST_TIMEOUT_MS = 10_000;

/**
 * Proves on this Node/OpenSSL that the native mode works end to end, with the
 * listener's own TLS options: a loopback tls.Server with the native nonce CA,
 * one TLS 1.3 and one TLS 1.2 client whose CertificateRequest must carry
 * exactly the DN of the nonce issued for its SNI (byte for byte what
 * nonceName() builds), and whose connection must finish with that SNI as
 * servername. Rejects with the reason otherwise.
 */
async function runSelfTest(): Promise<void> {
  const expectedSpecDn = nonceName(Uint8Array.from({ length: 32 }, (_, i) => i));
  if (!nativeNonceName(Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i))).equals(expectedSpecDn)) {
    throw new Error('native nonce DN differs from the atls.md §5.2 encoding');
  }
  const issued = new Map<string, Buffer>();
  const identity = new ServerIdentity();
  const { ca, result: server } = NativeNonceCa.attach(
    (sni, nonceBase64) => {
      issued.set(sni, Buffer.from(nonceBase64, 'base64'));
      return true;
    },
    () => tls.createServer(listenerOptions(identity.defaultCredentials())),
  );
  const serverNames = new Map<string, tls.TLSSocket>();
  server.on('secureConnection', (s: tls.TLSSocket) => {
    if (typeof s.servername === 'string') serverNames.set(s.servername, s);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const sni = randomBytes(32).toString('base64');
      const seen: Buffer[][] = [];
      const probe = caListProbe(
        (names) => seen.push(names),
        () => tls.createSecureContext({ minVersion: version, maxVersion: version }),
      );
      try {
        const protocol = await new Promise<string | null>((resolve, reject) => {
          const c = tls.connect({ port, host: '127.0.0.1', servername: sni, secureContext: probe.context, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
          let proto: string | null = null;
          c.once('secureConnect', () => (proto = c.getProtocol()));
          c.on('data', () => undefined);
          c.once('error', reject);
          c.once('close', () => resolve(proto));
        });
        const nonce = issued.get(sni);
        if (protocol !== version) throw new Error(`${version}: negotiated ${String(protocol)}`);
        if (!nonce) throw new Error(`${version}: no nonce was issued for the SNI`);
        if (seen.length !== 1 || seen[0]!.length !== 1 || !seen[0]![0]!.equals(nonceName(nonce))) {
          throw new Error(`${version}: CertificateRequest CA list ${JSON.stringify(seen.map((l) => l.map((n) => n.toString('hex'))))}, expected [${nonceName(nonce).toString('hex')}]`);
        }
        // The server side saw the same SNI (what precheck keys the nonce store by).
        for (let i = 0; i < 100 && !serverNames.has(sni); i++) await new Promise((r) => setImmediate(r));
        if (!serverNames.has(sni)) throw new Error(`${version}: server connection with that servername not seen`);
      } finally {
        probe.close();
      }
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    ca.detach();
  }
}

let selfTest: Promise<void> | undefined;

/** The native nonce CA's self-test, run once per process (with a timeout). */
export function nativeNonceCaSelfTest(): Promise<void> {
  selfTest ??= (async () => {
    loadAtlsAddon();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`self-test did not finish within ${SELF_TEST_TIMEOUT_MS} ms`)), SELF_TEST_TIMEOUT_MS);
    });
    try {
      await Promise.race([runSelfTest(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  })();
  return selfTest;
}

/**
 * The mode a listener uses for `setting`: `context` as asked; `native` only if
 * the self-test passes (else throws); `auto` falls back to `context` and
 * reports why in `fallback`.
 */
export async function resolveNonceCaMode(setting: NonceCaSetting): Promise<{ mode: NonceCaMode; fallback?: string }> {
  if (setting === 'context') return { mode: 'context' };
  try {
    await nativeNonceCaSelfTest();
    return { mode: 'native' };
  } catch (err) {
    const reason = (err as Error).message;
    if (setting === 'native') throw new JoinServiceError(ErrorCode.Internal, `--nonce-ca native: self-test failed: ${reason}`);
    return { mode: 'context', fallback: reason };
  }
}

import type { AddressInfo, Socket } from 'node:net';
import * as tls from 'node:tls';
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../shared/errors.js';
import type { VariantName } from '../../shared/variants.js';
import { VERIFY_PROTOCOL_VERSION, type AttestationConfigRef, type AttestedPeer } from '../../shared/worker-protocol.js';
import type { Logger } from '../log/logger.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import { withCertListLimit } from './cert-list-limit.js';
import { CONTEXT_OPTIONS, listenerOptions } from './listener-options.js';
import type { NativeNonceCaStats } from './native-addon.js';
import { defaultNonceCaSetting, NativeNonceCa, nativeRejectionCode, resolveNonceCaMode, type NonceCaMode, type NonceCaSetting } from './nonce-ca.js';
import { NonceStore } from './nonce-store.js';
import { goPeerAddress } from './peer-address.js';
import { ServerIdentity } from './server-identity.js';
import { isGoStdBase64 } from './sni-nonce.js';

export interface AtlsServerOptions {
  /** Listen address; '' = all interfaces. */
  host: string;
  port: number;
  variant: VariantName;
  /** The attestation config in force; read once per verification. */
  currentConfig: () => AttestationConfigRef;
  pool: WorkerPool;
  log: Logger;
  /** From TCP accept to the end of the TLS handshake. */
  handshakeTimeoutMs: number;
  /** TCP connections that have not finished handshake + verification; beyond it new ones are closed at once. */
  maxPendingHandshakes: number;
  /** Upper bound of the client's Certificate message (OpenSSL max cert list). */
  maxCertListBytes: number;
  /** Receives each connection whose client attestation verified; it owns the socket from then on. */
  onAttested: (socket: tls.TLSSocket, peer: AttestedPeer, peerAddress: string) => void;
  /** Called once per accepted TCP connection with how its handshake + verification ended; for metrics, must be cheap. */
  onHandshakeOutcome?: (outcome: HandshakeOutcome) => void;
  /** How the nonce reaches the CertificateRequest (nonce-ca.ts); default: `--nonce-ca` of the process, else `auto`. */
  nonceCa?: NonceCaSetting;
  /** The server's TLS identity (tests inject one with a fake clock). */
  identity?: ServerIdentity;
}

/**
 * `attested` = verified and handed over; `refused` = closed unheard (pending-handshake
 * limit) or the pool was overloaded; `timeout` = TLS handshake or verification timed
 * out; `rejected` = every other failure (TLS error, bad SNI, precheck, attestation,
 * a client that hung up mid-handshake).
 */
export type HandshakeOutcome = 'attested' | 'rejected' | 'timeout' | 'refused';

/** How often a `native` listener checks whether the server key rotated (hourly) and installs it. */
const CREDENTIALS_CHECK_MS = 5 * 60 * 1000;

type IssueOutcome = { ok: true; nonce: Buffer } | { ok: false; error: JoinServiceError };

/**
 * The attested-TLS listener of the join service (atls.md §7.2, server with one
 * validator and no issuer). Per ClientHello it issues a server nonce through
 * the CertificateRequest's acceptable-CA list; after the handshake it holds
 * the socket unread, has the pool verify the client certificate against that
 * nonce, and hands only verified sockets to `onAttested`.
 *
 * The nonce gets into the CA list in one of two ways (`nonceCa`, decided in
 * listen()): `native` sets it on the connection's SSL from an OpenSSL
 * ClientHello callback (native/nonce_ca.c, ~20 µs); `context` answers
 * SNICallback with a fresh SecureContext holding a nonce certificate
 * (~0.35 ms). Both key the NonceStore by the SNI and reject the same
 * ClientHellos with the same log lines.
 *
 * Unlike Go, Node offers no hook between the client's Certificate message and
 * the end of the handshake, so a rejected client sees its connection closed
 * after the handshake instead of a bad_certificate alert.
 */
export class AtlsServer {
  private server: tls.Server | undefined;
  private readonly identity: ServerIdentity;
  private readonly nonces: NonceStore;
  private readonly log: Logger;
  /** TCP connections accepted and not yet closed. */
  private openTcp = 0;
  /** Of those, the ones handed over after a successful verification. */
  private openAttested = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private credentialsTimer: NodeJS.Timeout | undefined;
  /** TCP sockets closed at accept; their TLS socket still reports a tlsClientError, which is not counted again. */
  private readonly refusedTcp = new WeakSet<Socket>();
  private mode: NonceCaMode | undefined;
  /** `native`: the attachment of the current listener context, and older ones still serving handshakes. */
  private nativeCa: NativeNonceCa | undefined;
  private readonly retiredCas = new Set<NativeNonceCa>();
  private installedGeneration = 0;

  constructor(private readonly o: AtlsServerOptions) {
    this.log = o.log.group('atls');
    this.identity = o.identity ?? new ServerIdentity();
    this.nonces = new NonceStore(o.handshakeTimeoutMs, o.maxPendingHandshakes);
    this.sweepTimer = setInterval(() => this.nonces.sweep(), Math.max(1000, o.handshakeTimeoutMs)).unref();
  }

  /** Decides the nonce CA mode (running the native self-test once per process), creates the TLS server and listens. */
  async listen(): Promise<AddressInfo> {
    if (this.server) throw new Error('AtlsServer.listen() called twice');
    const setting = this.o.nonceCa ?? defaultNonceCaSetting();
    const { mode, fallback } = await resolveNonceCaMode(setting);
    if (fallback !== undefined) {
      this.log.warn('Native nonce CA unavailable, using a SecureContext per ClientHello', { nonceCa: mode, error: fallback });
    } else {
      this.log.info('aTLS nonce CA', { nonceCa: mode });
    }
    this.mode = mode;
    const server = mode === 'native' ? this.createNativeServer() : this.createContextServer();
    this.server = server;
    server.on('connection', (socket: Socket) => this.onTcpConnection(socket));
    server.on('secureConnection', (socket: tls.TLSSocket) => this.onHandshakeDone(socket));
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.onHandshakeFailed(err, socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.o.port, this.o.host === '' ? undefined : this.o.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      clearInterval(this.credentialsTimer);
      this.nativeCa?.detach();
      throw err;
    }
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.credentialsTimer);
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.nativeCa?.detach();
    for (const ca of this.retiredCas) ca.detach();
    this.retiredCas.clear();
  }

  /** The nonce CA mode in use (after listen()). */
  get nonceCaMode(): NonceCaMode | undefined {
    return this.mode;
  }

  /** Counters of the native ClientHello callback of the current listener context (`native` mode only). */
  nativeNonceCaStats(): NativeNonceCaStats | undefined {
    return this.nativeCa?.stats();
  }

  /** `context` mode: SNICallback answers each ClientHello with a nonce SecureContext. */
  private createContextServer(): tls.Server {
    return withCertListLimit(this.o.maxCertListBytes, () =>
      tls.createServer({
        ...listenerOptions(this.identity.defaultCredentials()),
        handshakeTimeout: this.o.handshakeTimeoutMs,
        SNICallback: (servername, cb) => this.onServerName(servername, cb),
      }),
    );
  }

  /**
   * `native` mode: no SNICallback (so Node never switches the SSL's context or
   * copies a context's CA list over the one set natively); the ClientHello
   * callback is attached to the listener's SSL_CTX. Every connection uses that
   * context's certificate, so the hourly key rotation installs a new one.
   */
  private createNativeServer(): tls.Server {
    this.installedGeneration = this.identity.credentialsGeneration();
    const { ca, result } = this.attachNative(() =>
      tls.createServer({ ...listenerOptions(this.identity.defaultCredentials()), handshakeTimeout: this.o.handshakeTimeoutMs }),
    );
    this.nativeCa = ca;
    this.credentialsTimer = setInterval(() => this.installRotatedCredentials(), CREDENTIALS_CHECK_MS).unref();
    return result;
  }

  private attachNative<T>(create: () => T): { ca: NativeNonceCa; result: T } {
    return NativeNonceCa.attach(
      (servername, nonceBase64) => this.onClientHello(servername, nonceBase64),
      () => withCertListLimit(this.o.maxCertListBytes, create),
    );
  }

  /**
   * `native` mode: if the server key rotated, installs a new listener context
   * (with the native callback attached); connections accepted before keep the
   * old one, which is detached once their handshakes are over. Returns whether
   * it installed one.
   */
  installRotatedCredentials(): boolean {
    const server = this.server;
    if (this.mode !== 'native' || !server) return false;
    const generation = this.identity.credentialsGeneration();
    if (generation === this.installedGeneration) return false;
    const { ca } = this.attachNative(() => {
      server.setSecureContext({ ...CONTEXT_OPTIONS, ...this.identity.defaultCredentials() });
      return undefined;
    });
    const old = this.nativeCa;
    this.nativeCa = ca;
    this.installedGeneration = generation;
    if (old) {
      this.retiredCas.add(old);
      setTimeout(() => {
        old.detach();
        this.retiredCas.delete(old);
      }, 2 * this.o.handshakeTimeoutMs).unref();
    }
    this.log.debug('Server key rotated', { generation });
    return true;
  }

  /** Connections in handshake or verification (pending = open - attested, as every TLS socket owns one TCP socket). */
  get pendingHandshakes(): number {
    return this.openTcp - this.openAttested;
  }

  private onTcpConnection(socket: Socket): void {
    if (this.pendingHandshakes >= this.o.maxPendingHandshakes) {
      this.log.warn('Connection refused: too many pending handshakes', {
        peerAddress: goPeerAddress(socket),
        check: ErrorCode.AtlsTooManyHandshakes,
        limit: this.o.maxPendingHandshakes,
      });
      this.refusedTcp.add(socket);
      this.o.onHandshakeOutcome?.('refused');
      socket.destroy();
      return;
    }
    this.openTcp++;
    socket.once('close', () => this.openTcp--);
  }

  /**
   * The per-ClientHello decision of both modes: the SNI must be Go base64
   * (atls.md §5.1), and gets a fresh nonce unless one is live for it or too
   * many are. Rejections are logged here.
   */
  private issueNonce(servername: string, nonce?: Buffer): IssueOutcome {
    if (!isGoStdBase64(servername)) {
      this.log.warn('aTLS handshake rejected', { check: ErrorCode.AtlsBadSni, error: 'SNI is not a base64 client nonce' });
      return { ok: false, error: new JoinServiceError(ErrorCode.AtlsBadSni, 'SNI is not a base64 client nonce') };
    }
    const issued = this.nonces.issue(servername, Date.now(), nonce);
    if (!issued.ok) {
      const code = issued.reason === 'duplicate' ? ErrorCode.AtlsDuplicateSni : ErrorCode.AtlsTooManyHandshakes;
      const error = issued.reason === 'duplicate' ? 'client nonce (SNI) already in use by another handshake' : 'too many handshakes in flight';
      this.log.warn('aTLS handshake rejected', { check: code, error });
      return { ok: false, error: new JoinServiceError(code, error) };
    }
    return { ok: true, nonce: issued.nonce };
  }

  /** `context` mode (SNICallback). */
  private onServerName(servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void {
    const issued = this.issueNonce(servername);
    if (!issued.ok) {
      cb(issued.error);
      return;
    }
    try {
      cb(null, this.identity.nonceContext(issued.nonce, CONTEXT_OPTIONS));
    } catch (err) {
      this.nonces.drop(servername);
      cb(toJoinServiceError(err));
    }
  }

  /**
   * `native` mode: called synchronously from OpenSSL's ClientHello callback
   * (nonce-ca.ts) with the nonce it drew (base64). Returns true when the nonce
   * was stored (it then goes into the CA list), or the ErrorCode that fails
   * the handshake (it comes back in the tlsClientError).
   */
  private onClientHello(servername: string, nonceBase64: string): true | string {
    try {
      const issued = this.issueNonce(servername, Buffer.from(nonceBase64, 'base64'));
      return issued.ok ? true : issued.error.code;
    } catch (err) {
      this.log.error('aTLS ClientHello callback failed', { error: (err as Error).message });
      return ErrorCode.AtlsHandshakeFailed;
    }
  }

  private onHandshakeFailed(err: Error, socket: tls.TLSSocket): void {
    // With a tlsClientError listener Node leaves the socket open (notably on handshake timeout).
    socket.destroy();
    // A native nonce CA rejection carries its ErrorCode in the OpenSSL error (context mode: the error is ours).
    const code = nativeRejectionCode(err) ?? (err as NodeJS.ErrnoException).code ?? 'unknown';
    // A duplicate SNI belongs to another live handshake: its nonce stays.
    if (socket.servername && code !== ErrorCode.AtlsDuplicateSni) this.nonces.drop(socket.servername);
    // Node keeps the accepted TCP socket as the TLS socket's `_parent` (not public API).
    if (this.o.onHandshakeOutcome && !this.refusedTcp.has((socket as unknown as { _parent?: Socket })._parent as Socket)) {
      this.o.onHandshakeOutcome(
        code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : code === ErrorCode.AtlsTooManyHandshakes ? 'refused' : 'rejected',
      );
    }
    this.log.warn('TLS handshake failed', {
      peerAddress: goPeerAddress(socket),
      check: code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? ErrorCode.AtlsHandshakeTimeout : ErrorCode.AtlsHandshakeFailed,
      tlsError: code,
      error: err.message,
    });
  }

  private onHandshakeDone(socket: tls.TLSSocket): void {
    const peerAddress = goPeerAddress(socket);
    // Errors while we verify (e.g. the peer resets) must not crash the process.
    const onEarlyError = (err: Error) => this.log.debug('Connection error during verification', { peerAddress, error: err.message });
    socket.on('error', onEarlyError);
    // One config generation for the whole verification (hot reload swaps only later tasks).
    const config = this.o.currentConfig();
    const reject = (e: JoinServiceError) => {
      this.log.warn('aTLS client rejected', {
        peerAddress,
        variant: this.o.variant,
        generation: config.generation,
        check: e.code,
        error: e.message,
        ...(e.details ?? {}),
      });
      socket.destroy();
      this.o.onHandshakeOutcome?.(
        e.code === ErrorCode.PoolOverloaded ? 'refused' : e.code === ErrorCode.AttestationTimeout ? 'timeout' : 'rejected',
      );
    };

    let precheck: { nonce: Buffer; certificate: Buffer };
    try {
      precheck = this.precheck(socket);
    } catch (err) {
      reject(toJoinServiceError(err, ErrorCode.AtlsHandshakeFailed));
      return;
    }
    this.o.pool
      .verify({
        v: VERIFY_PROTOCOL_VERSION,
        kind: 'verify-certificate',
        certificate: precheck.certificate,
        nonce: precheck.nonce,
        variant: this.o.variant,
        config,
        nowMs: Date.now(),
      })
      .then(
        (result) => {
          if (!result.ok) {
            reject(JoinServiceError.fromJSON(result.error));
            return;
          }
          this.o.onHandshakeOutcome?.('attested');
          if (socket.destroyed) {
            this.log.info('Attested client left before its connection was served', { peerAddress });
            return;
          }
          this.openAttested++;
          socket.once('close', () => this.openAttested--);
          socket.off('error', onEarlyError);
          this.log.debug('aTLS client attested', {
            peerAddress,
            variant: result.peer.variant,
            generation: config.generation,
            certificateUs: result.timings.certificateUs,
            attestationUs: result.timings.attestationUs,
          });
          for (const w of result.peer.warnings) this.log.warn('Attestation warning', { peerAddress, warning: w });
          this.o.onAttested(socket, result.peer, peerAddress);
        },
        (err: unknown) => reject(toJoinServiceError(err, ErrorCode.PoolWorkerFailed)),
      );
  }

  /** The cheap main-thread checks that need the socket: resumption, ALPN, SNI nonce, presence of a certificate. */
  private precheck(socket: tls.TLSSocket): { nonce: Buffer; certificate: Buffer } {
    const sni = socket.servername;
    const nonce = typeof sni === 'string' ? this.nonces.take(sni) : undefined;
    if (socket.isSessionReused()) throw new JoinServiceError(ErrorCode.AtlsSessionResumed, 'resumed TLS sessions are not accepted');
    if (socket.alpnProtocol !== 'h2') {
      throw new JoinServiceError(ErrorCode.AtlsAlpn, `client did not negotiate ALPN h2 (got ${String(socket.alpnProtocol)})`);
    }
    if (typeof sni !== 'string' || sni === '') {
      throw new JoinServiceError(ErrorCode.AtlsNoSni, 'client sent no SNI, so no server nonce was issued for this connection');
    }
    if (!nonce) throw new JoinServiceError(ErrorCode.AtlsNonceUnknown, 'no live server nonce for this connection (expired or already used)');
    const cert = socket.getPeerX509Certificate();
    if (!cert) throw new JoinServiceError(ErrorCode.AtlsNoClientCertificate, "tls: client didn't provide a certificate");
    return { nonce, certificate: cert.raw };
  }
}

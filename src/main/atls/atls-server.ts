import { constants as cryptoConstants } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import * as tls from 'node:tls';
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../shared/errors.js';
import type { VariantName } from '../../shared/variants.js';
import { VERIFY_PROTOCOL_VERSION, type AttestationConfigRef, type AttestedPeer } from '../../shared/worker-protocol.js';
import type { Logger } from '../log/logger.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import { withCertListLimit } from './cert-list-limit.js';
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
}

/**
 * `attested` = verified and handed over; `refused` = closed unheard (pending-handshake
 * limit) or the pool was overloaded; `timeout` = TLS handshake or verification timed
 * out; `rejected` = every other failure (TLS error, bad SNI, precheck, attestation,
 * a client that hung up mid-handshake).
 */
export type HandshakeOutcome = 'attested' | 'rejected' | 'timeout' | 'refused';

// Go's TLS 1.2 suites for HTTP/2 with an ECDSA server key; TLS 1.3 suites are OpenSSL's defaults.
const TLS12_CIPHERS = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'].join(':');

const CONTEXT_OPTIONS: tls.SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  // No session tickets: every connection must present a fresh attestation.
  secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
};

/**
 * The attested-TLS listener of the join service (atls.md §7.2, server with one
 * validator and no issuer). Per ClientHello it issues a server nonce through
 * the CertificateRequest's acceptable-CA list; after the handshake it holds
 * the socket unread, has the pool verify the client certificate against that
 * nonce, and hands only verified sockets to `onAttested`.
 *
 * Unlike Go, Node offers no hook between the client's Certificate message and
 * the end of the handshake, so a rejected client sees its connection closed
 * after the handshake instead of a bad_certificate alert.
 */
export class AtlsServer {
  private readonly server: tls.Server;
  private readonly identity = new ServerIdentity();
  private readonly nonces: NonceStore;
  private readonly log: Logger;
  /** TCP connections accepted and not yet closed. */
  private openTcp = 0;
  /** Of those, the ones handed over after a successful verification. */
  private openAttested = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  /** TCP sockets closed at accept; their TLS socket still reports a tlsClientError, which is not counted again. */
  private readonly refusedTcp = new WeakSet<Socket>();

  constructor(private readonly o: AtlsServerOptions) {
    this.log = o.log.group('atls');
    this.nonces = new NonceStore(o.handshakeTimeoutMs, o.maxPendingHandshakes);
    this.server = withCertListLimit(o.maxCertListBytes, () =>
      tls.createServer({
        ...CONTEXT_OPTIONS,
        ...this.identity.defaultCredentials(),
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
        handshakeTimeout: o.handshakeTimeoutMs,
        SNICallback: (servername, cb) => this.onServerName(servername, cb),
      }),
    );
    this.server.on('connection', (socket: Socket) => this.onTcpConnection(socket));
    this.server.on('secureConnection', (socket: tls.TLSSocket) => this.onHandshakeDone(socket));
    this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.onHandshakeFailed(err, socket));
    this.sweepTimer = setInterval(() => this.nonces.sweep(), Math.max(1000, o.handshakeTimeoutMs)).unref();
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host === '' ? undefined : this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
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

  private onServerName(servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void {
    if (!isGoStdBase64(servername)) {
      this.log.warn('aTLS handshake rejected', { check: ErrorCode.AtlsBadSni, error: 'SNI is not a base64 client nonce' });
      cb(new JoinServiceError(ErrorCode.AtlsBadSni, 'SNI is not a base64 client nonce'));
      return;
    }
    const issued = this.nonces.issue(servername);
    if (!issued.ok) {
      const code = issued.reason === 'duplicate' ? ErrorCode.AtlsDuplicateSni : ErrorCode.AtlsTooManyHandshakes;
      const error = issued.reason === 'duplicate' ? 'client nonce (SNI) already in use by another handshake' : 'too many handshakes in flight';
      this.log.warn('aTLS handshake rejected', { check: code, error });
      cb(new JoinServiceError(code, error));
      return;
    }
    try {
      cb(null, this.identity.nonceContext(issued.nonce, CONTEXT_OPTIONS));
    } catch (err) {
      this.nonces.drop(servername);
      cb(toJoinServiceError(err));
    }
  }

  private onHandshakeFailed(err: Error, socket: tls.TLSSocket): void {
    // With a tlsClientError listener Node leaves the socket open (notably on handshake timeout).
    socket.destroy();
    if (socket.servername) this.nonces.drop(socket.servername);
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
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

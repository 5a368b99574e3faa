import { constants as cryptoConstants } from 'node:crypto';
import type * as tls from 'node:tls';

// Go's TLS 1.2 suites for HTTP/2 with an ECDSA server key; TLS 1.3 suites are OpenSSL's defaults.
const TLS12_CIPHERS = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'].join(':');

/** Options of every SSL_CTX of the aTLS listener (the listener's own and, in `context` mode, each nonce context). */
export const CONTEXT_OPTIONS: tls.SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  // No session tickets: every connection must present a fresh attestation.
  secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
};

/**
 * The tls.Server options of the aTLS listener (without SNICallback and
 * handshakeTimeout): request a client certificate, leave trust to us, ALPN h2.
 */
export function listenerOptions(credentials: { key: string; cert: string }): tls.TlsOptions {
  return {
    ...CONTEXT_OPTIONS,
    ...credentials,
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ['h2'],
  };
}

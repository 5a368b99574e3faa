import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { loadAtlsAddon } from './native-addon.js';

/**
 * Largest client Certificate message we accept. Constellation's Go nodes send
 * and accept handshake messages up to 256 KiB (atls.md §2); OpenSSL's default
 * limit for the peer certificate list is 100 KiB and Node has no option for it.
 * Anything above this bound fails the handshake with a TLS alert
 * (ERR_SSL_EXCESSIVE_MESSAGE_SIZE), before any certificate is parsed.
 */
export const DEFAULT_MAX_CERT_LIST_BYTES = 256 * 1024;

/**
 * Runs `create` (which must synchronously create exactly the TLS server or
 * secure context it returns) with OpenSSL's max cert list raised to `limit`
 * for every SSL_CTX created during the call. Throws if no context was touched,
 * so a Node/OpenSSL change that breaks the mechanism fails loudly at start-up
 * instead of silently capping client certificates at 100 KiB.
 */
export function withCertListLimit<T>(limit: number, create: () => T): T {
  const { result, contexts } = loadAtlsAddon().withCertListLimit(limit, create);
  if (contexts < 1) {
    throw new JoinServiceError(ErrorCode.Internal, 'raising the TLS certificate-list limit had no effect (no SSL_CTX created)');
  }
  return result;
}

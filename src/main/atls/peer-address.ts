import type { Socket } from 'node:net';

/**
 * The key under which a connection's attestation is stored: the same
 * `address:port` string grpc-js returns from call.getPeer() for the socket.
 */
export function peerKey(socket: Pick<Socket, 'remoteAddress' | 'remotePort'>): string {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort ?? 0}` : 'unknown';
}

/** Go's net.JoinHostPort form used in logs and as the SSH-principal fallback: `[ip6]:port`, `ip4:port`, or `unknown`. */
export function goPeerAddress(socket: Pick<Socket, 'remoteAddress' | 'remotePort'>): string {
  const a = socket.remoteAddress;
  if (!a) return 'unknown';
  return a.includes(':') ? `[${a}]:${socket.remotePort ?? 0}` : `${a}:${socket.remotePort ?? 0}`;
}

import type { AttestedPeer } from '../../shared/worker-protocol.js';

export interface AttestedConnection {
  peer: AttestedPeer;
  /** Go-style `ip:port` / `[ip6]:port` of the TCP peer. */
  peerAddress: string;
  attestedAt: number;
}

/**
 * What the aTLS layer proved about each open connection, keyed by the
 * `address:port` string grpc-js reports as a call's peer. An entry exists
 * exactly while its connection is open; handlers fail closed without one.
 */
export class AttestedConnections {
  private readonly byPeer = new Map<string, AttestedConnection>();

  add(key: string, conn: AttestedConnection): void {
    this.byPeer.set(key, conn);
  }

  remove(key: string, conn: AttestedConnection): void {
    // A new connection may already reuse the port; remove only our own entry.
    if (this.byPeer.get(key) === conn) this.byPeer.delete(key);
  }

  get(key: string): AttestedConnection | undefined {
    return this.byPeer.get(key);
  }

  get size(): number {
    return this.byPeer.size;
  }
}

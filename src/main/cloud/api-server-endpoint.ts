/** The Kubernetes API server port sent to joining nodes (join-protocol.md Step 7.5 / Step 14). */
export const API_SERVER_PORT = '6443';

/**
 * Go's `net.JoinHostPort`: a host containing a colon (IPv6) is bracketed,
 * anything else is used verbatim — `10.0.1.4` → `10.0.1.4:6443`,
 * `fd00::4` → `[fd00::4]:6443`.
 */
export function joinHostPort(host: string, port: string | number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `api_server_endpoint` = JoinHostPort(vpcIP, "6443"). */
export function apiServerEndpointFor(vpcIp: string): string {
  return joinHostPort(vpcIp, API_SERVER_PORT);
}

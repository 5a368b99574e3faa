import { expectOk, joinUrl } from './metadata-http.js';
import { fetchOrDefault, parseIpAddress, type ProviderOptions, type VpcIpProvider } from './provider.js';

/**
 * The metadata server's address. Google documents `metadata.google.internal`
 * as resolving to this link-local address; Go's cloud.google.com/go/compute/metadata
 * client also dials the IP (not the name), so no cluster DNS is needed.
 */
export const GCP_METADATA_BASE_URL = 'http://169.254.169.254';
export const GCP_NIC0_IP_PATH = '/computeMetadata/v1/instance/network-interfaces/0/ip';

/** Default base URL: `GCE_METADATA_HOST` (host[:port]) if set, like the Go metadata client, else 169.254.169.254. */
export function gcpDefaultBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const host = env['GCE_METADATA_HOST'];
  return host ? `http://${host}` : GCP_METADATA_BASE_URL;
}

/**
 * GCP: `GET /computeMetadata/v1/instance/network-interfaces/0/ip` with header
 * `Metadata-Flavor: Google`; the body (trimmed of surrounding whitespace) is
 * the VPC IP.
 *
 * Equivalence with Go: Go reads project/zone/instance name from the metadata
 * server, then calls the Compute API `instances.get` and uses `networkIP` of
 * the interface named `nic0`. The Compute API names a VM's interfaces `nicN`
 * by index and the metadata server lists them under the same index, with `ip`
 * being that interface's primary internal IPv4 address (= `networkIP`). So
 * `network-interfaces/0/ip` is nic0's `networkIP`, without credentials.
 *
 * Differences from Go: no Compute API calls (no service-account permissions
 * needed), and Go's extra `subnetworks.get` check — `Self` fails when the
 * subnetwork has no secondary IP range — is not reproduced (it does not
 * affect the IP). Non-2xx answers and non-IP bodies are errors.
 */
export function createGcpProvider(o: ProviderOptions = {}): VpcIpProvider {
  const base = o.baseUrl ?? gcpDefaultBaseUrl();
  const fetch = fetchOrDefault(o);
  return {
    name: 'gcp',
    async getVpcIp(signal?: AbortSignal): Promise<string> {
      const req = { method: 'GET' as const, url: joinUrl(base, GCP_NIC0_IP_PATH) };
      const res = await fetch({ ...req, headers: { 'Metadata-Flavor': 'Google' }, signal });
      expectOk(req, res);
      return parseIpAddress(res.body.trim(), 'gcp: network-interfaces/0/ip');
    },
  };
}

import { expectOk, joinUrl } from './metadata-http.js';
import { fetchOrDefault, parseIpAddress, type ProviderOptions, type VpcIpProvider } from './provider.js';

export const OPENSTACK_METADATA_BASE_URL = 'http://169.254.169.254';
export const OPENSTACK_LOCAL_IPV4_PATH = '/1.0/meta-data/local-ipv4';

/**
 * OpenStack and STACKIT: `GET /1.0/meta-data/local-ipv4` (EC2-compatible
 * metadata); non-2xx is an error; the body is the VPC IP.
 *
 * Go uses the body as-is. We strip surrounding whitespace first: a trailing
 * newline (as some metadata proxies add) would otherwise end up inside
 * `api_server_endpoint` (`10.0.0.5\n:6443`) and break every joining node; after
 * trimming the value must be an IP address, so anything else is a clear error
 * instead of a broken endpoint.
 *
 * Differences from Go: Go's client construction also reads
 * `openstack/2018-08-27/meta_data.json` and `user_data` and authenticates
 * against Keystone (compute/network clients), so bad credentials fail the
 * start-up there; we need none of it for the IP.
 */
export function createOpenStackProvider(o: ProviderOptions = {}): VpcIpProvider {
  const base = o.baseUrl ?? OPENSTACK_METADATA_BASE_URL;
  const fetch = fetchOrDefault(o);
  return {
    name: 'openstack',
    async getVpcIp(signal?: AbortSignal): Promise<string> {
      const req = { method: 'GET' as const, url: joinUrl(base, OPENSTACK_LOCAL_IPV4_PATH) };
      const res = await fetch({ ...req, signal });
      expectOk(req, res);
      return parseIpAddress(res.body.trim(), 'openstack: meta-data/local-ipv4');
    },
  };
}

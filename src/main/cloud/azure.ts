import { expectOk, joinUrl, metadataError, parseJsonObject } from './metadata-http.js';
import { fetchOrDefault, parseIpAddress, type ProviderOptions, type VpcIpProvider } from './provider.js';

export const AZURE_IMDS_BASE_URL = 'http://169.254.169.254';
export const AZURE_IMDS_INSTANCE_PATH = '/metadata/instance?api-version=2021-02-01&format=json';

/**
 * Azure: the Instance Metadata Service document
 * `GET /metadata/instance?api-version=2021-02-01&format=json` (header
 * `Metadata: true`, no proxy — see metadata-http.ts), VPC IP =
 * `network.interface[0].ipv4.ipAddress[0].privateIpAddress`.
 *
 * Why IMDS instead of what Go does. Go reads `compute.resourceId` from the same
 * IMDS document, then asks Azure Resource Manager — with managed-identity
 * credentials — for the scale-set VM and each of its network interfaces, and
 * uses the private IP of the IP configuration flagged `primary` (last one wins).
 * IMDS has no `primary` flag and Microsoft does not document the order of
 * `network.interface[]` / `ipAddress[]` (asked in MicrosoftDocs/azure-docs#7706:
 * attach order "in most cases"). It does document that IMDS is only reachable
 * over the VM's primary NIC and primary IP. Constellation's own infrastructure
 * (terraform/infrastructure/azure/modules/scale_set) gives every scale-set
 * instance exactly one NIC (`node-network`, primary) with exactly one IP
 * configuration (primary), so the first interface's first IPv4 entry *is* the
 * primary IP configuration's private IP — the same value Go returns. We accept
 * that equivalence and avoid the ARM round trips, the token endpoint and the
 * identity's IAM permissions entirely.
 *
 * Differences from Go: (1) on a VM with several NICs or IP configurations we
 * take the first listed, not the one ARM flags `primary`; (2) missing ARM
 * permissions / identity problems no longer fail the lookup; (3) only the IPv4
 * list is read (Constellation's Azure networks are IPv4-only).
 */
export function createAzureProvider(o: ProviderOptions = {}): VpcIpProvider {
  const base = o.baseUrl ?? AZURE_IMDS_BASE_URL;
  const fetch = fetchOrDefault(o);
  return {
    name: 'azure',
    async getVpcIp(signal?: AbortSignal): Promise<string> {
      const req = { method: 'GET' as const, url: joinUrl(base, AZURE_IMDS_INSTANCE_PATH) };
      const res = await fetch({ ...req, headers: { Metadata: 'true' }, signal });
      expectOk(req, res);
      const doc = parseJsonObject(req, res);
      const network = doc['network'];
      if (!isObject(network)) throw metadataError(req, 'instance document has no network object');
      const interfaces = network['interface'];
      if (!Array.isArray(interfaces) || interfaces.length === 0) throw metadataError(req, 'instance document lists no network interface');
      const ipv4 = isObject(interfaces[0]) ? interfaces[0]['ipv4'] : undefined;
      const addresses = isObject(ipv4) ? ipv4['ipAddress'] : undefined;
      if (!Array.isArray(addresses) || addresses.length === 0) throw metadataError(req, 'first network interface has no IPv4 address');
      const first: unknown = addresses[0];
      if (!isObject(first) || !('privateIpAddress' in first)) throw metadataError(req, 'first IPv4 address of the first network interface has no privateIpAddress');
      return parseIpAddress(first['privateIpAddress'], 'azure: network.interface[0].ipv4.ipAddress[0].privateIpAddress');
    },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

import { expectOk, joinUrl, metadataError, parseJsonObject } from './metadata-http.js';
import { fetchOrDefault, parseIpAddress, type ProviderOptions, type VpcIpProvider } from './provider.js';

export const QEMU_METADATA_BASE_URL = 'http://10.42.0.1:8080';

/**
 * QEMU (local test clusters): `GET http://10.42.0.1:8080/self` → JSON, VPC IP
 * = `VPCIP`, e.g. `{"Name":"control-plane-0","ProviderID":"qemu:///hostname/control-plane-0",
 * "Role":"ControlPlane","VPCIP":"10.42.1.100",...}`.
 *
 * Difference from Go: Go does not check the status and fails on the JSON
 * decode of e.g. `404 No matching peer found`; we report the status and the
 * server's message instead. Same outcome (an error), clearer text.
 */
export function createQemuProvider(o: ProviderOptions = {}): VpcIpProvider {
  const base = o.baseUrl ?? QEMU_METADATA_BASE_URL;
  const fetch = fetchOrDefault(o);
  return {
    name: 'qemu',
    async getVpcIp(signal?: AbortSignal): Promise<string> {
      const req = { method: 'GET' as const, url: joinUrl(base, '/self') };
      const res = await fetch({ ...req, signal });
      expectOk(req, res);
      const self = parseJsonObject(req, res);
      if (!('VPCIP' in self)) throw metadataError(req, 'response has no VPCIP');
      return parseIpAddress(self['VPCIP'], 'qemu: /self VPCIP');
    },
  };
}

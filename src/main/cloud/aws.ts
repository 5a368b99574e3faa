import { expectOk, joinUrl, metadataError, parseJsonObject } from './metadata-http.js';
import { fetchOrDefault, parseIpAddress, type ProviderOptions, type VpcIpProvider } from './provider.js';

export const AWS_IMDS_BASE_URL = 'http://169.254.169.254';
/** Token lifetime requested from IMDSv2 (the AWS SDK's default); the token is used once, right away. */
export const AWS_IMDS_TOKEN_TTL_SECONDS = 21_600;

/**
 * AWS: IMDSv2 — `PUT /latest/api/token` (header `X-aws-ec2-metadata-token-ttl-seconds`),
 * then `GET /latest/dynamic/instance-identity/document` with `X-aws-ec2-metadata-token`;
 * the VPC IP is the document's `privateIp` (the value Go uses).
 *
 * Differences from Go (which builds a full AWS SDK client): no region/SDK
 * config, and no `ec2:DescribeInstances` call for the `constellation-role`
 * tag — so missing IAM permissions do not fail the lookup; no IMDSv1
 * fallback. Non-2xx answers, non-JSON bodies, a missing/non-string
 * `privateIp` and non-IP values are errors. The token is never logged or put
 * into an error message.
 */
export function createAwsProvider(o: ProviderOptions = {}): VpcIpProvider {
  const base = o.baseUrl ?? AWS_IMDS_BASE_URL;
  const fetch = fetchOrDefault(o);
  return {
    name: 'aws',
    async getVpcIp(signal?: AbortSignal): Promise<string> {
      const tokenReq = { method: 'PUT' as const, url: joinUrl(base, '/latest/api/token') };
      const tokenRes = await fetch({ ...tokenReq, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(AWS_IMDS_TOKEN_TTL_SECONDS) }, signal });
      expectOk(tokenReq, tokenRes);
      const token = tokenRes.body.trim();
      if (token === '') throw metadataError(tokenReq, 'IMDSv2 returned an empty token');
      if (!/^[\x21-\x7e]+$/.test(token)) throw metadataError(tokenReq, 'IMDSv2 token contains characters not allowed in a header');

      const docReq = { method: 'GET' as const, url: joinUrl(base, '/latest/dynamic/instance-identity/document') };
      const docRes = await fetch({ ...docReq, headers: { 'X-aws-ec2-metadata-token': token }, signal });
      expectOk(docReq, docRes);
      const doc = parseJsonObject(docReq, docRes);
      if (!('privateIp' in doc)) throw metadataError(docReq, 'instance identity document has no privateIp');
      return parseIpAddress(doc['privateIp'], 'aws: instance identity document privateIp');
    },
  };
}

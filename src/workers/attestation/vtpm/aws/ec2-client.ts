/**
 * EC2 DescribeImages over the Query protocol (tpm-attestation.md §11.4):
 *
 *   POST https://ec2.<region>.amazonaws.com/
 *   Content-Type: application/x-www-form-urlencoded; charset=utf-8
 *   X-Amz-Date, [X-Amz-Security-Token], Authorization: AWS4-HMAC-SHA256 …   (SigV4, service "ec2")
 *
 *   Action=DescribeImages&Version=2016-11-15&ImageId.1=<ami-…>
 *
 *   → <DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
 *       <requestId>…</requestId>
 *       <imagesSet><item><imageId>ami-…</imageId>…<tpmSupport>v2.0</tpmSupport>…</item></imagesSet>
 *     </DescribeImagesResponse>
 *   errors → <Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>
 *
 * Error texts follow aws-sdk-go-v2's operation errors:
 * `operation error EC2: DescribeImages, https response error StatusCode: 400, RequestID: …, api error InvalidAMIID.NotFound: …`.
 * One attempt per call (no SDK-style retries; the joining node retries).
 */
import { capText, checkApiBaseUrl, CloudApiError, HttpFailure, isUpstreamStatus, nodeHttpTransport, type HttpResponse, type HttpTransport } from '../http-client.js';
import { createDefaultCredentialsProvider, type AwsCredentialsProvider } from './aws-credentials.js';
import { defaultEc2Endpoint } from './instance-identity.js';
import { awsUriEncode, signV4, type AwsCredentials } from './sigv4.js';

export const EC2_API_VERSION = '2016-11-15';
export const DEFAULT_EC2_TIMEOUT_MS = 10_000;
/** One image's description is a few KiB. */
export const DEFAULT_EC2_MAX_BYTES = 1024 * 1024;

export interface Ec2Image {
  imageId: string;
  /** `tpmSupport` as returned (`v2.0`), undefined when absent. */
  tpmSupport: string | undefined;
}

export interface Ec2ImageClient {
  /** DescribeImages with ImageIds = [imageId] in `region`; throws CloudApiError with the SDK-like text. */
  describeImages(region: string, imageId: string): Promise<Ec2Image[]>;
  /** The endpoint used for a region (part of cache keys). */
  endpointFor(region: string): string;
}

export interface Ec2ClientOptions {
  /** Endpoint (base URL) per region; default `https://ec2.<region>.amazonaws.com` (`.com.cn` for cn-*). */
  endpointFor?: (region: string) => string;
  credentialsProvider?: AwsCredentialsProvider;
  /** Per-request deadline of the API call, default 10 s (credential requests have their own 2 s each; together well inside the 30 s pool deadline). */
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Wall clock for signing, default `new Date()`. */
  clock?: () => Date;
  transport?: HttpTransport;
}

const OP = 'operation error EC2: DescribeImages, ';

export function createEc2Client(o: Ec2ClientOptions = {}): Ec2ImageClient {
  const endpointOf = o.endpointFor ?? defaultEc2Endpoint;
  const credentialsProvider = o.credentialsProvider ?? createDefaultCredentialsProvider();
  const timeoutMs = o.timeoutMs ?? DEFAULT_EC2_TIMEOUT_MS;
  const maxResponseBytes = o.maxResponseBytes ?? DEFAULT_EC2_MAX_BYTES;
  const clock = o.clock ?? (() => new Date());
  const transport = o.transport ?? nodeHttpTransport;

  const endpointFor = (region: string): string => checkApiBaseUrl(endpointOf(region), 'EC2 endpoint');

  return {
    endpointFor,
    async describeImages(region, imageId) {
      let endpoint: string;
      try {
        endpoint = endpointFor(region);
      } catch (err) {
        throw new CloudApiError(`${OP}${(err as Error).message}`, false, undefined, { cause: err });
      }
      let creds: AwsCredentials;
      try {
        creds = await credentialsProvider.getCredentials();
      } catch (err) {
        throw new CloudApiError(`${OP}get identity: get credentials: ${err instanceof Error ? err.message : String(err)}`, true, undefined, { cause: err });
      }
      const url = new URL(`${endpoint}/`);
      const body = [
        ['Action', 'DescribeImages'],
        ['Version', EC2_API_VERSION],
        ['ImageId.1', imageId],
      ]
        .map(([k, v]) => `${awsUriEncode(k!)}=${awsUriEncode(v!)}`)
        .join('&');
      const signed = signV4(
        { method: 'POST', host: url.host, path: url.pathname, headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' }, body },
        { credentials: creds, region, service: 'ec2', date: clock() },
      );
      let res: HttpResponse;
      try {
        res = await transport({
          method: 'POST',
          url: url.toString(),
          headers: { ...signed.headers, 'User-Agent': 'constellation-joinservice-ts' },
          body,
          timeoutMs,
          maxResponseBytes,
        });
      } catch (err) {
        if (!(err instanceof HttpFailure)) throw err;
        throw new CloudApiError(`${OP}https response error StatusCode: 0, RequestID: , request send failed, ${err.message}`, true, undefined, { cause: err });
      }
      const text = res.body.toString('utf8');
      if (res.status < 200 || res.status > 299) throw apiError(res, text);
      let root: XmlElement;
      try {
        root = parseXml(text);
      } catch (err) {
        throw new CloudApiError(`${OP}deserialization failed, failed to decode response body, ${(err as Error).message}`, true, res.status);
      }
      if (root.name !== 'DescribeImagesResponse') {
        throw new CloudApiError(`${OP}deserialization failed, unexpected root element ${JSON.stringify(capText(root.name, 64))}`, true, res.status);
      }
      const items = child(root, 'imagesSet')?.children.filter((c) => c.name === 'item') ?? [];
      return items.map((item) => ({ imageId: child(item, 'imageId')?.text ?? '', tpmSupport: child(item, 'tpmSupport')?.text }));
    },
  };
}

/** EC2 error codes that are the service's or the join service's problem, not the node's. */
const UPSTREAM_CODES = /^(AuthFailure|UnauthorizedOperation|Blocked|OptInRequired|PendingVerification|RequestExpired|RequestLimitExceeded|Throttling|SignatureDoesNotMatch|InvalidClientTokenId|IncompleteSignature|MissingAuthenticationToken|InternalError|InternalFailure|ServiceUnavailable|Unavailable)/;

function apiError(res: HttpResponse, text: string): CloudApiError {
  let code = '';
  let message = '';
  let requestId = String(res.headers['x-amzn-requestid'] ?? '');
  try {
    const root = parseXml(text);
    const e = child(child(root, 'Errors'), 'Error') ?? child(root, 'Error');
    code = child(e, 'Code')?.text ?? '';
    message = child(e, 'Message')?.text ?? '';
    requestId = child(root, 'RequestID')?.text ?? child(root, 'RequestId')?.text ?? requestId;
  } catch {
    // Not XML: the SDK reports the status only.
  }
  const upstream = isUpstreamStatus(res.status) || UPSTREAM_CODES.test(code);
  const detail = code !== '' ? `, api error ${capText(code, 100)}: ${capText(message)}` : '';
  return new CloudApiError(
    `${OP}https response error StatusCode: ${res.status}, RequestID: ${capText(requestId, 100)}${detail}`,
    upstream,
    res.status,
  );
}

// ---- a minimal XML reader -------------------------------------------------------------------------

export interface XmlElement {
  /** Local name (namespace prefix removed). */
  name: string;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (entities resolved). */
  text: string;
}

function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

const MAX_XML_DEPTH = 64;
const NAME = /^[A-Za-z_][\w.:-]*/;

/**
 * Parses the XML of an AWS Query response: one root element, nested
 * elements, attributes (skipped), character data with the five predefined
 * entities and numeric references, CDATA, comments and processing
 * instructions (skipped). DOCTYPEs (and so entity definitions) are refused.
 * Throws Error on anything malformed.
 */
export function parseXml(src: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = src.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = src.length;
  while (i < n) {
    const lt = src.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const raw = src.slice(i, textEnd);
      const top = stack[stack.length - 1];
      if (top) top.text += decodeEntities(raw);
      else if (raw.trim() !== '') throw new Error('character data outside the root element');
    }
    if (lt < 0) break;
    i = lt;
    if (src.startsWith('<?', i)) {
      const end = src.indexOf('?>', i + 2);
      if (end < 0) throw new Error('unterminated processing instruction');
      i = end + 2;
    } else if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
    } else if (src.startsWith('<![CDATA[', i)) {
      const end = src.indexOf(']]>', i + 9);
      const top = stack[stack.length - 1];
      if (end < 0 || !top) throw new Error('misplaced or unterminated CDATA section');
      top.text += src.slice(i + 9, end);
      i = end + 3;
    } else if (src.startsWith('<!', i)) {
      throw new Error('DOCTYPE and other declarations are not accepted');
    } else if (src.startsWith('</', i)) {
      const end = src.indexOf('>', i + 2);
      if (end < 0) throw new Error('unterminated end tag');
      const name = localName(src.slice(i + 2, end).trim());
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`unexpected end tag </${capText(name, 64)}>`);
      i = end + 1;
    } else {
      const end = findTagEnd(src, i + 1);
      let inner = src.slice(i + 1, end);
      const selfClosing = inner.endsWith('/');
      if (selfClosing) inner = inner.slice(0, -1);
      const m = NAME.exec(inner);
      if (!m) throw new Error('malformed start tag');
      const el: XmlElement = { name: localName(m[0]), children: [], text: '' };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new Error('more than one root element');
      else root = el;
      if (!selfClosing) {
        if (stack.length >= MAX_XML_DEPTH) throw new Error('XML nested too deeply');
        stack.push(el);
      }
      i = end + 1;
    }
  }
  if (stack.length > 0) throw new Error(`unexpected end of input inside <${capText(stack[stack.length - 1]!.name, 64)}>`);
  if (!root) throw new Error('no root element');
  return root;
}

/** The index of the `>` that ends a start tag, skipping quoted attribute values. */
function findTagEnd(src: string, from: number): number {
  let quote = '';
  for (let j = from; j < src.length; j++) {
    const c = src[j]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      return j;
    } else if (c === '<') {
      break;
    }
  }
  throw new Error('unterminated start tag');
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
}

const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;]{0,10});/g, (whole, ref: string) => {
    if (ref.startsWith('#x') || ref.startsWith('#X')) {
      const cp = /^[0-9a-fA-F]{1,6}$/.test(ref.slice(2)) ? parseInt(ref.slice(2), 16) : NaN;
      if (!(cp >= 0 && cp <= 0x10ffff)) throw new Error(`invalid character reference ${whole}`);
      return String.fromCodePoint(cp);
    }
    if (ref.startsWith('#')) {
      const cp = /^[0-9]{1,7}$/.test(ref.slice(1)) ? Number(ref.slice(1)) : NaN;
      if (!(cp >= 0 && cp <= 0x10ffff)) throw new Error(`invalid character reference ${whole}`);
      return String.fromCodePoint(cp);
    }
    const v = ENTITIES[ref];
    if (v === undefined) throw new Error(`unknown entity ${capText(whole, 16)}`);
    return v;
  });
}

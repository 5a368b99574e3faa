/**
 * PEM blocks with Go encoding/pem semantics, as far as the join service relies
 * on them: `-----BEGIN <type>-----`, optional `Key: value` headers ended by an
 * empty line, standard base64 body (whitespace ignored), `-----END <type>-----`.
 * A block whose body is not valid base64 or lacks its END line is skipped, and
 * the search continues after its BEGIN line, as pem.Decode does.
 */
export interface PemBlock {
  type: string;
  headers: Record<string, string>;
  bytes: Buffer;
}

const BEGIN = '-----BEGIN ';
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes the first valid PEM block at or after `from`; returns it and the offset after it. */
export function decodePem(text: string, from = 0): { block: PemBlock; rest: number } | undefined {
  for (let at = text.indexOf(BEGIN, from); at >= 0; at = text.indexOf(BEGIN, at + 1)) {
    // BEGIN must start a line.
    if (at > 0 && text[at - 1] !== '\n') continue;
    const lineEnd = text.indexOf('\n', at);
    if (lineEnd < 0) return undefined;
    const beginLine = text.slice(at, lineEnd).replace(/\r$/, '');
    if (!beginLine.endsWith('-----')) continue;
    const type = beginLine.slice(BEGIN.length, -5);
    const endMarker = `\n-----END ${type}-----`;
    const endAt = text.indexOf(endMarker, lineEnd);
    if (endAt < 0) continue;
    const body = text.slice(lineEnd + 1, endAt + 1);
    const { headers, base64 } = splitHeaders(body);
    const compact = base64.replace(/[ \t\r\n]/g, '');
    if (!STRICT_BASE64.test(compact)) continue;
    let rest = endAt + endMarker.length;
    const nl = text.indexOf('\n', rest);
    rest = nl < 0 ? text.length : nl + 1;
    return { block: { type, headers, bytes: Buffer.from(compact, 'base64') }, rest };
  }
  return undefined;
}

/** All valid PEM blocks of `text`, in order. */
export function decodeAllPem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (let r = decodePem(text); r; r = decodePem(text, r.rest)) out.push(r.block);
  return out;
}

function splitHeaders(body: string): { headers: Record<string, string>; base64: string } {
  const headers: Record<string, string> = {};
  const lines = body.split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const colon = line.indexOf(':');
    if (colon < 0) break;
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  // Headers must be followed by an empty line; without headers the body starts at once.
  if (i > 0 && lines[i]?.trim() === '') i++;
  return { headers, base64: lines.slice(i).join('\n') };
}

/** One PEM block, 64-column base64, trailing newline (Go pem.EncodeToMemory without headers). */
export function encodePem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${type}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${type}-----\n`;
}

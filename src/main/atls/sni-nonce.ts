/**
 * The client puts base64std(clientNonce) into SNI (atls.md §5.1). The join
 * service ignores the value, but a Go server aborts the handshake when it is
 * not decodable with Go's base64.StdEncoding (standard alphabet, padding
 * required, non-strict trailing bits, CR/LF skipped); we refuse the same SNIs.
 */
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isGoStdBase64(s: string): boolean {
  return STD_BASE64.test(s.replace(/[\r\n]/g, ''));
}

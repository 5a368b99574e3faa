/**
 * X.509 validity times with the acceptance rules of Go's cryptobyte
 * ReadASN1UTCTime / ReadASN1GeneralizedTime: a string is accepted only if
 * time.Parse accepts it and formatting the result with the same layout gives
 * the string back. That allows a `Z` or `±hhmm` zone (not `+0000`), UTCTime
 * with or without seconds, and no fractional seconds.
 */
import { contentOf, T, type DerCursor } from './der-cursor.js';

export interface GoTime {
  /** Milliseconds since the Unix epoch. */
  ms: number;
  /** The zone offset written in the certificate, in minutes east of UTC. */
  offsetMinutes: number;
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|[+-]\d{4})$/;

/** Go's readASN1Time: the next element must be a valid UTCTime or GeneralizedTime. */
export function readGoTime(c: DerCursor): GoTime | Error {
  const tag = c.peekTag();
  if (tag === T.UtcTime) {
    const el = c.read(T.UtcTime);
    const t = el && parseUtcTime(latin1(contentOf(el)));
    return t ?? new Error('x509: malformed UTCTime');
  }
  if (tag === T.GeneralizedTime) {
    const el = c.read(T.GeneralizedTime);
    const t = el && parseGeneralizedTime(latin1(contentOf(el)));
    return t ?? new Error('x509: malformed GeneralizedTime');
  }
  return new Error('x509: unsupported time format');
}

export function parseUtcTime(s: string): GoTime | undefined {
  const m = UTC_TIME.exec(s);
  if (!m) return undefined;
  const yy = Number(m[1]);
  return build(yy >= 50 ? 1900 + yy : 2000 + yy, m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '00', m[7]!);
}

export function parseGeneralizedTime(s: string): GoTime | undefined {
  const m = GENERALIZED_TIME.exec(s);
  if (!m) return undefined;
  return build(Number(m[1]), m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7]!);
}

function build(year: number, mo: string, d: string, h: string, mi: string, s: string, zone: string): GoTime | undefined {
  const [month, day, hour, minute, second] = [mo, d, h, mi, s].map(Number) as [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(3, 5));
    // Go formats a zero offset as "Z" and carries minutes ≥ 60 into hours, so those never round-trip.
    if (zh > 24 || zm > 59 || (zh === 0 && zm === 0)) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  const local = daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000;
  return { ms: local - offsetMinutes * 60_000, offsetMinutes };
}

function daysIn(month: number, year: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; Date.UTC mangles years < 100). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** Go's time.Format(time.RFC3339) of the instant in the given zone. */
export function formatRfc3339(ms: number, offsetMinutes = 0): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const date = `${String(d.getUTCFullYear()).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  if (offsetMinutes === 0) return `${date}T${time}Z`;
  const abs = Math.abs(offsetMinutes);
  return `${date}T${time}${offsetMinutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

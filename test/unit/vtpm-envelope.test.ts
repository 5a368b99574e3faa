import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import {
  decodeVtpmDocument,
  encodeVtpmDocument,
  ENVELOPE_ERROR_PREFIX,
  ENVELOPE_LIMITS,
  goString,
  strictBase64Decode,
} from '../../src/workers/attestation/vtpm/envelope.js';
import { selectSha256Quote } from '../../src/workers/attestation/vtpm/tpm/verify-attestation.js';
import { TpmAlg, type QuotedPcrs, type TpmAttestation, type TpmQuote, type VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';

// ---------------------------------------------------------------------------
// Honest documents (built with the encoder under test; the skeleton test checks it independently)

/** Deterministic pseudo-random bytes (xorshift32). */
function det(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const DIGEST: Record<number, number> = { [TpmAlg.SHA1]: 20, [TpmAlg.SHA256]: 32, [TpmAlg.SHA384]: 48, [TpmAlg.SHA512]: 64 };

function bank(hash: number, seed: number, indices: number[] = Array.from({ length: 24 }, (_, i) => i)): QuotedPcrs {
  return { hash, pcrs: new Map(indices.map((i) => [i, det(DIGEST[hash] ?? 32, seed * 100 + i)])) };
}

function quote(hash: number, seed: number, indices?: number[]): TpmQuote {
  return { quote: det(145, seed), rawSig: det(262, seed + 1), pcrs: bank(hash, seed, indices) };
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

function attestation(over: Partial<TpmAttestation> = {}): TpmAttestation {
  return {
    akPub: det(280, 1),
    quotes: [quote(TpmAlg.SHA1, 10), quote(TpmAlg.SHA256, 20)],
    eventLog: new Uint8Array(0),
    akCert: new Uint8Array(0),
    intermediateCerts: [],
    teeAttestation: 'null',
    ...over,
  };
}

const USER_DATA = det(32, 99);

const QEMU: VtpmDocument = { attestation: attestation(), instanceInfo: null, userData: USER_DATA };
const GCP: VtpmDocument = {
  attestation: attestation({
    quotes: [quote(TpmAlg.SHA1, 11), quote(TpmAlg.SHA256, 21), quote(TpmAlg.SHA384, 31)],
    eventLog: det(40 * 1024, 5),
    akCert: det(1500, 6),
  }),
  instanceInfo: utf8('{"zone":"europe-west3-b","project_id":"my-project","instance_name":"constell-worker-0001"}'),
  userData: USER_DATA,
};
const AZURE: VtpmDocument = {
  attestation: attestation({ eventLog: det(70 * 1024, 7) }),
  instanceInfo: utf8(`{"AkCert":"${Buffer.from(det(1400, 8)).toString('base64')}","CA":"${Buffer.from(det(1700, 9)).toString('base64')}"}`),
  userData: USER_DATA,
};
const AWS: VtpmDocument = {
  attestation: attestation({ eventLog: det(30 * 1024, 12) }),
  instanceInfo: utf8(
    '{"devpayProductCodes":null,"marketplaceProductCodes":null,"availabilityZone":"eu-central-1a","privateIp":"10.0.0.12","version":"2017-09-30","region":"eu-central-1","instanceId":"i-0123456789abcdef0","billingProducts":null,"instanceType":"m6a.xlarge","accountId":"123456789012","pendingTime":"2025-01-01T00:00:00Z","imageId":"ami-0123456789abcdef0","kernelId":"","ramdiskId":"","architecture":"x86_64"}',
  ),
  userData: USER_DATA,
};
/** Every member the decoder knows, including the ones Constellation never sets. */
const FULL: VtpmDocument = {
  attestation: attestation({
    quotes: [quote(TpmAlg.SHA1, 13), quote(TpmAlg.SHA256, 23), quote(TpmAlg.SHA384, 33), quote(TpmAlg.SHA512, 43)],
    eventLog: det(1000, 14),
    akCert: det(1200, 15),
    intermediateCerts: [det(900, 16), det(901, 17)],
    teeAttestation: 'sev-snp',
    gceInstanceInfo: { zone: 'us-central1-a', projectId: 'p<&>', projectNumber: 18446744073709551615n, instanceName: 'n\u2028"\\', instanceId: 42n },
    canonicalEventLog: det(500, 18),
  }),
  instanceInfo: new Uint8Array(0),
  userData: null,
};
const HONEST: Record<string, VtpmDocument> = { QEMU, GCP, AZURE, AWS, FULL };

const text = (d: VtpmDocument) => Buffer.from(encodeVtpmDocument(d)).toString('utf8');
const decode = (s: string | Uint8Array) => decodeVtpmDocument(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

function malformed(input: string | Uint8Array): JoinServiceError {
  try {
    decode(input);
  } catch (err) {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    assert.equal(err.code, ErrorCode.AttestationMalformed);
    assert.ok(err.message.startsWith(ENVELOPE_ERROR_PREFIX), err.message);
    return err;
  }
  assert.fail('document accepted');
}

/** Asserts rejection with exactly `path: reason` after the prefix. */
function rejects(input: string | Uint8Array, expected: string): void {
  assert.equal(malformed(input).message, ENVELOPE_ERROR_PREFIX + expected);
}

const SENTINEL = '\u0000@@sentinel@@';

/** Re-serialises `doc` with the value at `path` replaced by the raw JSON text `raw` (or deleted when undefined). */
function patch(doc: string, path: (string | number)[], raw?: string): string {
  const root = JSON.parse(doc) as unknown;
  let cur = root as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (raw === undefined) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
    return JSON.stringify(root);
  }
  cur[last] = SENTINEL;
  return JSON.stringify(root).replace(JSON.stringify(SENTINEL), raw);
}

/** A small document: one SHA-256 bank with PCRs 0 and 7. */
const MINI = text({ attestation: attestation({ quotes: [quote(TpmAlg.SHA256, 50, [0, 7])] }), instanceInfo: null, userData: USER_DATA });
const PCR7 = ['Attestation', 'quotes', 0, 'pcrs', 'pcrs', '7'];
const Q0 = 'Attestation.quotes[0]';

// ---------------------------------------------------------------------------

describe('vTPM envelope: honest documents', () => {
  for (const [name, doc] of Object.entries(HONEST)) {
    it(`${name}: decode(encode(x)) == x and encoding is stable`, () => {
      const bytes = encodeVtpmDocument(doc);
      const back = decodeVtpmDocument(bytes);
      assert.deepStrictEqual(back, doc);
      assert.deepStrictEqual(encodeVtpmDocument(back), bytes);
    });
  }

  it('reproduces the spec’s worked skeleton byte for byte (§2.4)', () => {
    const ak = det(280, 1);
    const sha1 = bank(TpmAlg.SHA1, 10).pcrs;
    const sha256 = bank(TpmAlg.SHA256, 20).pcrs;
    const q1 = quote(TpmAlg.SHA1, 10);
    const q2 = quote(TpmAlg.SHA256, 20);
    // Go sorts map keys as strings.
    const order = ['0', '1', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '2', '20', '21', '22', '23', '3', '4', '5', '6', '7', '8', '9'];
    const map = (m: Map<number, Uint8Array>) => order.map((k) => `"${k}":"${b64(m.get(Number(k))!)}"`).join(',');
    const expected =
      `{"Attestation":{"ak_pub":"${b64(ak)}","quotes":[` +
      `{"quote":"${b64(q1.quote)}","raw_sig":"${b64(q1.rawSig)}","pcrs":{"hash":4,"pcrs":{${map(sha1)}}}},` +
      `{"quote":"${b64(q2.quote)}","raw_sig":"${b64(q2.rawSig)}","pcrs":{"hash":11,"pcrs":{${map(sha256)}}}}` +
      `],"TeeAttestation":null},"InstanceInfo":null,"UserData":"${b64(USER_DATA)}"}`;
    assert.equal(b64(ak).length, 376);
    assert.equal(b64(USER_DATA).length, 44);
    assert.equal(text(QEMU), expected);
    const d = decode(expected);
    assert.deepStrictEqual(d, QEMU);
    assert.equal(d.attestation.quotes[1]!.pcrs!.hash, TpmAlg.SHA256);
    assert.deepStrictEqual([...d.attestation.quotes[0]!.pcrs!.pcrs.keys()], Array.from({ length: 24 }, (_, i) => i));
  });

  it('renders the optional members in Go’s order with Go’s string escaping', () => {
    const s = text(FULL);
    const keys = [...s.matchAll(/"([A-Za-z_]+)":/g)].map((m) => m[1]);
    const attestationKeys = keys.filter((k) =>
      ['ak_pub', 'quotes', 'event_log', 'instance_info', 'canonical_event_log', 'ak_cert', 'intermediate_certs', 'TeeAttestation'].includes(k!),
    );
    assert.deepStrictEqual(
      [...new Set(attestationKeys)],
      ['ak_pub', 'quotes', 'event_log', 'instance_info', 'canonical_event_log', 'ak_cert', 'intermediate_certs', 'TeeAttestation'],
    );
    assert.ok(
      s.includes(
        '"instance_info":{"zone":"us-central1-a","project_id":"p\\u003c\\u0026\\u003e","project_number":18446744073709551615,"instance_name":"n\\u2028\\"\\\\","instance_id":42}',
      ),
    );
    assert.ok(s.includes('"TeeAttestation":{"SevSnpAttestation":null}},"InstanceInfo":"","UserData":null}'));
    assert.equal(goString('\b\f\n\r\t\u0001\u007f<>&\u2029é\ud83d\ude00\ud800'), '"\\b\\f\\n\\r\\t\\u0001\u007f\\u003c\\u003e\\u0026\\u2029é\ud83d\ude00\\ufffd"');
  });

  it('omits empty omitempty members and zero GCE fields', () => {
    const doc: VtpmDocument = {
      attestation: attestation({ gceInstanceInfo: { zone: '', projectId: 'x', projectNumber: 0n, instanceName: '', instanceId: 0n } }),
      instanceInfo: null,
      userData: null,
    };
    const s = text(doc);
    assert.ok(s.includes('"instance_info":{"project_id":"x"}'));
    assert.ok(!s.includes('event_log') && !s.includes('ak_cert') && !s.includes('intermediate_certs'));
    assert.deepStrictEqual(decode(s), doc);
  });

  it('accepts every TeeAttestation form', () => {
    const forms: [string | undefined, TpmAttestation['teeAttestation']][] = [
      ['null', 'null'],
      [undefined, 'absent'],
      ['{}', 'empty'],
      ['{"SevSnpAttestation":null}', 'sev-snp'],
      ['{"SevSnpAttestation":{"report":{"version":2,"report_data":"AAAA","signature":"AQID"},"certificate_chain":{"vcek_cert":"AA=="},"product":{"name":1}}}', 'sev-snp'],
      // Content is not type-checked (documented decision): Go would reject this ill-typed report.
      ['{"SevSnpAttestation":{"report":"not an object","x":[1,{"y":null}]}}', 'sev-snp'],
      ['{"TdxAttestation":null}', 'tdx'],
      ['{"TdxAttestation":{"header":{"version":4},"signed_data":{"certification_data":{"qe_report_certification_data":{"pck_certificate_chain_data":{"pck_cert_chain":"AA=="}}}}}}', 'tdx'],
    ];
    for (const [raw, form] of forms) {
      const d = decode(patch(MINI, ['Attestation', 'TeeAttestation'], raw));
      assert.equal(d.attestation.teeAttestation, form, raw);
    }
  });

  it('accepts insignificant whitespace, member reordering, JSON escapes and null/"" where Go’s encoder may write them', () => {
    const spaced = ` \n${JSON.stringify(JSON.parse(MINI), null, 2).replace(/\n/g, '\r\n')}\t\n`;
    assert.deepStrictEqual(decode(spaced), decode(MINI));
    const parsed = JSON.parse(MINI) as Record<string, unknown>;
    const reordered = JSON.stringify({ UserData: parsed.UserData, InstanceInfo: parsed.InstanceInfo, Attestation: parsed.Attestation });
    assert.deepStrictEqual(decode(reordered), decode(MINI));
    // `\/` is '/', `\u0041` is 'A' (Go resolves escapes before base64).
    const escaped = patch(MINI, ['UserData'], '"\\u0041A\\/\\/"');
    assert.deepStrictEqual(decode(escaped).userData, Uint8Array.of(0x00, 0x0f, 0xff));
    assert.deepStrictEqual(decode(patch(MINI, ['UserData'], '""')).userData, new Uint8Array(0));
    assert.equal(decode(patch(MINI, ['UserData'], 'null')).userData, null);
    assert.deepStrictEqual(decode(patch(MINI, ['InstanceInfo'], '""')).instanceInfo, new Uint8Array(0));
    const esc = decode(patch(MINI, ['Attestation', 'instance_info'], '{"zone":"\\u003c"}'));
    assert.equal(esc.attestation.gceInstanceInfo?.zone, '<');
  });

  it('accepts PCR index 4294967295 and unknown banks with any value length up to 64', () => {
    let s = patch(MINI, [...PCR7.slice(0, -1), '4294967295'], `"${b64(det(32, 1))}"`);
    assert.ok(decode(s).attestation.quotes[0]!.pcrs!.pcrs.has(4294967295));
    s = patch(MINI, ['Attestation', 'quotes', 0, 'pcrs', 'hash'], '18'); // SM3_256
    s = patch(s, PCR7, `"${b64(det(64, 1))}"`);
    assert.equal(decode(s).attestation.quotes[0]!.pcrs!.hash, 18);
  });

  it('selects the first SHA-256 quote with Go’s texts', () => {
    assert.equal(selectSha256Quote(GCP.attestation.quotes), GCP.attestation.quotes[1]);
    const two = [quote(TpmAlg.SHA256, 1), quote(TpmAlg.SHA256, 2)];
    assert.equal(selectSha256Quote(two), two[0]);
    const fails: [(TpmQuote | null)[], string][] = [
      [[], 'attestation is missing quotes'],
      [[quote(TpmAlg.SHA1, 1), null, quote(TpmAlg.SHA256, 2)], 'quote is nil'],
      [[{ ...quote(TpmAlg.SHA1, 1), pcrs: null }], 'no PCR data in attestation'],
      [[quote(TpmAlg.SHA1, 1), quote(TpmAlg.SHA384, 2)], 'attestation did not include SHA256 hashed PCRs'],
    ];
    for (const [quotes, message] of fails) {
      assert.throws(
        () => selectSha256Quote(quotes),
        (err: unknown) => err instanceof JoinServiceError && err.code === ErrorCode.AttestationRejected && err.message === message,
      );
    }
    // A SHA-256 quote before the bad one wins (Go stops scanning).
    const first = quote(TpmAlg.SHA256, 1);
    assert.equal(selectSha256Quote([first, null]), first);
  });
});

describe('vTPM envelope: rejections', () => {
  it('rejects case-folded member names', () => {
    rejects(MINI.replace('"ak_pub":', '"AK_PUB":'), 'Attestation: member "AK_PUB" differs from "ak_pub" only in letter case (member names are case-sensitive)');
    rejects(MINI.replace('"ak_pub":', '"a\u212a_pub":'), 'Attestation: member "a\u212a_pub" differs from "ak_pub" only in letter case (member names are case-sensitive)');
    rejects(MINI.replace('"Attestation":', '"attestation":'), 'document: member "attestation" differs from "Attestation" only in letter case (member names are case-sensitive)');
    rejects(MINI.replace('"UserData":', '"userdata":'), 'document: member "userdata" differs from "UserData" only in letter case (member names are case-sensitive)');
    rejects(MINI.replace('"TeeAttestation":', '"teeAttestation":'), 'Attestation: member "teeAttestation" differs from "TeeAttestation" only in letter case (member names are case-sensitive)');
    rejects(MINI.replace('"raw_sig":', '"Raw_Sig":'), `${Q0}: member "Raw_Sig" differs from "raw_sig" only in letter case (member names are case-sensitive)`);
    rejects(MINI.replace('"hash":', '"HASH":'), `${Q0}.pcrs: member "HASH" differs from "hash" only in letter case (member names are case-sensitive)`);
    rejects(patch(MINI, ['Attestation', 'TeeAttestation'], '{"sevsnpattestation":null}'), 'Attestation.TeeAttestation: member "sevsnpattestation" differs from "SevSnpAttestation" only in letter case (member names are case-sensitive)');
  });

  it('rejects duplicate member names anywhere', () => {
    rejects(MINI.replace('{"Attestation":', `{"UserData":"${b64(USER_DATA)}","Attestation":`), 'document: duplicate member "UserData"');
    rejects(MINI.replace('"ak_pub":', `"ak_pub":"AAAA","ak_pub":`), 'Attestation: duplicate member "ak_pub"');
    rejects(MINI.replace('"pcrs":{"0":', `"pcrs":{"7":"${b64(det(32, 3))}","0":`), `${Q0}.pcrs.pcrs: duplicate member "7"`);
    rejects(patch(MINI, ['Attestation', 'TeeAttestation'], '{"SevSnpAttestation":{"report":{"a":1,"a":2}}}'), 'Attestation.TeeAttestation.SevSnpAttestation.report: duplicate member "a"');
  });

  it('rejects unknown members (documented decision)', () => {
    rejects(patch(MINI, ['Extra'], '1'), 'document: unknown member "Extra"');
    rejects(patch(MINI, ['Attestation', 'future_field'], '"AAAA"'), 'Attestation: unknown member "future_field"');
    rejects(patch(MINI, ['Attestation', 'quotes', 0, 'signature'], 'null'), `${Q0}: unknown member "signature"`);
    rejects(patch(MINI, ['Attestation', 'quotes', 0, 'pcrs', 'algo'], '11'), `${Q0}.pcrs: unknown member "algo"`);
    rejects(patch(MINI, ['Attestation', 'TeeAttestation'], '{"Other":{}}'), 'Attestation.TeeAttestation: unknown member "Other"');
    rejects(patch(MINI, ['Attestation', 'instance_info'], '{"zone":"a","region":"b"}'), 'Attestation.instance_info: unknown member "region"');
    // Messages stay short for huge keys.
    const err = malformed(patch(MINI, ['k'.repeat(100_000)], '1'));
    assert.ok(err.message.length < 300, err.message);
  });

  it('rejects non-canonical base64', () => {
    const at = `${Q0}.pcrs.pcrs["7"]`;
    const v = b64(det(32, 4)); // 44 chars, one '='
    const cases: [string, string][] = [
      [`${v.slice(0, 20)}\\n${v.slice(20)}`, 'line break (CR/LF) at offset 20'],
      [`${v.slice(0, 20)}\\r${v.slice(20)}`, 'line break (CR/LF) at offset 20'],
      [`${v.slice(0, 5)} ${v.slice(5)}`, 'whitespace at offset 5'],
      [`${v.slice(0, 5)}\\t${v.slice(5)}`, 'whitespace at offset 5'],
      [v.replace(/=+$/, ''), 'length 43 is not a multiple of 4 (missing padding or truncated)'],
      ['-' + v.slice(1), "URL-safe alphabet character '-' at offset 0"],
      ['_' + v.slice(1), "URL-safe alphabet character '_' at offset 0"],
      ['*' + v.slice(1), "invalid character '*' at offset 0"],
      ['\\u00e9' + v.slice(1), 'invalid character 0xc3 at offset 0'],
      ['AA==' + v.slice(4), "padding '=' before the end at offset 2"],
    ];
    for (const [raw, reason] of cases) rejects(patch(MINI, PCR7, `"${raw}"`), `${at}: not padded standard base64: ${reason}`);
    // Non-zero unused bits: "AB==" decodes like "AA==" in Go.
    rejects(patch(MINI, ['UserData'], '"AB=="'), 'UserData: not padded standard base64: non-zero unused bits in the last character (non-canonical)');
    rejects(patch(MINI, ['UserData'], '"AAB="'), 'UserData: not padded standard base64: non-zero unused bits in the last character (non-canonical)');
    rejects(patch(MINI, ['UserData'], '"A==="'), "UserData: not padded standard base64: padding '=' before the end at offset 1");
    rejects(patch(MINI, ['UserData'], '"===="'), "UserData: not padded standard base64: padding '=' before the end at offset 0");
    rejects(patch(MINI, ['UserData'], '"AA="'), 'UserData: not padded standard base64: length 3 is not a multiple of 4 (missing padding or truncated)');
    // The brief's example path.
    const qemu = patch(text(QEMU), ['Attestation', 'quotes', 1, 'pcrs', 'pcrs', '7'], '"AAAA\\nAAAA"');
    rejects(qemu, 'Attestation.quotes[1].pcrs.pcrs["7"]: not padded standard base64: line break (CR/LF) at offset 4');
    assert.deepStrictEqual(strictBase64Decode(Buffer.from('AQ==')), Uint8Array.of(1));
    assert.deepStrictEqual(strictBase64Decode(Buffer.from('')), new Uint8Array(0));
  });

  it('rejects ill-typed and non-canonical numbers', () => {
    const at = `${Q0}.pcrs.hash`;
    const hashPath = ['Attestation', 'quotes', 0, 'pcrs', 'hash'];
    const cases: [string, string][] = [
      ['"11"', 'expected a number, got string'],
      ['11.0', '"11.0" is not an integer literal (fraction)'],
      ['1e1', '"1e1" is not an integer literal (exponent)'],
      ['1.1E+1', '"1.1E+1" is not an integer literal (exponent)'],
      ['-1', 'negative number "-1"'],
      ['-0', 'negative number "-0"'],
      ['65536', '"65536" is out of range (maximum 65535)'],
      ['99999999999999999999999999', '"99999999999999999999999999" is out of range (maximum 65535)'],
      ['0', "0 is not a PCR bank (Go's encoder omits a zero hash)"],
      ['null', 'expected a number, got null'],
      ['true', 'expected a number, got boolean'],
      ['[11]', 'expected a number, got array'],
    ];
    for (const [raw, reason] of cases) rejects(patch(MINI, hashPath, raw), `${at}: ${reason}`);
    rejects(patch(MINI, hashPath, '1'.repeat(100_000)), `${at}: "${'1'.repeat(64)}…" is out of range (maximum 65535)`);
  });

  it('rejects non-canonical PCR indices', () => {
    const map = ['Attestation', 'quotes', 0, 'pcrs', 'pcrs'];
    const v = `"${b64(det(32, 5))}"`;
    const cases: [string, string][] = [
      ['07', 'PCR index "07" has a leading zero (Go\'s encoder writes canonical decimal)'],
      ['00', 'PCR index "00" has a leading zero (Go\'s encoder writes canonical decimal)'],
      ['-1', 'PCR index "-1" is not an unsigned decimal integer'],
      ['+1', 'PCR index "+1" is not an unsigned decimal integer'],
      ['', 'PCR index "" is not an unsigned decimal integer'],
      [' 1', 'PCR index " 1" is not an unsigned decimal integer'],
      ['0x7', 'PCR index "0x7" is not an unsigned decimal integer'],
      ['1.0', 'PCR index "1.0" is not an unsigned decimal integer'],
      ['4294967296', 'PCR index "4294967296" exceeds uint32'],
      ['18446744073709551616', 'PCR index "18446744073709551616" exceeds uint32'],
    ];
    for (const [key, reason] of cases) rejects(patch(MINI, [...map, key], v), `${Q0}.pcrs.pcrs[${JSON.stringify(key)}]: ${reason}`);
  });

  it('rejects PCR values of the wrong shape', () => {
    const at = `${Q0}.pcrs.pcrs["7"]`;
    rejects(patch(MINI, PCR7, `"${b64(det(31, 1))}"`), `${at}: 31 bytes, but a SHA-256 (hash 11) PCR value has 32`);
    rejects(patch(MINI, PCR7, `"${b64(det(48, 1))}"`), `${at}: 48 bytes, but a SHA-256 (hash 11) PCR value has 32`);
    rejects(patch(MINI, PCR7, '""'), `${at}: empty PCR value`);
    rejects(patch(MINI, PCR7, 'null'), `${at}: expected a base64 string, got null`);
    rejects(patch(MINI, PCR7, '[1,2]'), `${at}: expected a base64 string, got array`);
    rejects(patch(MINI, PCR7, `"${b64(det(67, 1))}"`), `${at}: 92 base64 characters exceed the limit of 64 bytes`);
    rejects(patch(MINI, PCR7, `"${b64(det(65, 1))}"`), `${at}: 65 bytes exceed the limit of 64 bytes`);
    rejects(patch(MINI, PCR7, `"${b64(det(66, 1))}"`), `${at}: 66 bytes exceed the limit of 64 bytes`);
  });

  it('rejects missing, null and empty required structures (never crashes)', () => {
    const cases: [string, string][] = [
      [patch(MINI, ['Attestation'], 'null'), 'Attestation: expected an object, got null'],
      [patch(MINI, ['Attestation']), 'document: missing required member "Attestation"'],
      [patch(MINI, ['InstanceInfo']), 'document: missing required member "InstanceInfo"'],
      [patch(MINI, ['UserData']), 'document: missing required member "UserData"'],
      [patch(MINI, ['Attestation'], '[]'), 'Attestation: expected an object, got array'],
      [patch(MINI, ['Attestation'], '{}'), 'Attestation: missing required member "ak_pub"'],
      [patch(MINI, ['Attestation', 'ak_pub']), 'Attestation: missing required member "ak_pub"'],
      [patch(MINI, ['Attestation', 'ak_pub'], '""'), "Attestation.ak_pub: empty value (Go's encoder omits empty members)"],
      [patch(MINI, ['Attestation', 'ak_pub'], 'null'), 'Attestation.ak_pub: expected a base64 string, got null'],
      [patch(MINI, ['Attestation', 'quotes']), 'Attestation: missing required member "quotes"'],
      [patch(MINI, ['Attestation', 'quotes'], '[]'), "Attestation.quotes: empty value (Go's encoder omits empty members)"],
      [patch(MINI, ['Attestation', 'quotes'], 'null'), 'Attestation.quotes: expected an array, got null'],
      [patch(MINI, ['Attestation', 'quotes'], '{}'), 'Attestation.quotes: expected an array, got object'],
      [patch(MINI, ['Attestation', 'quotes', 0], 'null'), `${Q0}: quote is null`],
      [patch(MINI, ['Attestation', 'quotes', 0], '"x"'), `${Q0}: expected an object, got string`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'pcrs']), `${Q0}: missing required member "pcrs"`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'pcrs'], 'null'), `${Q0}.pcrs: expected an object, got null`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'pcrs'], '{}'), `${Q0}.pcrs: missing required member "hash"`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'quote']), `${Q0}: missing required member "quote"`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'raw_sig'], '""'), `${Q0}.raw_sig: empty value (Go's encoder omits empty members)`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'pcrs', 'pcrs']), `${Q0}.pcrs: missing required member "pcrs"`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'pcrs', 'pcrs'], '{}'), `${Q0}.pcrs.pcrs: empty value (Go's encoder omits empty members)`],
      [patch(MINI, ['Attestation', 'quotes', 0, 'pcrs', 'pcrs'], '[]'), `${Q0}.pcrs.pcrs: expected an object, got array`],
      [patch(MINI, ['Attestation', 'event_log'], '""'), "Attestation.event_log: empty value (Go's encoder omits empty members)"],
      [patch(MINI, ['Attestation', 'event_log'], 'null'), 'Attestation.event_log: expected a base64 string, got null'],
      [patch(MINI, ['Attestation', 'ak_cert'], '5'), 'Attestation.ak_cert: expected a base64 string, got number'],
      [patch(MINI, ['Attestation', 'intermediate_certs'], '[]'), "Attestation.intermediate_certs: empty value (Go's encoder omits empty members)"],
      [patch(MINI, ['Attestation', 'intermediate_certs'], '[""]'), 'Attestation.intermediate_certs[0]: empty certificate'],
      [patch(MINI, ['Attestation', 'intermediate_certs'], '"AAAA"'), 'Attestation.intermediate_certs: expected an array, got string'],
      [patch(MINI, ['Attestation', 'canonical_event_log'], '""'), "Attestation.canonical_event_log: empty value (Go's encoder omits empty members)"],
      [patch(MINI, ['InstanceInfo'], '{}'), 'InstanceInfo: expected a base64 string, got object'],
      [patch(MINI, ['UserData'], '7'), 'UserData: expected a base64 string, got number'],
    ];
    for (const [doc, expected] of cases) rejects(doc, expected);
  });

  it('rejects bad TeeAttestation forms', () => {
    const tee = ['Attestation', 'TeeAttestation'];
    rejects(patch(MINI, tee, '"x"'), 'Attestation.TeeAttestation: expected an object or null, got string');
    rejects(patch(MINI, tee, '0'), 'Attestation.TeeAttestation: expected an object or null, got number');
    rejects(patch(MINI, tee, '[]'), 'Attestation.TeeAttestation: expected an object or null, got array');
    rejects(patch(MINI, tee, 'false'), 'Attestation.TeeAttestation: expected an object or null, got boolean');
    rejects(patch(MINI, tee, '{"SevSnpAttestation":5}'), 'Attestation.TeeAttestation.SevSnpAttestation: expected an object or null, got number');
    rejects(patch(MINI, tee, '{"TdxAttestation":[]}'), 'Attestation.TeeAttestation.TdxAttestation: expected an object or null, got array');
    rejects(patch(MINI, tee, '{"SevSnpAttestation":null,"TdxAttestation":null}'), 'Attestation.TeeAttestation: carries both SevSnpAttestation and TdxAttestation (a oneof holds one)');
  });

  it('rejects ill-typed GCE instance_info', () => {
    const info = ['Attestation', 'instance_info'];
    const at = 'Attestation.instance_info';
    rejects(patch(MINI, info, '{"project_number":0}'), `${at}.project_number: 0 (Go's encoder omits zero members)`);
    rejects(patch(MINI, info, '{"project_number":"1"}'), `${at}.project_number: expected a number, got string`);
    rejects(patch(MINI, info, '{"instance_id":-1}'), `${at}.instance_id: negative number "-1"`);
    rejects(patch(MINI, info, '{"instance_id":1.5}'), `${at}.instance_id: "1.5" is not an integer literal (fraction)`);
    rejects(patch(MINI, info, '{"instance_id":18446744073709551616}'), `${at}.instance_id: "18446744073709551616" is out of range (maximum 18446744073709551615)`);
    rejects(patch(MINI, info, '{"zone":""}'), `${at}.zone: empty value (Go's encoder omits empty members)`);
    rejects(patch(MINI, info, '{"zone":5}'), `${at}.zone: expected a string, got number`);
    rejects(patch(MINI, info, `{"zone":"${'z'.repeat(257)}"}`), `${at}.zone: 257 bytes exceed the limit of 256 bytes`);
    rejects(patch(MINI, info, 'null'), `${at}: expected an object, got null`);
  });

  it('rejects non-object documents, bad syntax and trailing garbage', () => {
    rejects('null', 'document: expected an object, got null');
    rejects('[]', 'document: expected an object, got array');
    rejects('"x"', 'document: expected an object, got string');
    rejects('42', 'document: expected an object, got number');
    rejects('', 'document: invalid JSON at byte offset 0: unexpected end of JSON input');
    rejects(`${MINI}x`, `document: invalid JSON at byte offset ${MINI.length + 1}: invalid character 'x' after top-level value`);
    rejects(`${MINI}{}`, `document: invalid JSON at byte offset ${MINI.length + 1}: invalid character '{' after top-level value`);
    rejects(MINI.slice(0, 100), 'document: invalid JSON at byte offset 100: unexpected end of JSON input');
    assert.match(malformed(patch(MINI, ['UserData'], "'AAAA'")).message, /document: invalid JSON at byte offset \d+: invalid character '\\'' looking for beginning of value/);
  });

  it('rejects deep nesting', () => {
    const tee = ['Attestation', 'TeeAttestation'];
    const deep = (n: number) => `{"SevSnpAttestation":${'['.repeat(n)}${']'.repeat(n)}}`;
    decode(patch(MINI, tee, `{"SevSnpAttestation":{"a":${'['.repeat(28)}${']'.repeat(28)}}}`)); // depth 32
    const err = malformed(patch(MINI, tee, `{"SevSnpAttestation":{"a":${'['.repeat(29)}${']'.repeat(29)}}}`));
    assert.equal(err.message, `${ENVELOPE_ERROR_PREFIX}Attestation.TeeAttestation.SevSnpAttestation.a${'[0]'.repeat(28)}: nesting deeper than 32 levels`);
    assert.match(malformed(patch(MINI, tee, deep(40))).message, /: nesting deeper than 32 levels$/);
    // Go's scanner limit (10000) reports a syntax error first.
    assert.match(malformed(patch(MINI, tee, deep(20_000))).message, /document: invalid JSON at byte offset \d+: invalid character '\[' exceeded max depth$/);
    assert.match(malformed('['.repeat(100_000)).message, /exceeded max depth/);
  });

  it('enforces the size limits', () => {
    const L = ENVELOPE_LIMITS;
    const big = (n: number) => `"${b64(det(n, 77))}"`;
    const cases: [(string | number)[], number, string][] = [
      [['Attestation', 'ak_pub'], L.akPubBytes, 'Attestation.ak_pub'],
      [['Attestation', 'quotes', 0, 'quote'], L.quoteBytes, `${Q0}.quote`],
      [['Attestation', 'quotes', 0, 'raw_sig'], L.rawSigBytes, `${Q0}.raw_sig`],
      [['Attestation', 'event_log'], L.eventLogBytes, 'Attestation.event_log'],
      [['Attestation', 'canonical_event_log'], L.canonicalEventLogBytes, 'Attestation.canonical_event_log'],
      [['Attestation', 'ak_cert'], L.akCertBytes, 'Attestation.ak_cert'],
      [['Attestation', 'intermediate_certs'], L.intermediateCertBytes, 'Attestation.intermediate_certs[0]'],
      [['InstanceInfo'], L.instanceInfoBytes, 'InstanceInfo'],
      [['UserData'], L.userDataBytes, 'UserData'],
    ];
    for (const [path, max, at] of cases) {
      const wrap = (s: string) => (at.endsWith('[0]') ? `[${s}]` : s);
      decode(patch(MINI, path, wrap(big(max))));
      // Over the limit but within the base64 length of `max` bytes: checked after decoding.
      const chars = (n: number) => 4 * Math.ceil(n / 3);
      for (const n of [max + 1, max + 2, max + 3]) {
        const reason = chars(n) > chars(max) ? `${chars(n)} base64 characters exceed the limit of ${max} bytes` : `${n} bytes exceed the limit of ${max} bytes`;
        rejects(patch(MINI, path, wrap(big(n))), `${at}: ${reason}`);
      }
    }
    const quotes = Array.from({ length: L.quotes + 1 }, (_, i) => quote(TpmAlg.SHA256, i, [0]));
    rejects(text({ ...QEMU, attestation: attestation({ quotes }) }), `Attestation.quotes: 9 quotes exceed the limit of ${L.quotes}`);
    decode(text({ ...QEMU, attestation: attestation({ quotes: quotes.slice(1) }) }));
    const many = Array.from({ length: L.pcrsPerBank + 1 }, (_, i) => i);
    rejects(text({ ...QEMU, attestation: attestation({ quotes: [quote(TpmAlg.SHA256, 1, many)] }) }), `${Q0}.pcrs.pcrs: 65 PCRs exceed the limit of ${L.pcrsPerBank} per bank`);
    decode(text({ ...QEMU, attestation: attestation({ quotes: [quote(TpmAlg.SHA256, 1, many.slice(1))] }) }));
    const certs = Array.from({ length: L.intermediateCerts + 1 }, (_, i) => det(10, i));
    rejects(text({ ...QEMU, attestation: attestation({ intermediateCerts: certs }) }), `Attestation.intermediate_certs: 9 certificates exceed the limit of ${L.intermediateCerts}`);
    // Whole document, checked before parsing.
    const huge = new Uint8Array(L.documentBytes + 1).fill(0x20);
    rejects(huge, `document: ${L.documentBytes + 1} bytes exceed the limit of ${L.documentBytes} bytes`);
  });
});

// ---------------------------------------------------------------------------
// Fuzzing

const FUZZ_SEED = Number(process.env.VTPM_FUZZ_SEED ?? 0x5eed1234);
const FUZZ_RUNS = Number(process.env.VTPM_FUZZ_RUNS ?? 2000);
/** Inputs larger than this are not decoded (the document limit is checked before anything else anyway). */
const MAX_FUZZ_INPUT = 300 * 1024;

const FUZZ_BASES = [MINI, text(QEMU), text(FULL), text({ ...GCP, attestation: { ...GCP.attestation, eventLog: det(300, 3) } })];
const KEYS = ['Attestation', 'InstanceInfo', 'UserData', 'ak_pub', 'quotes', 'event_log', 'instance_info', 'canonical_event_log', 'ak_cert', 'intermediate_certs', 'TeeAttestation', 'SevSnpAttestation', 'TdxAttestation', 'quote', 'raw_sig', 'pcrs', 'hash', '7', '07', 'zone', 'project_number'];
const TOKENS = ['null', '0', '-1', '1e1', '11.0', '11', '4294967296', '"x"', '""', '"AAAA"', '"AA=="', '"AB=="', '"AAAA\\n"', '{}', '[]', '[null]', 'true', '{"a":1}', '"\\u0000"', '"\\ud800"', '[[[[[[[[[[]]]]]]]]]]'];

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'token'; pos: number; token: string }
  | { kind: 'replaceValue'; node: number; value: unknown }
  | { kind: 'deleteMember'; node: number }
  | { kind: 'renameKey'; node: number; key: string; upper: boolean }
  | { kind: 'addMember'; node: number; key: string; raw: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('token' as const), pos: fc.nat(), token: fc.constantFrom(...TOKENS, ',', ':', '"', '\\', '\r\n', ' ') }),
  fc.record({ kind: fc.constant('replaceValue' as const), node: fc.nat(), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ kind: fc.constant('deleteMember' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('renameKey' as const), node: fc.nat(), key: fc.constantFrom(...KEYS), upper: fc.boolean() }),
  fc.record({ kind: fc.constant('addMember' as const), node: fc.nat(), key: fc.constantFrom(...KEYS), raw: fc.constantFrom(...TOKENS) }),
);

/** Containers of a parsed document (objects and arrays), in a stable order. */
function containers(root: unknown): (Record<string, unknown> | unknown[])[] {
  const out: (Record<string, unknown> | unknown[])[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v !== null && typeof v === 'object') {
      out.push(v as Record<string, unknown> | unknown[]);
      stack.push(...Object.values(v as object));
    }
  }
  return out;
}

function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const at = (pos: number) => (input.length === 0 ? 0 : pos % (input.length + 1));
  const splice = (pos: number, del: number, ins: Uint8Array) => {
    const p = at(pos);
    return Buffer.concat([input.subarray(0, p), ins, input.subarray(Math.min(input.length, p + del))]);
  };
  switch (m.kind) {
    case 'flip': {
      if (input.length === 0) return input;
      const out = Uint8Array.from(input);
      const i = m.pos % out.length;
      out[i] = out[i]! ^ (1 << m.bit);
      return out;
    }
    case 'truncate':
      return input.subarray(0, at(m.pos));
    case 'insert':
      return splice(m.pos, 0, m.bytes);
    case 'delete':
      return splice(m.pos, m.len, new Uint8Array(0));
    case 'token':
      return splice(m.pos, 0, Buffer.from(m.token));
    default:
      break;
  }
  // JSON-aware mutations need valid JSON; otherwise they are no-ops.
  let root: unknown;
  try {
    root = JSON.parse(Buffer.from(input).toString('utf8'));
  } catch {
    return input;
  }
  const nodes = containers(root);
  const node = nodes[m.node % nodes.length];
  if (node === undefined) return input;
  const keys = Object.keys(node);
  const key = keys.length === 0 ? undefined : keys[m.node % keys.length]!;
  const rec = node as Record<string, unknown>;
  switch (m.kind) {
    case 'replaceValue':
      if (key !== undefined) rec[key] = m.value;
      break;
    case 'deleteMember':
      if (key !== undefined) {
        if (Array.isArray(node)) node.splice(Number(key), 1);
        else delete rec[key];
      }
      break;
    case 'renameKey':
      if (key !== undefined && !Array.isArray(node)) {
        const v = rec[key];
        delete rec[key];
        rec[m.upper ? m.key.toUpperCase() : m.key] = v;
      }
      break;
    case 'addMember': {
      // Text-level so that duplicate and non-canonical keys survive JSON.stringify.
      if (Array.isArray(node)) break;
      rec[SENTINEL] = 0;
      const s = JSON.stringify(root).replace(`${JSON.stringify(SENTINEL)}:0`, `${JSON.stringify(m.key)}:${m.raw}`);
      return Buffer.from(s);
    }
  }
  return Buffer.from(JSON.stringify(root));
}

describe('vTPM envelope: fuzzing', () => {
  it(`mutated honest documents either decode or throw AttestationMalformed (seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs)`, (t) => {
    let accepted = 0;
    const reasons = new Map<string, number>();
    const property = fc.property(fc.constantFrom(...FUZZ_BASES), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (base, mutations) => {
      let input: Uint8Array = Buffer.from(base);
      for (const m of mutations) input = applyMutation(input, m);
      if (input.length > MAX_FUZZ_INPUT) return;
      let doc: VtpmDocument;
      try {
        doc = decodeVtpmDocument(input);
      } catch (err) {
        if (!(err instanceof JoinServiceError)) throw err;
        assert.equal(err.code, ErrorCode.AttestationMalformed);
        assert.ok(err.message.startsWith(ENVELOPE_ERROR_PREFIX));
        assert.ok(err.message.length < 600, `message too long: ${err.message.length}`);
        const reason = err.message.slice(ENVELOPE_ERROR_PREFIX.length).replace(/^[^:]*: /, '').replace(/[0-9"'].*$/, '');
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        return;
      }
      accepted++;
      // Whatever is accepted re-encodes to a document that decodes to the same model.
      assert.deepStrictEqual(decodeVtpmDocument(encodeVtpmDocument(doc)), doc);
    });
    try {
      fc.assert(property, { numRuns: FUZZ_RUNS, seed: FUZZ_SEED });
    } catch (err) {
      throw new Error(`fuzz failure (re-run with VTPM_FUZZ_SEED=${FUZZ_SEED}): ${(err as Error).message}`, { cause: err });
    }
    t.diagnostic(`accepted ${accepted}; rejection kinds: ${reasons.size}`);
    assert.ok(accepted > 0, 'no mutated document was accepted; the mutations are too destructive to be useful');
    assert.ok(reasons.size >= 10, `only ${reasons.size} kinds of rejection reached`);
  });

  it('random honest models round-trip', () => {
    const bytesArb = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
    const bankArb = fc.constantFrom(TpmAlg.SHA1, TpmAlg.SHA256, TpmAlg.SHA384, TpmAlg.SHA512, 18).chain((hash) =>
      fc
        .uniqueArray(fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength: 24 })
        .chain((indices) =>
          fc.tuple(...indices.map((i) => fc.tuple(fc.constant(i), bytesArb(DIGEST[hash] ?? 1, DIGEST[hash] ?? 64)))).map((entries) => ({ hash, pcrs: new Map(entries) })),
        ),
    );
    const plain = { noNullPrototype: true } as const;
    const quoteArb = fc.record({ quote: bytesArb(1, 300), rawSig: bytesArb(1, 300), pcrs: bankArb }, plain);
    const gceArb = fc.record({
      zone: fc.string({ maxLength: 20 }),
      projectId: fc.string({ unit: 'grapheme', maxLength: 20 }),
      projectNumber: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
      instanceName: fc.string({ unit: 'binary-ascii', maxLength: 20 }),
      instanceId: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
    }, plain);
    const attArb = fc.record(
      {
        akPub: bytesArb(1, 600),
        quotes: fc.array(quoteArb, { minLength: 1, maxLength: 5 }),
        eventLog: bytesArb(0, 500),
        akCert: bytesArb(0, 300),
        intermediateCerts: fc.array(bytesArb(1, 50), { maxLength: 3 }),
        teeAttestation: fc.constantFrom('null' as const, 'absent' as const, 'sev-snp' as const, 'tdx' as const, 'empty' as const),
        gceInstanceInfo: gceArb,
        canonicalEventLog: bytesArb(1, 100),
      },
      { requiredKeys: ['akPub', 'quotes', 'eventLog', 'akCert', 'intermediateCerts', 'teeAttestation'], ...plain },
    );
    const docArb = fc.record({ attestation: attArb, instanceInfo: fc.option(bytesArb(0, 200)), userData: fc.option(bytesArb(0, 64)) }, plain);
    fc.assert(
      fc.property(docArb, (doc) => {
        const bytes = encodeVtpmDocument(doc as VtpmDocument);
        assert.deepStrictEqual(decodeVtpmDocument(bytes), doc);
      }),
      { numRuns: 300, seed: FUZZ_SEED },
    );
  });
});

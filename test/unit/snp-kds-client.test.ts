import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { HttpFailure, type HttpRequest, type HttpResponse, type HttpTransport } from '../../src/workers/attestation/vtpm/http-client.js';
import {
  createKdsClient,
  DEFAULT_KDS_MAX_CERT_BYTES,
  KdsError,
  kdsCertChainUrl,
  kdsVcekUrl,
  parseKdsCertChain,
  parseRetryAfter,
  type KdsClientOptions,
  type VcekRequest,
} from '../../src/workers/attestation/snp/kds/kds-client.js';
import { KdsCache, vcekCacheKey, type KdsFetcher } from '../../src/workers/attestation/snp/kds/vcek-cache.js';
import { encodeTcbVersion, encodeTurinTcbVersion } from '../../src/workers/attestation/snp/report/tcb-version.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-http.js';
import { CONSTELLATION_ATTESTATION, readVector, readVectorText } from '../helpers/vectors.js';

const MILAN_CHAIN = readVectorText('amd/ask_ark_milan.pem');
const MILAN_VLEK_CHAIN = readVectorText('amd/ask_ark_milan_vlek.pem');
const ASK_MILAN_SHA256 = '67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b';
const ASVK_MILAN_SHA256 = 'c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5';
const ARK_MILAN_SHA256 = '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd';

/** Azure report (version 2, VCEK-signed) and its VCEK as AMD KDS serves it (DER). */
const REPORT = readVector(`${CONSTELLATION_ATTESTATION}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620');
const VCEK_DER = readVector(`${CONSTELLATION_ATTESTATION}/snp/testdata/vcek.cert`, 'b68af9a570db2b79fe686495dcb2c18f164ddcced5661781177012bbe67e564d');
const CHIP_ID_HEX = '9e44aaef02cfca6fddbaca669c6cfd29e1ab8d97ebc939857128acbb13b8740df31436d34e86e5f8ae0cdfeb3a0e185db46decac176cc77d761c22a1b9dcf25b';
const REPORT_VCEK: VcekRequest = { product: 'Milan', chipId: REPORT.subarray(0x1a0, 0x1e0), reportedTcb: REPORT.readBigUInt64LE(0x180) };

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A fake monotonic clock with a sleep that advances it and records every wait. */
function fakeTime() {
  const t = { now: 0, sleeps: [] as number[] };
  return {
    t,
    now: () => t.now,
    sleep: (ms: number, signal?: AbortSignal): Promise<void> => {
      if (signal?.aborted) return Promise.reject(new Error('aborted'));
      t.sleeps.push(ms);
      t.now += ms;
      return Promise.resolve();
    },
  };
}

type Reply = { status: number; body?: string | Buffer; headers?: Record<string, string> } | HttpFailure;

/** An injected transport answering from a script (the last entry repeats); records every request. */
function scripted(replies: Reply[]) {
  const requests: HttpRequest[] = [];
  const transport: HttpTransport = (req) => {
    requests.push(req);
    const r = replies[Math.min(requests.length - 1, replies.length - 1)]!;
    if (r instanceof HttpFailure) return Promise.reject(r);
    const body = typeof r.body === 'string' ? Buffer.from(r.body, 'latin1') : (r.body ?? Buffer.alloc(0));
    return Promise.resolve<HttpResponse>({ status: r.status, headers: r.headers ?? {}, body });
  };
  return { transport, requests };
}

function client(transport: HttpTransport, time = fakeTime(), extra: Partial<KdsClientOptions> = {}) {
  return createKdsClient({ transport, now: time.now, sleep: time.sleep, random: () => 0.5, retry: { jitter: 0 }, ...extra });
}

async function kdsFailure(p: Promise<unknown>): Promise<KdsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KdsError, `expected KdsError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('KDS URLs (§7)', () => {
  test('the Azure vector report gives the VCEK URL of its chip and REPORTED_TCB (lowercase hex, decimal SPLs)', () => {
    assert.equal(Buffer.from(REPORT_VCEK.chipId).toString('hex'), CHIP_ID_HEX);
    assert.equal(
      kdsVcekUrl('https://kdsintf.amd.com', REPORT_VCEK),
      `https://kdsintf.amd.com/vcek/v1/Milan/${CHIP_ID_HEX}?blSPL=2&teeSPL=0&snpSPL=6&ucodeSPL=93`,
    );
    assert.equal(createKdsClient().vcekUrl(REPORT_VCEK), `https://kdsintf.amd.com/vcek/v1/Milan/${CHIP_ID_HEX}?blSPL=2&teeSPL=0&snpSPL=6&ucodeSPL=93`);
  });

  test('reserved SPL bytes are not part of the URL; Genoa uses the same layout', () => {
    const tcb = encodeTcbVersion({ blSpl: 9, teeSpl: 1, spl4: 7, spl7: 3, snpSpl: 21, ucodeSpl: 255 });
    const chipId = Buffer.alloc(64, 0xab);
    assert.equal(kdsVcekUrl('https://kds.example', { product: 'Genoa', chipId, reportedTcb: tcb }), `https://kds.example/vcek/v1/Genoa/${'ab'.repeat(64)}?blSPL=9&teeSPL=1&snpSPL=21&ucodeSPL=255`);
  });

  test('Turin: the first 8 CHIP_ID bytes, the Turin TCB layout and fmcSPL (upstream go-sev-guest form)', () => {
    const chipId = Buffer.concat([Buffer.from('6bb1229b7692b710', 'hex'), Buffer.alloc(56)]);
    const tcb = encodeTurinTcbVersion({ fmcSpl: 1, blSpl: 1, teeSpl: 1, snpSpl: 4, ucodeSpl: 82 });
    assert.equal(kdsVcekUrl('https://kdsintf.amd.com', { product: 'Turin', chipId, reportedTcb: tcb }), 'https://kdsintf.amd.com/vcek/v1/Turin/6bb1229b7692b710?blSPL=1&teeSPL=1&snpSPL=4&ucodeSPL=82&fmcSPL=1');
  });

  test('cert_chain URLs for the VCEK and VLEK paths', () => {
    assert.equal(kdsCertChainUrl('https://kdsintf.amd.com', 'Milan', 'vcek'), 'https://kdsintf.amd.com/vcek/v1/Milan/cert_chain');
    assert.equal(kdsCertChainUrl('https://kdsintf.amd.com', 'Milan', 'vlek'), 'https://kdsintf.amd.com/vlek/v1/Milan/cert_chain');
    assert.equal(createKdsClient({ baseUrl: 'https://kds.example/' }).certChainUrl('Genoa', 'vcek'), 'https://kds.example/vcek/v1/Genoa/cert_chain');
  });

  test('malformed requests and base URLs are refused', () => {
    assert.throws(() => kdsVcekUrl('https://k', { ...REPORT_VCEK, chipId: Buffer.alloc(63) }), /CHIP_ID must be 64 bytes, got 63/);
    assert.throws(() => kdsVcekUrl('https://k', { ...REPORT_VCEK, product: 'Naples' as never }), /unknown AMD product line "Naples"/);
    assert.throws(() => kdsCertChainUrl('https://k', 'Milan', 'vxek' as never), /unknown KDS key kind/);
    assert.throws(() => createKdsClient({ baseUrl: 'http://kds.example' }), /must be an https URL/);
  });
});

describe('cert_chain parsing (go-sev-guest ParseProductCertChain)', () => {
  const [askPem, arkPem] = MILAN_CHAIN.split(/(?<=-----END CERTIFICATE-----\n)/) as [string, string];

  test('the real Milan VCEK and VLEK chains: intermediate first, ARK second', () => {
    const vcek = parseKdsCertChain(MILAN_CHAIN);
    assert.equal(sha256(vcek.askDer), ASK_MILAN_SHA256);
    assert.equal(sha256(vcek.arkDer), ARK_MILAN_SHA256);
    assert.equal(vcek.askPem, askPem);
    assert.equal(vcek.arkPem, arkPem);
    const vlek = parseKdsCertChain(Buffer.from(MILAN_VLEK_CHAIN));
    assert.equal(sha256(vlek.askDer), ASVK_MILAN_SHA256);
    assert.equal(sha256(vlek.arkDer), ARK_MILAN_SHA256);
  });

  test('text before the first block is skipped (Go pem.Decode); a missing final newline is fine', () => {
    assert.equal(sha256(parseKdsCertChain(`junk\n${MILAN_CHAIN}`).askDer), ASK_MILAN_SHA256);
    assert.equal(sha256(parseKdsCertChain(MILAN_CHAIN.replace(/\n$/, '')).arkDer), ARK_MILAN_SHA256);
  });

  test('one block, three blocks, trailing bytes, another block type, headers are refused', () => {
    assert.throws(() => parseKdsCertChain(askPem), /could not find ARK PEM block/);
    assert.throws(() => parseKdsCertChain(''), /could not find ASK or ASVK PEM block; could not find ARK PEM block/);
    assert.throws(() => parseKdsCertChain(MILAN_CHAIN + arkPem), /unexpected trailing bytes: \d+ bytes/);
    assert.throws(() => parseKdsCertChain(`${MILAN_CHAIN}garbage`), /unexpected trailing bytes: 7 bytes/);
    assert.throws(() => parseKdsCertChain(`${MILAN_CHAIN}\n`), /unexpected trailing bytes: 1 bytes/);
    assert.throws(() => parseKdsCertChain(askPem + arkPem.replaceAll('CERTIFICATE', 'PUBLIC KEY')), /the ARK PEM block type is PUBLIC KEY\. Expect CERTIFICATE/);
    assert.throws(() => parseKdsCertChain(askPem.replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n\n') + arkPem), /the ASK or ASVK PEM block has non-empty headers/);
  });

  test('an END line with trailing text is not a block (Go skips it)', () => {
    assert.throws(() => parseKdsCertChain(askPem + arkPem.replace('-----END CERTIFICATE-----', '-----END CERTIFICATE----- x')), /could not find ARK PEM block/);
  });
});

describe('KDS client over loopback HTTP', () => {
  let kds: LoopbackServer;
  let vcekPath = '';
  before(async () => {
    vcekPath = new URL(kdsVcekUrl('http://127.0.0.1', REPORT_VCEK)).pathname;
    kds = await startLoopbackServer((req) => {
      const path = req.url.split('?')[0];
      if (path === '/vcek/v1/Milan/cert_chain') return { headers: { 'content-type': 'application/x-pem-file' }, body: MILAN_CHAIN };
      if (path === '/vlek/v1/Milan/cert_chain') return { body: MILAN_VLEK_CHAIN };
      if (path === vcekPath) return { headers: { 'content-type': 'application/octet-stream' }, body: VCEK_DER };
      if (path === '/vcek/v1/Genoa/cert_chain') return { body: Buffer.alloc(70 * 1024, 0x41), chunked: true };
      if (path?.startsWith('/vcek/v1/Genoa/')) return { body: Buffer.alloc(DEFAULT_KDS_MAX_CERT_BYTES + 1, 0x30) };
      return { status: 404, body: 'Not Found' };
    });
  });
  after(() => kds.close());

  test('VCEK: GET of the §7 URL, DER returned as served', async () => {
    const c = createKdsClient({ baseUrl: kds.baseUrl });
    const der = await c.fetchVcek(REPORT_VCEK);
    assert.deepEqual(Buffer.from(der), VCEK_DER);
    const r = kds.requests.at(-1)!;
    assert.equal(r.method, 'GET');
    assert.equal(r.url, `/vcek/v1/Milan/${CHIP_ID_HEX}?blSPL=2&teeSPL=0&snpSPL=6&ucodeSPL=93`);
  });

  test('cert_chain: VCEK and VLEK paths', async () => {
    const c = createKdsClient({ baseUrl: kds.baseUrl });
    assert.equal(sha256((await c.fetchCertChain('Milan', 'vcek')).askDer), ASK_MILAN_SHA256);
    assert.equal(kds.requests.at(-1)!.url, '/vcek/v1/Milan/cert_chain');
    assert.equal(sha256((await c.fetchCertChain('Milan', 'vlek')).askDer), ASVK_MILAN_SHA256);
    assert.equal(kds.requests.at(-1)!.url, '/vlek/v1/Milan/cert_chain');
  });

  test('oversized bodies are refused without retry (declared and streamed)', async () => {
    const c = createKdsClient({ baseUrl: kds.baseUrl });
    const before = kds.requests.length;
    const e1 = await kdsFailure(c.fetchVcek({ product: 'Genoa', chipId: Buffer.alloc(64, 1), reportedTcb: 0n }));
    assert.equal(e1.kind, 'too-large');
    assert.match(e1.message, /exceeds the limit of 16384 bytes/);
    const e2 = await kdsFailure(c.fetchCertChain('Genoa', 'vcek'));
    assert.equal(e2.kind, 'too-large');
    assert.match(e2.message, /exceeds the limit of 65536 bytes/);
    assert.equal(kds.requests.length - before, 2);
  });

  test('404 fails at once: the node is blamed for a VCEK, KDS for a cert_chain', async () => {
    const c = createKdsClient({ baseUrl: kds.baseUrl });
    const before = kds.requests.length;
    const e = await kdsFailure(c.fetchVcek({ ...REPORT_VCEK, chipId: Buffer.alloc(64, 0x9e) }));
    assert.equal(e.kind, 'status');
    assert.equal(e.httpStatus, 404);
    assert.equal(e.upstream, false);
    assert.match(e.message, /^failed to retrieve http:\/\/127\.0\.0\.1:\d+\/vcek\/v1\/Milan\/(9e){64}\?blSPL=2&teeSPL=0&snpSPL=6&ucodeSPL=93: HTTP status 404 Not Found$/);
    const c2 = await kdsFailure(c.fetchCertChain('Turin', 'vlek'));
    assert.equal(c2.upstream, true);
    assert.equal(kds.requests.length - before, 2);
  });
});

describe('KDS client retries (fake clock)', () => {
  const chainOk: Reply = { status: 200, body: MILAN_CHAIN };

  test('429 and 503, then success: exponential backoff 1 s, 2 s', async () => {
    const time = fakeTime();
    const s = scripted([{ status: 429 }, { status: 503 }, chainOk]);
    const chain = await client(s.transport, time).fetchCertChain('Milan', 'vcek');
    assert.equal(sha256(chain.arkDer), ARK_MILAN_SHA256);
    assert.equal(s.requests.length, 3);
    assert.deepEqual(time.t.sleeps, [1000, 2000]);
  });

  test('network errors and request timeouts are retried', async () => {
    const time = fakeTime();
    const s = scripted([new HttpFailure('transport', 'Get "x": dial tcp: connect: connection refused'), new HttpFailure('timeout', 'Get "x": request timed out'), { status: 200, body: VCEK_DER }]);
    assert.deepEqual(Buffer.from(await client(s.transport, time).fetchVcek(REPORT_VCEK)), VCEK_DER);
    assert.deepEqual(time.t.sleeps, [1000, 2000]);
  });

  test('Retry-After (seconds, HTTP date) replaces the backoff delay', async () => {
    const time = fakeTime();
    const wall = Date.parse('2026-01-22T10:00:00Z');
    const s = scripted([{ status: 429, headers: { 'retry-after': '3' } }, { status: 503, headers: { 'retry-after': 'Thu, 22 Jan 2026 10:00:05 GMT' } }, chainOk]);
    await client(s.transport, time, { wallClock: () => wall }).fetchCertChain('Milan', 'vcek');
    assert.deepEqual(time.t.sleeps, [3000, 5000]);
    assert.equal(parseRetryAfter('soon', wall), undefined);
    assert.equal(parseRetryAfter(['7'], wall), 7000);
    assert.equal(parseRetryAfter('Thu, 22 Jan 2026 09:00:00 GMT', wall), 0);
  });

  test('a Retry-After beyond the honoured maximum ends the attempts at once', async () => {
    const time = fakeTime();
    const s = scripted([{ status: 429, headers: { 'retry-after': '3600' } }, chainOk]);
    const e = await kdsFailure(client(s.transport, time).fetchCertChain('Milan', 'vcek'));
    assert.equal(s.requests.length, 1);
    assert.deepEqual(time.t.sleeps, []);
    assert.equal(e.httpStatus, 429);
    assert.match(e.message, /HTTP status 429 Too Many Requests; KDS asked to retry after 3600 s, more than the 30 s honoured/);
  });

  test('the delay doubles up to the cap and the budget bounds the attempts', async () => {
    const time = fakeTime();
    const s = scripted([{ status: 500 }]);
    const e = await kdsFailure(client(s.transport, time, { retry: { jitter: 0, budgetMs: 120_000, maxDelayMs: 16_000 } }).fetchCertChain('Milan', 'vcek'));
    // Ten attempts (the default maximum) fit into 120 s: 1+2+4+8+16×5 = 95 s of waiting.
    assert.deepEqual(time.t.sleeps, [1000, 2000, 4000, 8000, 16000, 16000, 16000, 16000, 16000]);
    assert.equal(s.requests.length, 10); // maxAttempts
    assert.equal(e.upstream, true);
    assert.equal(e.kind, 'status');
    assert.match(e.message, /HTTP status 500 Internal Server Error \(after 10 attempts\)$/);
  });

  test("the caller's timeout shortens the budget (no wait that cannot end before it)", async () => {
    const time = fakeTime();
    const s = scripted([{ status: 503 }]);
    const e = await kdsFailure(client(s.transport, time).fetchCertChain('Milan', 'vcek', { timeoutMs: 5_000 }));
    assert.deepEqual(time.t.sleeps, [1000, 2000]); // 3 s spent; a 4 s wait would end at 7 s > 5 s
    assert.equal(e.kind, 'budget');
    assert.match(e.message, /no time left for a retry in 4000 ms within the 5000 ms budget/);
    // Per-request deadlines never exceed the remaining budget.
    assert.ok(s.requests.every((r) => r.timeoutMs <= 5000));
  });

  test('default policy: 1 s doubling inside a 20 s budget', async () => {
    const time = fakeTime();
    const s = scripted([{ status: 502 }]);
    await kdsFailure(client(s.transport, time, { retry: {}, random: () => 0 }).fetchCertChain('Milan', 'vcek'));
    assert.deepEqual(time.t.sleeps, [1000, 2000, 4000, 8000]);
  });

  test('jitter shortens delays by up to the configured fraction', async () => {
    const time = fakeTime();
    const s = scripted([{ status: 503 }, { status: 503 }, chainOk]);
    await createKdsClient({ transport: s.transport, now: time.now, sleep: time.sleep, random: () => 0.5 }).fetchCertChain('Milan', 'vcek');
    assert.deepEqual(time.t.sleeps, [900, 1800]);
  });

  test('4xx other than 408/429 fails immediately; 401/403 are blamed on KDS, the rest on the node', async () => {
    for (const status of [400, 401, 403, 404, 410]) {
      const time = fakeTime();
      const s = scripted([{ status }, chainOk]);
      const e = await kdsFailure(client(s.transport, time).fetchVcek(REPORT_VCEK));
      assert.equal(s.requests.length, 1, `status ${status}`);
      assert.deepEqual(time.t.sleeps, []);
      assert.equal(e.httpStatus, status);
      assert.equal(e.upstream, status === 401 || status === 403, `status ${status}`);
    }
  });

  test('a malformed answer is not retried: VCEK not DER, chain not two blocks', async () => {
    const s1 = scripted([{ status: 200, body: '<html>hello</html>' }]);
    const e1 = await kdsFailure(client(s1.transport).fetchVcek(REPORT_VCEK));
    assert.equal(e1.kind, 'malformed');
    assert.match(e1.message, /the answer is not one DER certificate/);
    const s2 = scripted([{ status: 200, body: MILAN_CHAIN + MILAN_CHAIN }]);
    const e2 = await kdsFailure(client(s2.transport).fetchCertChain('Milan', 'vcek'));
    assert.equal(e2.kind, 'malformed');
    assert.match(e2.message, /could not parse root cert_chain from .*: unexpected trailing bytes/);
    assert.equal(s1.requests.length + s2.requests.length, 2);
  });

  test('an all-zero CHIP_ID (MASK_CHIP_ID) is refused without a request', async () => {
    const s = scripted([{ status: 200, body: VCEK_DER }]);
    const e = await kdsFailure(client(s.transport).fetchVcek({ ...REPORT_VCEK, chipId: Buffer.alloc(64) }));
    assert.equal(e.upstream, false);
    assert.match(e.message, /CHIP_ID is all zeros/);
    assert.equal(s.requests.length, 0);
  });

  test('cancellation ends the retries', async () => {
    const ctl = new AbortController();
    const s = scripted([{ status: 503 }]);
    const time = fakeTime();
    const sleep = (ms: number, signal?: AbortSignal) => {
      ctl.abort();
      return time.sleep(ms, signal);
    };
    const e = await kdsFailure(createKdsClient({ transport: s.transport, now: time.now, sleep }).fetchCertChain('Milan', 'vcek', { signal: ctl.signal }));
    assert.equal(e.kind, 'aborted');
    assert.equal(s.requests.length, 1);
  });
});

/** A fetcher whose answers the test releases; counts calls. */
function gatedFetcher() {
  const calls: { what: string; release: (v: unknown) => void; fail: (e: unknown) => void }[] = [];
  const pending = (what: string) =>
    new Promise<never>((resolve, reject) => {
      calls.push({ what, release: resolve as (v: unknown) => void, fail: reject });
    });
  const fetcher: KdsFetcher = {
    baseUrl: 'https://kdsintf.amd.com',
    fetchVcek: (req) => pending(`vcek ${vcekCacheKey(req)}`),
    fetchCertChain: (product, kind) => pending(`chain ${product}/${kind}`),
  };
  return { fetcher, calls };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('KdsCache', () => {
  const chipReq = (i: number): VcekRequest => ({ product: 'Milan', chipId: Buffer.alloc(64, i + 1), reportedTcb: 0x5d06000000000002n });

  test('single flight: 10 concurrent misses of one VCEK → 1 request (over HTTP)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let requests = 0;
    const transport: HttpTransport = async () => {
      requests++;
      await gate;
      return { status: 200, headers: {}, body: VCEK_DER };
    };
    const cache = new KdsCache({ client: createKdsClient({ transport }) });
    const all = Array.from({ length: 10 }, () => cache.getVcek(REPORT_VCEK));
    await flush();
    release();
    const results = await Promise.all(all);
    assert.equal(requests, 1);
    for (const r of results) assert.deepEqual(Buffer.from(r), VCEK_DER);
    // A hit costs nothing; returned bytes are copies.
    results[0]![0] = 0;
    assert.deepEqual(Buffer.from(await cache.getVcek(REPORT_VCEK)), VCEK_DER);
    assert.equal(requests, 1);
  });

  test('keys: product + CHIP_ID + REPORTED_TCB; another TCB is another entry', () => {
    assert.equal(vcekCacheKey(REPORT_VCEK), `Milan/${CHIP_ID_HEX}/5d06000000000002`);
    assert.notEqual(vcekCacheKey(REPORT_VCEK), vcekCacheKey({ ...REPORT_VCEK, reportedTcb: 0x5d07000000000002n }));
  });

  test('LRU bound: the least recently used VCEK is evicted', async () => {
    let fetches = 0;
    const fetcher: KdsFetcher = { baseUrl: 'x', fetchVcek: () => (fetches++, Promise.resolve(new Uint8Array(VCEK_DER))), fetchCertChain: () => Promise.reject(new Error('unused')) };
    const cache = new KdsCache({ client: fetcher, vcekMaxEntries: 3 });
    for (let i = 0; i < 3; i++) await cache.getVcek(chipReq(i));
    await cache.getVcek(chipReq(0)); // 0 is now the most recent; 1 the least
    await cache.getVcek(chipReq(3));
    assert.equal(cache.vcekCount, 3);
    assert.equal(cache.hasVcek(chipReq(1)), false);
    assert.equal(cache.hasVcek(chipReq(0)), true);
    assert.equal(fetches, 4);
    await cache.getVcek(chipReq(1));
    assert.equal(fetches, 5);
  });

  test('deleteVcek forces a new fetch; entries expire after their TTL', async () => {
    let t = 0;
    let fetches = 0;
    const fetcher: KdsFetcher = { baseUrl: 'x', fetchVcek: () => (fetches++, Promise.resolve(new Uint8Array(VCEK_DER))), fetchCertChain: () => Promise.reject(new Error('unused')) };
    const cache = new KdsCache({ client: fetcher, now: () => t, vcekTtlMs: 1000 });
    await cache.getVcek(REPORT_VCEK);
    cache.deleteVcek(REPORT_VCEK);
    await cache.getVcek(REPORT_VCEK);
    t = 999;
    await cache.getVcek(REPORT_VCEK);
    assert.equal(fetches, 2);
    t = 2000;
    await cache.getVcek(REPORT_VCEK);
    assert.equal(fetches, 3);
  });

  test('a rejected VCEK request (404) is remembered briefly; upstream failures are not', async () => {
    let t = 0;
    let answer: KdsError = new KdsError('failed to retrieve u: HTTP status 404 Not Found', false, 'status', 'u', 1, 404);
    let fetches = 0;
    const fetcher: KdsFetcher = { baseUrl: 'x', fetchVcek: () => (fetches++, Promise.reject(answer)), fetchCertChain: () => Promise.reject(new Error('unused')) };
    const cache = new KdsCache({ client: fetcher, now: () => t, vcekNegativeTtlMs: 60_000 });
    await kdsFailure(cache.getVcek(REPORT_VCEK));
    const again = await kdsFailure(cache.getVcek(REPORT_VCEK));
    assert.equal(fetches, 1);
    assert.equal(again.httpStatus, 404);
    assert.match(again.message, /\(remembered\)$/);
    t = 60_000;
    answer = new KdsError('failed to retrieve u: HTTP status 503 Service Unavailable', true, 'status', 'u', 1, 503);
    await kdsFailure(cache.getVcek(REPORT_VCEK));
    await kdsFailure(cache.getVcek(REPORT_VCEK));
    assert.equal(fetches, 3);
  });

  test('a waiter that gives up does not fail the shared load', async () => {
    const { fetcher, calls } = gatedFetcher();
    const cache = new KdsCache({ client: fetcher });
    const ctl = new AbortController();
    const first = cache.getVcek(REPORT_VCEK, { signal: ctl.signal });
    const second = cache.getVcek(REPORT_VCEK);
    await flush();
    ctl.abort();
    const e = await kdsFailure(first);
    assert.equal(e.kind, 'aborted');
    calls[0]!.release(new Uint8Array(VCEK_DER));
    assert.deepEqual(Buffer.from(await second), VCEK_DER);
    assert.equal(calls.length, 1);
  });

  test('cert_chain: single flight for the first fetch, then served from the cache', async () => {
    const { fetcher, calls } = gatedFetcher();
    const cache = new KdsCache({ client: fetcher });
    const all = Array.from({ length: 10 }, () => cache.getCertChain('Milan', 'vcek'));
    await flush();
    assert.equal(calls.length, 1);
    calls[0]!.release(parseKdsCertChain(MILAN_CHAIN));
    for (const r of await Promise.all(all)) assert.equal(sha256(r.chain.askDer), ASK_MILAN_SHA256);
    const hit = await cache.getCertChain('Milan', 'vcek');
    assert.equal(hit.stale, false);
    assert.equal(calls.length, 1);
    // VLEK is a separate entry.
    const vlek = cache.getCertChain('Milan', 'vlek');
    await flush();
    assert.equal(calls.length, 2);
    assert.equal(calls[1]!.what, 'chain Milan/vlek');
    calls[1]!.release(parseKdsCertChain(MILAN_VLEK_CHAIN));
    assert.equal(sha256((await vlek).chain.askDer), ASVK_MILAN_SHA256);
  });

  test('cert_chain: without a cached chain a failure reaches the caller', async () => {
    const { fetcher, calls } = gatedFetcher();
    const cache = new KdsCache({ client: fetcher });
    const p = cache.getCertChain('Milan', 'vcek');
    await flush();
    calls[0]!.fail(new KdsError('failed to retrieve u: HTTP status 503 Service Unavailable', true, 'status', 'u', 3, 503));
    assert.equal((await kdsFailure(p)).httpStatus, 503);
  });

  test('cert_chain stale-on-error: refreshed after the TTL in the background; stale served while KDS fails, reported once', async () => {
    let t = 0;
    const { fetcher, calls } = gatedFetcher();
    const warnings: { msg: string; attrs: Record<string, unknown> }[] = [];
    const cache = new KdsCache({ client: fetcher, now: () => t, chainTtlMs: 1000, chainRefreshRetryMs: 500, warn: (msg, attrs) => warnings.push({ msg, attrs }) });
    const first = cache.getCertChain('Milan', 'vcek');
    await flush();
    calls[0]!.release(parseKdsCertChain(MILAN_CHAIN));
    await first;

    t = 1000; // expired: served stale at once, one refresh starts
    const stale = await cache.getCertChain('Milan', 'vcek');
    assert.equal(stale.stale, true);
    assert.equal(sha256(stale.chain.askDer), ASK_MILAN_SHA256);
    assert.equal(calls.length, 2);
    await cache.getCertChain('Milan', 'vcek'); // refresh still running: no second request
    assert.equal(calls.length, 2);
    calls[1]!.fail(new KdsError('failed to retrieve u: HTTP status 503 Service Unavailable', true, 'status', 'u', 5, 503));
    await cache.idle();
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.msg, 'AMD KDS cert_chain refresh failed; serving the cached chain');
    assert.match(String(warnings[0]!.attrs['error']), /503/);

    t = 1200; // within the refresh retry interval: stale, no request
    assert.equal((await cache.getCertChain('Milan', 'vcek')).stale, true);
    assert.equal(calls.length, 2);

    t = 1500; // next refresh fails too: still stale, not reported again
    await cache.getCertChain('Milan', 'vcek');
    assert.equal(calls.length, 3);
    calls[2]!.fail(new KdsError('failed to retrieve u: connection refused', true, 'transport', 'u', 5));
    await cache.idle();
    assert.equal(warnings.length, 1);

    t = 2000; // KDS is back: refreshed, fresh again
    await cache.getCertChain('Milan', 'vcek');
    calls[3]!.release(parseKdsCertChain(MILAN_CHAIN));
    await cache.idle();
    const fresh = await cache.getCertChain('Milan', 'vcek');
    assert.equal(fresh.stale, false);
    assert.equal(calls.length, 4);
    assert.equal(warnings.length, 2);
    assert.equal(warnings[1]!.msg, 'AMD KDS cert_chain refreshed after earlier failures');
  });

  test('invalidateCertChain drops the chain: the next use fetches in the foreground', async () => {
    const { fetcher, calls } = gatedFetcher();
    const cache = new KdsCache({ client: fetcher });
    const p = cache.getCertChain('Milan', 'vcek');
    await flush();
    calls[0]!.release(parseKdsCertChain(MILAN_CHAIN));
    await p;
    cache.invalidateCertChain('Milan', 'vcek');
    const q = cache.getCertChain('Milan', 'vcek');
    await flush();
    assert.equal(calls.length, 2);
    calls[1]!.release(parseKdsCertChain(MILAN_CHAIN));
    assert.equal((await q).stale, false);
  });
});

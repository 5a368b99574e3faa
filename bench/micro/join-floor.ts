/**
 * The crypto floor of one join: the cryptography the SERVER cannot avoid for
 * one full IssueJoinTicket join of a Go node (aTLS handshake, client
 * certificate and attestation checks, ticket signatures), each primitive
 * measured in-process with the fastest node:crypto API. It is the
 * denominator of the benchmark's headline ratio "server CPU per join ÷ floor".
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/join-floor.js [--variant qemu-vtpm|dummy|azure-sev-snp|aws-sev-snp|gcp-sev-snp]
 *        [--rounds N] [--quick] [--json] [--pki-dir DIR]
 *
 * `--pki-dir`: SEV-SNP variants, the synthetic AMD PKI directory (the join
 * benchmark passes its own; default: $JOINSERVICE_SYNTHETIC_AMD_PKI_DIR, else
 * derived in memory, a few seconds).
 *
 * `--quick`: 20 rounds, ≈ 5 s in all; default 40 rounds, ≈ 25 s. `--json`
 * prints only `{variant, node, cpu, floorMs, primitives, designCosts,
 * informational, notes}` (informational: the rows in neither total, e.g. the
 * SEV-SNP cold chain).
 * Every row: warm-up, then N interleaved rounds (each round times every row
 * once, in rotating order, over a batch sized to an equal time slice); the
 * median µs per call is reported, with the rounds' IQR as a noise indicator.
 * One thread: the floor is CPU time, not the wall time of a parallel run.
 *
 * How it is measured: server-held keys (identity key, cluster CA key, SSH CA
 * key) are KeyObjects created once; a key that is new with every join (the
 * client's key share and certificate key, the node's AK, the CSR key) is
 * imported outside the timed batch and used for the first time inside it, so
 * per-key work on first use (RSA's Montgomery setup) is in the floor and the
 * import itself (parsing through OpenSSL 3's decoders, tens of µs, not
 * cryptography) is reported separately as "informational". Hash-based rows
 * count the compression work: the TLS key schedule is measured as one
 * SHA-384/256 call over as many blocks as its 23 HMACs compress (the chain
 * of 23 node:crypto HMAC calls is informational: it is per-call overhead).
 *
 * In the floor (a worker join as the Go peer test/go/src/atlspeer does it):
 * - TLS 1.3, server side (src/main/atls via OpenSSL): ephemeral key share,
 *   ECDH with the client's share, the ECDSA P-256 SHA-256 CertificateVerify
 *   signature (P-256 identity key, atls/server-identity.ts), the verification
 *   of the client's ECDSA P-256 CertificateVerify (Go peer key: attest.go),
 *   key schedule, transcript hash, record AEAD of handshake + join data (these
 *   three are "negligible?" rows: in only if > 1 µs per join). Group and
 *   suite are not assumed: an in-process handshake between a server with
 *   atls-server.ts's options and a client offering Go 1.19.8's defaults
 *   decides them. Captured once from the real Go peer (go1.19.8) through a
 *   recording proxy: ClientHello groups x25519,secp256r1,secp384r1,secp521r1
 *   with one key share (x25519), TLS 1.3 suites 1301,1302,1303; ServerHello:
 *   TLS 1.3, 0x1302 TLS_AES_256_GCM_SHA384 (Node's server cipher order wins),
 *   x25519. So: X25519, SHA-384 key schedule, AES-256-GCM.
 * - aTLS client certificate (src/workers/certificate): ECDSA P-256 SHA-256
 *   self-signature over the whole TBS, attestation document included
 *   (self-signature.ts; Go's aTLS skips it, OpenSSL skips self-signed leaves
 *   too — kept in the floor because our verifier requires it, see notes),
 *   SHA-256 of the SPKI (check-certificate.ts).
 * - Attestation, per variant (table VARIANT_FLOORS). qemu-vtpm
 *   (src/workers/attestation/vtpm): 2 × SHA-256 nonce binding
 *   (tpm/nonce-binding.ts); ONE RSA-2048 PKCS#1 v1.5 SHA-256 quote
 *   verification with the node's own AK (tpm/verify-attestation.ts: the
 *   candidate loop tries SHA-512, SHA-384, SHA-256, SHA-1 and returns at the
 *   first quote that verifies — the SHA-256 one —; the G1 re-check only runs
 *   when that quote is not the SHA-256 one; the SHA-1 quote is never
 *   verified); one SHA-256 PCR digest over 24 × 32 B (tpm/verify-quote.ts).
 *   The issuer (vtpm/issuer, `joinservice issue`) sends no event log, so no
 *   replay hashing. dummy: no attestation crypto.
 * - IssueJoinTicket: the CSR's ECDSA P-256 self-signature (Go peer
 *   --csr-key default ecdsa, join.go; src/workers/signing/csr-signature.ts),
 *   the kubelet certificate signed with the cluster CA (dev CA RSA-2048 from
 *   devcluster/dev-cluster-files.ts, PKCS#1 v1.5 SHA-256 in
 *   signing/kubelet-certificate-template.ts, like kubeadm's CA), the SSH host
 *   certificate signed with the Ed25519 CA (src/main/ssh). No other
 *   signature per join (control-plane files are read, not signed).
 *
 * Not in the floor: the KMS key derivations (key service, another process);
 * the SSH CA key derivation (constant per seed: we cache it, Go re-derives it
 * per join); the discovery hash (SHA-256 of the constant CA SPKI); random
 * numbers (nonces, serials, token); OpenSSL's SHA-1 of every parsed X.509;
 * the Kubernetes API client's TLS (keep-alive: record crypto only);
 * tls.createSecureContext per ClientHello (bench/micro/nonce-context.ts).
 * Design costs (ours, not the protocol's), listed separately: the nonce
 * certificate signed per ClientHello (the protocol only needs the DN), the
 * worker's second import of the client key, the content hashes of our caches
 * (ca.crt/ca.key, admin.conf, SSH seed).
 *
 * Self-check: the real code paths (worker verify-certificate and
 * issue-kubelet-certificate tasks, the SSH/discovery steps, the nonce
 * certificate) run once with node:crypto instrumented; their sign/verify/
 * hash/import calls are compared with the table (notes: OK or MISMATCH).
 * The TLS rows are OpenSSL-internal; the handshake check covers them.
 */
import crypto, {
  constants,
  createCipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hash,
  KeyObject,
  randomBytes,
  sign,
  verify,
  type JsonWebKey,
} from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import { parseArgs } from 'node:util';
import { buildSelfSignedCertificate } from '../../src/main/atls/certificate-builder.js';
import { parsePrivateKeyPem, ServerIdentity } from '../../src/main/atls/server-identity.js';
import { extendPrincipals } from '../../src/main/cluster/cert-sans.js';
import { discoveryTokenCaCertHashes } from '../../src/main/cluster/discovery-hash.js';
import { ensureDevClusterFiles } from '../../src/main/devcluster/dev-cluster-files.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { signHostCertificate } from '../../src/main/ssh/host-certificate.js';
import { parseSshPublicKey } from '../../src/main/ssh/host-public-key.js';
import { sshCaFromSeed } from '../../src/main/ssh/ssh-ca.js';
import { encodePem } from '../../src/shared/pem.js';
import { variantOid, type VariantName } from '../../src/shared/variants.js';
import { VERIFY_PROTOCOL_VERSION } from '../../src/shared/worker-protocol.js';
import { defaultSyntheticAmdPki, loadOrCreateSyntheticAmdPki, SoftwareSnpIssuer, syntheticSnpAttestationConfig, type SnpVariant, type SyntheticAmdPki } from '../../src/workers/attestation/snp/issuer/index.js';
import { SNP_SIGNATURE_OFFSET } from '../../src/workers/attestation/snp/report/attestation-report.js';
import { decodeVtpmDocument, encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { defaultDevAttestationConfig, SoftwareTpmIssuer } from '../../src/workers/attestation/vtpm/issuer/index.js';
import { Alg } from '../../src/workers/attestation/vtpm/tpm/tpm-alg.js';
import { decodeTpmtSignature } from '../../src/workers/attestation/vtpm/tpm/tpmt-signature.js';
import { parseCertificate } from '../../src/workers/certificate/parse-certificate.js';
import { loadClusterCa } from '../../src/workers/signing/ca-files.js';
import { parseCertificateRequest } from '../../src/workers/signing/csr.js';
import { issueKubeletCertificate } from '../../src/workers/signing/issue-kubelet-certificate.js';
import { createKubeletCertificate } from '../../src/workers/signing/kubelet-certificate-template.js';
import { verifyCertificate } from '../../src/workers/verify-certificate.js';
import { buildCsr, freshKey, ip, OID_SAN, san } from '../../test/unit/support/kubelet-pki.js';

// ---- command line -----------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    variant: { type: 'string', default: 'qemu-vtpm' },
    'pki-dir': { type: 'string' },
    rounds: { type: 'string' },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
  strict: true,
});
const rounds = flags.rounds !== undefined ? Number(flags.rounds) : flags.quick ? 20 : 40;
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${flags.rounds}`);
/** Timed time of the interleaved rounds, all rows together. */
const measureBudgetMs = flags.quick ? 3500 : 20000;
/** Warm-up (and calibration) per row before the rounds. */
const warmupMs = flags.quick ? 4 : 25;
const log = flags.json ? (): void => undefined : (line = ''): void => console.log(line);

// ---- rows -------------------------------------------------------------------------

type Section = 'tls' | 'certificate' | 'attestation' | 'ticket';
/** floor: in the floor; design: our design's extra crypto; info: reported, in neither. */
type Kind = 'floor' | 'design' | 'info';
/** The real code path a row's node:crypto calls show up in (the self-check). */
type ProbePath = 'worker verify-certificate' | 'worker issue-kubelet-certificate' | 'main SSH + discovery hash' | 'main nonce certificate';

interface Row {
  name: string;
  kind: Kind;
  section: Section;
  countPerJoin: number;
  /** Where the server does it (file references). */
  source: string;
  /** One call of the primitive. */
  run: () => unknown;
  /** Untimed, before each timed batch of `n` calls (fresh per-join keys). */
  before?: (n: number) => void;
  /** node:crypto calls per join this row stands for in a real code path (TLS rows: none, OpenSSL-internal). */
  probe?: { path: ProbePath; ops: Record<string, number> };
  /** A "negligible?" row: in the floor only if one join's share exceeds this many µs. */
  includeAboveUs?: number;
}

interface Measured extends Row {
  usEach: number;
  usPerJoin: number;
  /** Interquartile range of the rounds in % of the median. */
  iqrPct: number;
}

/** A pool of fresh per-join values, refilled (untimed) before each batch; `next()` hands out each once. */
function freshPool<T>(make: () => T): { before: (n: number) => void; next: () => T } {
  let items: T[] = [];
  let i = 0;
  return {
    before: (n) => {
      items = Array.from({ length: n }, make);
      i = 0;
    },
    next: () => items[i++] ?? make(), // make() only for warm-up calls
  };
}

// ---- measurement ------------------------------------------------------------------

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

function timeBatch(row: Row, n: number): number {
  row.before?.(n);
  const fn = row.run;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t0) * 1000) / n;
}

/** Warm-up and calibration: µs per call over ≥ warmupMs and ≥ 3 calls. */
function warmUp(row: Row): number {
  let calls = 0;
  let us = 0;
  while (calls < 3 || us < warmupMs * 1000) {
    const n = Math.max(1, calls);
    us += timeBatch(row, n) * n;
    calls += n;
  }
  return us / calls;
}

function measureRows(rows: readonly Row[]): Measured[] {
  const sliceUs = (measureBudgetMs * 1000) / (rounds * rows.length);
  const batches = rows.map((r) => Math.max(1, Math.round(sliceUs / warmUp(r))));
  const samples: number[][] = rows.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < rows.length; k++) {
      const i = (k + round) % rows.length; // rotate the order: no row always runs first
      samples[i]!.push(timeBatch(rows[i]!, batches[i]!));
    }
  }
  return rows.map((r, i) => {
    const usEach = quantile(samples[i]!, 0.5);
    const iqrPct = ((quantile(samples[i]!, 0.75) - quantile(samples[i]!, 0.25)) / usEach) * 100;
    return { ...r, usEach, usPerJoin: usEach * r.countPerJoin, iqrPct };
  });
}

// ---- node:crypto instrumentation (self-check) ------------------------------------

function keyLabel(k: unknown): string {
  const ko =
    k instanceof KeyObject ? k : k !== null && typeof k === 'object' && (k as { key?: unknown }).key instanceof KeyObject ? (k as { key: KeyObject }).key : undefined;
  if (!ko) return 'non-KeyObject';
  const d = ko.asymmetricKeyDetails;
  if (ko.asymmetricKeyType === 'ec') return `ec-${d?.namedCurve}`;
  if (ko.asymmetricKeyType === 'rsa' || ko.asymmetricKeyType === 'rsa-pss') return `${ko.asymmetricKeyType}-${d?.modulusLength}`;
  return ko.asymmetricKeyType ?? ko.type;
}

/** Runs `fn` with the counted node:crypto functions wrapped (named imports follow via syncBuiltinESMExports); returns the calls by label. */
async function countCryptoCalls(fn: () => Promise<unknown>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const target = crypto as unknown as Record<string, (...args: unknown[]) => unknown>;
  const labels: Record<string, (args: unknown[], result: unknown) => string> = {
    sign: (a) => `sign:${keyLabel(a[2])}:${a[0] ?? 'none'}`,
    verify: (a) => `verify:${keyLabel(a[2])}:${a[0] ?? 'none'}`,
    hash: (a) => `hash:${String(a[0]).toLowerCase()}`,
    createHash: (a) => `hash:${String(a[0]).toLowerCase()}`,
    createHmac: (a) => `hmac:${String(a[0]).toLowerCase()}`,
    createPublicKey: (_a, r) => `import:${keyLabel(r)}`,
    createPrivateKey: (_a, r) => `import-private:${keyLabel(r)}`,
    diffieHellman: (a) => `ecdh:${keyLabel((a[0] as { privateKey?: unknown }).privateKey)}`,
    generateKeyPairSync: (a) => `keygen:${String(a[0])}`,
  };
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const [name, label] of Object.entries(labels)) {
    const original = target[name]!;
    originals.set(name, original);
    target[name] = function (this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args);
      const l = label(args, result);
      counts.set(l, (counts.get(l) ?? 0) + 1);
      return result;
    };
  }
  syncBuiltinESMExports();
  try {
    await fn();
  } finally {
    for (const [name, original] of originals) target[name] = original;
    syncBuiltinESMExports();
  }
  return counts;
}

// ---- TLS: what the Go peer and our server negotiate -------------------------------

/** atls-server.ts CONTEXT_OPTIONS (not exported there; keep in step). */
const SERVER_CONTEXT_OPTIONS: tls.SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'].join(':'),
  secureOptions: crypto.constants.SSL_OP_NO_TICKET,
};
/** Go 1.19.8 crypto/tls client defaults as the peer sends them (creds.go; captured ClientHello). */
const GO_CLIENT: tls.ConnectionOptions = {
  ecdhCurve: 'X25519:P-256:P-384:P-521', // OpenSSL sends a key share for the first group only, as Go does
  // Node takes the TLS 1.3 suites in `ciphers` too (the TLS_ names), in Go's order.
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  ALPNProtocols: ['http/1.1', 'h2'],
  minVersion: 'TLSv1.2',
};

interface TlsFacts {
  protocol: string;
  suite: string;
  group: string;
  /** Wire bytes until both sides finished the handshake. */
  clientToServer: number;
  serverToClient: number;
}

async function negotiate(clientCertDer: Uint8Array, clientKey: KeyObject): Promise<TlsFacts> {
  const identity = new ServerIdentity();
  let raw: Socket | undefined;
  const server = tls.createServer({
    ...SERVER_CONTEXT_OPTIONS,
    ...identity.defaultCredentials(),
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ['h2'],
    SNICallback: (_name, cb) => cb(null, identity.nonceContext(randomBytes(32), SERVER_CONTEXT_OPTIONS)),
  });
  server.on('connection', (s: Socket) => (raw = s));
  const serverDone = new Promise<tls.TLSSocket>((resolve, reject) => {
    server.once('secureConnection', resolve);
    server.once('tlsClientError', reject);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = tls.connect({
    ...GO_CLIENT,
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    servername: 'join-floor',
    cert: encodePem('CERTIFICATE', clientCertDer),
    key: clientKey.export({ format: 'pem', type: 'pkcs8' }),
    rejectUnauthorized: false,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('secureConnect', resolve);
      client.once('error', reject);
    });
    const serverSocket = await serverDone;
    const cipher = serverSocket.getCipher();
    const facts: TlsFacts = {
      protocol: client.getProtocol() ?? 'unknown',
      suite: cipher.standardName ?? cipher.name,
      group: (client.getEphemeralKeyInfo() as { name?: string }).name ?? 'unknown',
      clientToServer: raw?.bytesRead ?? 0,
      serverToClient: raw?.bytesWritten ?? 0,
    };
    serverSocket.destroy();
    return facts;
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

// ---- fast imports of per-join keys (the fastest format each; measured) -----------

const importP256 = (spki: Uint8Array): KeyObject => createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
const importRsa = (pkcs1: Uint8Array): KeyObject => createPublicKey({ key: Buffer.from(pkcs1), format: 'der', type: 'pkcs1' });
const importJwk = (jwk: JsonWebKey): KeyObject => createPublicKey({ key: jwk, format: 'jwk' });

// ---- the node ---------------------------------------------------------------------

interface NodeCredentials {
  clientKey: KeyObject;
  clientSpki: Buffer;
  certificate: Uint8Array;
  nonce: Buffer;
  /** The variant's attestation rows for this node's document. */
  rows: Row[];
}

/** A Go node's aTLS client certificate (attest.go): fresh P-256 key, the variant's document in its extension. */
function nodeCredentials(variant: VariantFloor): NodeCredentials {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientSpki = publicKey.export({ format: 'der', type: 'spki' });
  const nonce = randomBytes(32);
  const { document, rows } = variant.prepare(hash('sha256', clientSpki, 'buffer'), nonce);
  const certificate = buildSelfSignedCertificate({
    privateKey,
    spki: clientSpki,
    commonName: 'Constellation',
    extensions: [{ oid: variantOid(variant.name), value: document }],
  });
  return { clientKey: privateKey, clientSpki, certificate, nonce, rows };
}

// ---- variants ---------------------------------------------------------------------

interface VariantFloor {
  name: VariantName;
  /** The attestation config the self-check's worker task carries. */
  config: () => string;
  /** The document a node sends for `userData`/`nonce`, and the rows for verifying it. */
  prepare: (userData: Uint8Array, nonce: Uint8Array) => { document: Uint8Array; rows: Row[] };
  /** Why the worker verify-certificate self-check cannot run for this variant (it is skipped, with this note). */
  skipWorkerSelfCheck?: string;
}

let snpPkiCache: SyntheticAmdPki | undefined;
/** The synthetic AMD PKI of the SEV-SNP rows (--pki-dir, else the process default). */
function snpPki(): SyntheticAmdPki {
  snpPkiCache ??= flags['pki-dir'] !== undefined ? loadOrCreateSyntheticAmdPki(flags['pki-dir']) : defaultSyntheticAmdPki();
  return snpPkiCache;
}

/**
 * An SEV-SNP variant (src/workers/attestation/snp/variants): the document of
 * the software SNP issuer (a fresh node = a fresh RSA-2048 AK, on the PKI's
 * one chip). Per join, for a KNOWN chip (the worker's chain cache, chain/
 * chain-cache.ts, holds the verified VCEK/VLEK → ASK/ASVK → ARK chain and the
 * imported VCEK/VLEK key after the chip's first join): the report's ECDSA
 * P-384 SHA-384 signature, the variant's REPORT_DATA binding (azure: SHA-256
 * of the HCL runtime data; aws: SHA-512 of the AK's SubjectPublicKeyInfo;
 * gcp: extraData ‖ 0^32, no hash), and the vTPM part as for qemu-vtpm (nonce
 * binding, where the quote nonce hashes the whole InstanceInfo; one RSA-2048
 * quote verify; the PCR digest). The chain of a new chip is informational
 * (`cold chain` rows): one RSA-4096 PSS verify of the VCEK/VLEK by a known
 * ASK/ASVK, or two (and the ASK's) when nothing is remembered, plus the key
 * imports. gcp-sev-snp's trusted AK comes from the GCE API (no crypto on our
 * side but the PEM import); its self-check is skipped (no GCE API here).
 */
function snpFloor(variant: SnpVariant): VariantFloor {
  return {
    name: variant,
    config: () => syntheticSnpAttestationConfig(variant, snpPki()),
    ...(variant === 'gcp-sev-snp' ? { skipWorkerSelfCheck: 'its validator takes the trusted AK from the GCE Compute API (no fake endpoint here); the rows follow snp/variants/gcp-sev-snp.ts' } : {}),
    prepare: (userData, nonce) => {
      const pki = snpPki();
      const issuer = new SoftwareSnpIssuer({ variant, pki });
      const issued = issuer.issueDetailed(userData, nonce);
      const document = issued.document;
      const q = issued.vtpmDocument.attestation.quotes.find((x) => x?.pcrs?.hash === Alg.SHA256);
      if (!q?.pcrs) throw new Error('issuer sent no SHA-256 quote');
      const quoteSig = decodeTpmtSignature(q.rawSig).rsa!.signature;
      const akPkcs1 = issuer.akPublicKey().export({ format: 'der', type: 'pkcs1' });
      const akSpki = issuer.akPublicKey().export({ format: 'der', type: 'spki' });
      const aks = freshPool(() => importRsa(akPkcs1));
      const pcrConcat = Buffer.concat([...Array(24).keys()].map((i) => q.pcrs!.pcrs.get(i)!));
      const nonceInput = Buffer.concat([userData, nonce]);
      const quoteNonceInput = Buffer.concat([issued.instanceInfoBytes, issued.extraData]);
      const report = issued.report.subarray(0, 0x4a0);
      const signed = report.subarray(0, SNP_SIGNATURE_OFFSET);
      // R and S little-endian in the report → big-endian r‖s (what report-signature.ts hands to verify).
      const p1363 = Buffer.concat([Buffer.from(report.subarray(0x2a0, 0x2a0 + 48)).reverse(), Buffer.from(report.subarray(0x2e8, 0x2e8 + 48)).reverse()]);
      const endorsement = issuer.endorsement;
      const endorsementKey = endorsement.publicKey; // the chain cache keeps the imported key: not per join
      if (!verify('sha384', signed, { key: endorsementKey, dsaEncoding: 'ieee-p1363' }, p1363)) throw new Error('SNP report signature slicing is wrong');
      const signerName = endorsement.role === 'vlek' ? 'VLEK' : 'VCEK';
      const intermediate = endorsement.role === 'vlek' ? pki.asvk : pki.ask;
      const interName = endorsement.role === 'vlek' ? 'ASVK' : 'ASK';
      const endorsementCert = parseCertificate(endorsement.der);
      const intermediateCert = parseCertificate(intermediate.der);
      const endorsementSpki = endorsement.publicKey.export({ format: 'der', type: 'spki' });
      const intermediateSpki = intermediate.publicKey.export({ format: 'der', type: 'spki' });
      const arkKey = pki.ark.publicKey;
      const pss = (key: KeyObject) => ({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 });
      const importSpki = (spki: Uint8Array): KeyObject => createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      const verifyEndorsement = (askKey: KeyObject) => {
        if (!verify('sha384', endorsementCert.tbs, pss(askKey), endorsementCert.signature.bytes)) throw new Error(`${signerName} signature does not verify`);
      };
      const verifyIntermediate = () => {
        if (!verify('sha384', intermediateCert.tbs, pss(arkKey), intermediateCert.signature.bytes)) throw new Error(`${interName} signature does not verify`);
      };
      verifyEndorsement(intermediate.publicKey);
      verifyIntermediate();
      // The chain-cache key (chain-cache.ts): SHA-256 over the certificates the node presented.
      const presented = Buffer.concat(
        [endorsement.der, ...(variant === 'azure-sev-snp' ? [pki.ask.der, pki.ark.der] : variant === 'gcp-sev-snp' ? [pki.ask.der] : [])].map((d) => Buffer.from(d)),
      );
      const w: ProbePath = 'worker verify-certificate';
      const vs = 'snp/variants/snp-step.ts';
      const rows: Row[] = [
        {
          name: 'SHA-256 extraData = SHA-256(userData ‖ nonce) (64 B)',
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/nonce-binding.ts',
          run: () => hash('sha256', nonceInput, 'buffer'),
          probe: { path: w, ops: { 'hash:sha256': 1 } },
        },
        {
          name: `SHA-256 quote nonce = SHA-256(InstanceInfo ‖ extraData) (${quoteNonceInput.length} B)`,
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/nonce-binding.ts',
          run: () => hash('sha256', quoteNonceInput, 'buffer'),
          probe: { path: w, ops: { 'hash:sha256': 1 } },
        },
        {
          name: "RSA-2048 PKCS#1 v1.5 SHA-256 verify: SHA-256 quote (first use of the node's AK)",
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/verify-attestation.ts candidateLoop, verify-quote.ts',
          before: aks.before,
          run: () => verify('sha256', q.quote, aks.next(), quoteSig),
          probe: { path: w, ops: { 'verify:rsa-2048:sha256': 1 } },
        },
        {
          name: `SHA-256 PCR digest (24 PCRs, ${pcrConcat.length} B)`,
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/verify-quote.ts pcrDigest',
          run: () => hash('sha256', pcrConcat, 'buffer'),
          probe: { path: w, ops: { 'hash:sha256': 1 } },
        },
        {
          name: `ECDSA P-384 SHA-384 verify: SNP report signature (${signed.length} B; ${signerName} of a known chip, key cached)`,
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'snp/chain/report-signature.ts (key: chain/chain-cache.ts)',
          run: () => verify('sha384', signed, { key: endorsementKey, dsaEncoding: 'ieee-p1363' }, p1363),
          probe: { path: w, ops: { 'verify:ec-secp384r1:sha384': 1 } },
        },
        ...(variant === 'azure-sev-snp'
          ? [
              ((): Row => {
                const runtimeData = issuer.runtimeData();
                return {
                  name: `SHA-256 of the HCL runtime data (${runtimeData.length} B) = REPORT_DATA[0:32]`,
                  kind: 'floor',
                  section: 'attestation',
                  countPerJoin: 1,
                  source: 'snp/azure/hcl-ak.ts',
                  run: () => hash('sha256', runtimeData, 'buffer'),
                  probe: { path: w, ops: { 'hash:sha256': 1 } },
                };
              })(),
            ]
          : variant === 'aws-sev-snp'
            ? [
                {
                  name: `SHA-512 of the AK SubjectPublicKeyInfo (${akSpki.length} B) = REPORT_DATA`,
                  kind: 'floor',
                  section: 'attestation',
                  countPerJoin: 1,
                  source: 'snp/variants/aws-sev-snp.ts, snp-step.ts sha512',
                  run: () => hash('sha512', akSpki, 'buffer'),
                  probe: { path: w, ops: { 'hash:sha512': 1 } },
                } satisfies Row,
              ]
            : []),
        {
          name: `SHA-256 chain-cache key over the presented certificates (${presented.length} B)`,
          kind: 'design',
          section: 'attestation',
          countPerJoin: 1,
          source: 'snp/chain/chain-cache.ts snpChainCacheKey',
          run: () => hash('sha256', presented, 'buffer'),
          probe: { path: w, ops: { 'hash:sha256': 1 } },
        },
        {
          name: "import of the node's AK (RSA-2048, new per node)",
          kind: 'info',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/tpmt-public.ts loadAk (JWK)',
          run: () => importRsa(akPkcs1),
          probe: { path: w, ops: { 'import:rsa-2048': 1 } },
        },
        // azure compares the runtime data's modulus/exponent bytes and aws exports the already imported AK: no second import; gcp imports the GCE API's PEM.
        ...(variant === 'gcp-sev-snp'
          ? [
              {
                name: 'import of the trusted AK from the GCE API (RSA-2048 SPKI)',
                kind: 'info',
                section: 'attestation',
                countPerJoin: 1,
                source: 'snp/variants/gcp-sev-snp.ts',
                run: () => importSpki(akSpki),
              } satisfies Row,
            ]
          : []),
        {
          name: `cold chain, new chip (${interName} known): import ${signerName} P-384 + RSA-4096 PSS SHA-384 verify of the ${signerName}`,
          kind: 'info',
          section: 'attestation',
          countPerJoin: 1,
          source: `${vs} → chain/verify-chain.ts (once per chip and worker)`,
          run: () => {
            importSpki(endorsementSpki);
            verifyEndorsement(intermediate.publicKey);
          },
        },
        {
          name: `cold chain, nothing remembered: imports of ${signerName} + ${interName}, 2 RSA-4096 PSS SHA-384 verifies (${signerName} by ${interName}, ${interName} by ARK)`,
          kind: 'info',
          section: 'attestation',
          countPerJoin: 1,
          source: `${vs} → chain/verify-chain.ts (once per ${interName} and worker; the ARK's self-signature once per config)`,
          run: () => {
            importSpki(endorsementSpki);
            verifyEndorsement(importSpki(intermediateSpki));
            verifyIntermediate();
          },
        },
      ];
      return { document, rows };
    },
  };
}

/**
 * variant → its attestation primitives. To add one (e.g. TDX: the quote's
 * ECDSA P-256 signatures), build the document as a node does and list what
 * src/workers/attestation/<variant> verifies per join, with probes.
 */
const VARIANT_FLOORS: Readonly<Record<string, VariantFloor>> = {
  'qemu-vtpm': {
    name: 'qemu-vtpm',
    config: defaultDevAttestationConfig,
    prepare: (userData, nonce) => {
      // What `joinservice issue` sends (src/main/cli/issue.ts): a fresh RSA-2048 AK, SHA-1 + SHA-256 banks, no event log.
      const issuer = new SoftwareTpmIssuer({ akType: 'rsa' });
      const document = encodeVtpmDocument(issuer.issue(userData, nonce));
      const q = decodeVtpmDocument(document).attestation.quotes.find((x) => x?.pcrs?.hash === Alg.SHA256);
      if (!q?.pcrs) throw new Error('issuer sent no SHA-256 quote');
      const quoteSig = decodeTpmtSignature(q.rawSig).rsa!.signature;
      const akPkcs1 = issuer.akPublicKey().export({ format: 'der', type: 'pkcs1' });
      const aks = freshPool(() => importRsa(akPkcs1));
      const pcrConcat = Buffer.concat([...Array(24).keys()].map((i) => q.pcrs!.pcrs.get(i)!));
      const nonceInput = Buffer.concat([userData, nonce]);
      const w: ProbePath = 'worker verify-certificate';
      const rows: Row[] = [
        {
          name: 'SHA-256 nonce binding (extraData, tpmNonce; 64 B)',
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 2,
          source: 'vtpm/tpm/nonce-binding.ts',
          run: () => hash('sha256', nonceInput, 'buffer'),
          probe: { path: w, ops: { 'hash:sha256': 2 } },
        },
        {
          name: 'RSA-2048 PKCS#1 v1.5 SHA-256 verify: SHA-256 quote (first use of the node\'s AK)',
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/verify-attestation.ts candidateLoop, verify-quote.ts',
          before: aks.before,
          run: () => verify('sha256', q.quote, aks.next(), quoteSig),
          probe: { path: w, ops: { 'verify:rsa-2048:sha256': 1 } },
        },
        {
          name: `SHA-256 PCR digest (24 PCRs, ${pcrConcat.length} B)`,
          kind: 'floor',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/verify-quote.ts pcrDigest',
          run: () => hash('sha256', pcrConcat, 'buffer'),
          probe: { path: w, ops: { 'hash:sha256': 1 } },
        },
        {
          name: 'import of the node\'s AK (RSA-2048, new per node)',
          kind: 'info',
          section: 'attestation',
          countPerJoin: 1,
          source: 'vtpm/tpm/tpmt-public.ts loadAk (JWK)',
          run: () => importRsa(akPkcs1),
          probe: { path: w, ops: { 'import:rsa-2048': 1 } },
        },
      ];
      return { document, rows };
    },
  },
  dummy: {
    name: 'dummy',
    config: () => '{}\n',
    // The Go peer's atls.FakeAttestationDoc: no attestation crypto (attestation/dummy/dummy-validator.ts).
    prepare: (userData, nonce) => ({
      document: Buffer.from(JSON.stringify({ UserData: Buffer.from(userData).toString('base64'), Nonce: Buffer.from(nonce).toString('base64') })),
      rows: [],
    }),
  },
  'azure-sev-snp': snpFloor('azure-sev-snp'),
  'aws-sev-snp': snpFloor('aws-sev-snp'),
  'gcp-sev-snp': snpFloor('gcp-sev-snp'),
};

// ---- TLS 1.3 rows -----------------------------------------------------------------

const GROUPS: Readonly<Record<string, { label: string; keygen: () => { privateKey: KeyObject; publicKey: KeyObject } }>> = {
  X25519: { label: 'X25519', keygen: () => generateKeyPairSync('x25519') },
  prime256v1: { label: 'ECDHE P-256', keygen: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
  secp384r1: { label: 'ECDHE P-384', keygen: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }) },
};
const SUITES: Readonly<Record<string, { hash: 'sha256' | 'sha384'; aead: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305'; keyLen: number }>> = {
  TLS_AES_128_GCM_SHA256: { hash: 'sha256', aead: 'aes-128-gcm', keyLen: 16 },
  TLS_AES_256_GCM_SHA384: { hash: 'sha384', aead: 'aes-256-gcm', keyLen: 32 },
  TLS_CHACHA20_POLY1305_SHA256: { hash: 'sha256', aead: 'chacha20-poly1305', keyLen: 32 },
};
/** HTTP/2 data of a worker join: request with the CSR ≈ 0.6 KiB, IssueJoinTicketResponse ≈ 2.4 KiB (a dev join with the Go peer). */
const JOIN_APPLICATION_BYTES = 3 * 1024;

/** RFC 8446 §7.1 HkdfLabel plus HKDF-Expand's counter byte (one output block suffices for every TLS 1.3 secret). */
function expandInfo(length: number, label: string, context: Uint8Array): Buffer {
  const l = Buffer.from(`tls13 ${label}`, 'latin1');
  return Buffer.concat([Buffer.from([length >> 8, length & 0xff, l.length]), l, Buffer.from([context.length]), context, Buffer.from([1])]);
}

/**
 * The server's TLS 1.3 key schedule for a full (EC)DHE handshake with client
 * authentication, as 23 HMACs: 3 Extract, 2 "derived", 2 handshake and 3
 * application/exporter traffic secrets, key + IV for 4 traffic secrets, 2
 * finished keys, server Finished, client Finished check, resumption master.
 * Returns the chain as node:crypto HMAC calls and the message length of each HMAC.
 */
function keySchedule(h: 'sha256' | 'sha384', keyLen: number): { chain: () => unknown; messageLengths: number[] } {
  const hl = h === 'sha256' ? 32 : 48;
  const zeros = Buffer.alloc(hl);
  const ecdhe = randomBytes(32);
  const th = [randomBytes(hl), randomBytes(hl), randomBytes(hl), randomBytes(hl)];
  const empty = Buffer.alloc(0);
  const I = {
    derived: expandInfo(hl, 'derived', hash(h, empty, 'buffer')),
    chs: expandInfo(hl, 'c hs traffic', th[0]!),
    shs: expandInfo(hl, 's hs traffic', th[0]!),
    key: expandInfo(keyLen, 'key', empty),
    iv: expandInfo(12, 'iv', empty),
    finished: expandInfo(hl, 'finished', empty),
    cap: expandInfo(hl, 'c ap traffic', th[1]!),
    sap: expandInfo(hl, 's ap traffic', th[1]!),
    exp: expandInfo(hl, 'exp master', th[1]!),
    res: expandInfo(hl, 'res master', th[3]!),
  };
  let lengths: number[] | undefined = [];
  const mac = (k: Uint8Array, m: Uint8Array): Buffer => {
    lengths?.push(m.length);
    return createHmac(h, createSecretKey(k)).update(m).digest();
  };
  const chain = (): Buffer => {
    const early = mac(zeros, zeros); // Extract(salt 0, IKM 0)
    const hs = mac(mac(early, I.derived), ecdhe);
    const chs = mac(hs, I.chs);
    const shs = mac(hs, I.shs);
    const finishedKeys: Buffer[] = [];
    for (const s of [chs, shs]) {
      mac(s, I.key);
      mac(s, I.iv);
      finishedKeys.push(mac(s, I.finished));
    }
    const ms = mac(mac(hs, I.derived), zeros);
    const cap = mac(ms, I.cap);
    const sap = mac(ms, I.sap);
    mac(ms, I.exp);
    for (const s of [cap, sap]) {
      mac(s, I.key);
      mac(s, I.iv);
    }
    mac(finishedKeys[1]!, th[2]!); // server Finished
    mac(finishedKeys[0]!, th[3]!); // client Finished, checked
    return mac(ms, I.res);
  };
  chain();
  const messageLengths = lengths;
  lengths = undefined;
  if (messageLengths.length !== 23) throw new Error(`key schedule has ${messageLengths.length} HMACs, expected 23`);
  return { chain, messageLengths };
}

/** Compression-function blocks of HMAC-`h` over messages of these lengths (key ≤ block: ipad block + message, opad block + inner digest). */
function hmacBlocks(h: 'sha256' | 'sha384', messageLengths: readonly number[]): number {
  const [block, digest, pad] = h === 'sha256' ? [64, 32, 9] : [128, 48, 17];
  return messageLengths.reduce((s, m) => s + Math.ceil((block + m + pad) / block) + Math.ceil((block + digest + pad) / block), 0);
}

function tlsRows(facts: TlsFacts, node: NodeCredentials, serverKey: KeyObject): Row[] {
  if (facts.protocol !== 'TLSv1.3') throw new Error(`expected TLS 1.3 with the Go client's defaults, negotiated ${facts.protocol}`);
  const group = GROUPS[facts.group];
  const suite = SUITES[facts.suite];
  if (!group || !suite) throw new Error(`no rows for group ${facts.group} / suite ${facts.suite}`);
  const serverShare = group.keygen();
  const clientShareJwk = group.keygen().publicKey.export({ format: 'jwk' });
  const shares = freshPool(() => importJwk(clientShareJwk));
  const clientKeys = freshPool(() => importP256(node.clientSpki));
  const hl = suite.hash === 'sha256' ? 32 : 48;
  // RFC 8446 §4.4.3: 64 spaces, context string, 0, transcript hash; ecdsa_secp256r1_sha256 is the only scheme for P-256 keys.
  const cvContent = (who: string): Buffer => Buffer.concat([Buffer.alloc(64, 0x20), Buffer.from(`TLS 1.3, ${who} CertificateVerify\0`, 'latin1'), randomBytes(hl)]);
  const serverCv = cvContent('server');
  const clientCv = cvContent('client');
  const clientCvSig = sign('sha256', clientCv, node.clientKey);
  const schedule = keySchedule(suite.hash, suite.keyLen);
  const blocks = hmacBlocks(suite.hash, schedule.messageLengths);
  const blockBytes = Buffer.alloc(blocks * (suite.hash === 'sha256' ? 64 : 128) - (suite.hash === 'sha256' ? 9 : 17), 0x5a);
  const handshakeBytes = randomBytes(facts.clientToServer + facts.serverToClient);
  const recordBytes = randomBytes(facts.clientToServer + facts.serverToClient + JOIN_APPLICATION_BYTES);
  const aeadKey = createSecretKey(randomBytes(suite.keyLen)); // a KeyObject: a raw key costs ~15 µs of setup per call
  const aeadIv = randomBytes(12);
  const H = suite.hash.toUpperCase();
  const atls = 'src/main/atls (OpenSSL via node:tls)';
  return [
    {
      name: `${group.label} key generation (server key share)`,
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: group.keygen,
    },
    {
      name: `${group.label} shared secret (first use of the client's key share)`,
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      before: shares.before,
      run: () => diffieHellman({ privateKey: serverShare.privateKey, publicKey: shares.next() }),
    },
    {
      name: 'ECDSA P-256 SHA-256 sign: server CertificateVerify',
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: 'atls/server-identity.ts (P-256 identity key)',
      run: () => sign('sha256', serverCv, serverKey),
    },
    {
      name: 'ECDSA P-256 SHA-256 verify: client CertificateVerify (first use of its key)',
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: 'Go peer certificate key P-256: test/go/src/atlspeer/attest.go',
      before: clientKeys.before,
      run: () => verify('sha256', clientCv, clientKeys.next(), clientCvSig),
    },
    {
      name: `TLS 1.3 key schedule: 23 HMAC-${H} = ${blocks} ${H} blocks`,
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: () => hash(suite.hash, blockBytes, 'buffer'),
      includeAboveUs: 1,
    },
    {
      name: `${H} transcript hash (${handshakeBytes.length} B handshake)`,
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: () => hash(suite.hash, handshakeBytes, 'buffer'),
      includeAboveUs: 1,
    },
    {
      name: `${suite.aead.toUpperCase()} records (${recordBytes.length} B: handshake + join data)`,
      kind: 'floor',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: () => {
        const c = createCipheriv(suite.aead as 'aes-256-gcm', aeadKey, aeadIv, { authTagLength: 16 });
        c.update(recordBytes);
        c.final();
        return c.getAuthTag();
      },
      includeAboveUs: 1,
    },
    {
      name: `import of the client's ${group.label} key share`,
      kind: 'info',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: () => importJwk(clientShareJwk),
    },
    {
      name: 'import of the client certificate\'s P-256 key',
      kind: 'info',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: () => importP256(node.clientSpki),
    },
    {
      name: `TLS 1.3 key schedule as 23 node:crypto HMAC-${H} calls`,
      kind: 'info',
      section: 'tls',
      countPerJoin: 1,
      source: atls,
      run: schedule.chain,
    },
  ];
}

// ---- main -------------------------------------------------------------------------

const variant = VARIANT_FLOORS[flags.variant!];
if (!variant) throw new Error(`--variant must be one of ${Object.keys(VARIANT_FLOORS).join(', ')}, got ${flags.variant}`);
const notes: string[] = [];
if (rounds < 20) notes.push(`only ${rounds} rounds (the floor is specified with >= 20)`);

const tmp = await mkdtemp(path.join(os.tmpdir(), 'join-floor-'));
try {
  // The dev cluster's PKI, admin.conf and ClusterConfiguration, as `joinservice dev` creates them (devcluster/dev-cluster.ts).
  const files = await ensureDevClusterFiles(tmp, { url: 'https://127.0.0.1:6443', certSANs: ['127.0.0.1', 'localhost'] });
  const ca = loadClusterCa(files.pkiDir);
  if (ca.key.kind !== 'rsa' || !ca.key.key) throw new Error(`dev CA key is ${ca.key.kind}, expected rsa`);
  const caKey = ca.key.key;
  const caFiles = [await readFile(path.join(files.pkiDir, 'ca.crt')), await readFile(path.join(files.pkiDir, 'ca.key'))] as const;
  const adminConf = await readFile(files.adminConfPath);

  const node = nodeCredentials(variant);
  const parsedCert = parseCertificate(node.certificate);
  const workerKeys = freshPool(() => importP256(node.clientSpki));
  const identity = new ServerIdentity();
  const serverKey = parsePrivateKeyPem(identity.defaultCredentials().key);
  const nonceTbs = parseCertificate(identity.nonceCertificate(randomBytes(32))).tbs;

  // The Go peer's CSR (join.go): P-256 key, O=system:nodes, CN=system:node:<name>, IP + DNS SAN.
  const goCsr = (): Uint8Array =>
    buildCsr({ key: freshKey('p256'), extensions: [{ oid: OID_SAN, value: san({ ips: [ip('10.9.0.5')], dns: ['kubelet.dns-san.invalid'] }) }] });
  const csr = parseCertificateRequest(goCsr());
  const csrKeys = freshPool(() => importP256(csr.publicKey.raw));
  const kubeletTbs = parseCertificate(createKubeletCertificate({ ca, csr, nowMs: Date.now() })).tbs;

  // SSH: the Ed25519 CA from the KMS seed (ssh-ca.ts), the Go peer's Ed25519 host key, principals = request + certSANs.
  const sshSeed = randomBytes(32);
  const sshCaKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), sshSeed]), format: 'der', type: 'pkcs8' });
  const hostWire = (): Buffer => {
    const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    const str = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    return Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  };
  const principals = await extendPrincipals(['10.9.0.5', 'worker-0'], files.clusterConfigurationPath, silentLogger());
  const hostCert = signHostCertificate({ ca: sshCaFromSeed(sshSeed), hostKey: parseSshPublicKey(hostWire()), principals, now: new Date() });
  const sshSigned = hostCert.blob.subarray(0, hostCert.blob.length - (4 + 4 + 11 + 4 + 64)); // without the signature field

  const facts = await negotiate(node.certificate, node.clientKey);
  notes.push(
    'TLS negotiated in-process (server: atls-server.ts options + ServerIdentity nonce context; client: Go 1.19.8 defaults): ' +
      `${facts.protocol} ${facts.suite} group ${facts.group}, handshake ${facts.clientToServer} B client->server, ${facts.serverToClient} B server->client ` +
      `(client certificate ${node.certificate.length} B). Captured once from the Go peer (go1.19.8) through a proxy: the same ClientHello offers and TLS 1.3, TLS_AES_256_GCM_SHA384, x25519.`,
  );

  const worker: ProbePath = 'worker verify-certificate';
  const kubelet: ProbePath = 'worker issue-kubelet-certificate';
  const mainSsh: ProbePath = 'main SSH + discovery hash';
  const rows: Row[] = [
    ...tlsRows(facts, node, serverKey),
    {
      name: `ECDSA P-256 SHA-256 verify: client certificate self-signature (TBS ${parsedCert.tbs.length} B)`,
      kind: 'floor',
      section: 'certificate',
      countPerJoin: 1,
      source: 'src/workers/certificate/self-signature.ts',
      before: workerKeys.before,
      run: () => verify('sha256', parsedCert.tbs, workerKeys.next(), parsedCert.signature.bytes),
      probe: { path: worker, ops: { 'verify:ec-prime256v1:sha256': 1 } },
    },
    {
      name: `SHA-256 of the client SPKI (${node.clientSpki.length} B)`,
      kind: 'floor',
      section: 'certificate',
      countPerJoin: 1,
      source: 'src/workers/certificate/check-certificate.ts',
      run: () => hash('sha256', node.clientSpki, 'buffer'),
      probe: { path: worker, ops: { 'hash:sha256': 1 } },
    },
    ...node.rows,
    {
      name: 'ECDSA P-256 SHA-256 verify: CSR self-signature (first use of its key)',
      kind: 'floor',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/workers/signing/csr-signature.ts; Go peer --csr-key ecdsa (join.go)',
      before: csrKeys.before,
      run: () => verify('sha256', csr.tbs, csrKeys.next(), csr.signature),
      probe: { path: kubelet, ops: { 'verify:ec-prime256v1:sha256': 1 } },
    },
    {
      name: `RSA-2048 PKCS#1 v1.5 SHA-256 sign: kubelet certificate (cluster CA, TBS ${kubeletTbs.length} B)`,
      kind: 'floor',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/workers/signing/kubelet-certificate-template.ts; CA: devcluster/dev-cluster-files.ts',
      run: () => sign('sha256', kubeletTbs, caKey),
      probe: { path: kubelet, ops: { 'sign:rsa-2048:sha256': 1 } },
    },
    {
      name: `Ed25519 sign: SSH host certificate (${sshSigned.length} B)`,
      kind: 'floor',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/main/ssh/host-certificate.ts, ssh-ca.ts',
      run: () => sign(null, sshSigned, sshCaKey),
      probe: { path: mainSsh, ops: { 'sign:ed25519:none': 1 } },
    },
    {
      name: 'import of the CSR\'s P-256 key',
      kind: 'info',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/workers/signing/csr.ts',
      run: () => importP256(csr.publicKey.raw),
      probe: { path: kubelet, ops: { 'import:ec-prime256v1': 1 } },
    },
    {
      name: `ECDSA P-256 SHA-256 sign: nonce certificate per ClientHello (TBS ${nonceTbs.length} B)`,
      kind: 'design',
      section: 'tls',
      countPerJoin: 1,
      source: 'src/main/atls/server-identity.ts nonceCertificate',
      run: () => sign('sha256', nonceTbs, serverKey),
      probe: { path: 'main nonce certificate', ops: { 'sign:ec-prime256v1:sha256': 1 } },
    },
    {
      name: 'second import of the client\'s P-256 key, in the worker (OpenSSL has it)',
      kind: 'design',
      section: 'certificate',
      countPerJoin: 1,
      source: 'src/workers/certificate/public-key.ts importPublicKey',
      run: () => importP256(node.clientSpki),
      probe: { path: worker, ops: { 'import:ec-prime256v1': 1 } },
    },
    {
      name: `SHA-256 of ca.crt + ca.key (${caFiles[0].length} + ${caFiles[1].length} B) for the CA parse cache`,
      kind: 'design',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/workers/signing/ca-files.ts',
      run: () => [hash('sha256', caFiles[0], 'buffer'), hash('sha256', caFiles[1], 'buffer')],
      probe: { path: kubelet, ops: { 'hash:sha256': 2 } },
    },
    {
      name: `SHA-256 of admin.conf (${adminConf.length} B) for the discovery-hash cache`,
      kind: 'design',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/main/cluster/discovery-hash.ts',
      run: () => hash('sha256', adminConf, 'buffer'),
      probe: { path: mainSsh, ops: { 'hash:sha256': 1 } },
    },
    {
      name: 'SHA-256 of the SSH CA seed (32 B) for the CA cache',
      kind: 'design',
      section: 'ticket',
      countPerJoin: 1,
      source: 'src/main/ssh/ssh-ca.ts',
      run: () => hash('sha256', sshSeed, 'buffer'),
      probe: { path: mainSsh, ops: { 'hash:sha256': 1 } },
    },
  ];

  // ---- self-check: the real code paths' node:crypto calls against the table ----
  const attestationConfig = { generation: 1, text: variant.config() };
  /** Per path: build a fresh join's inputs (not counted), return the server's work on them (counted). */
  const paths: Record<ProbePath, () => () => Promise<unknown>> = {
    'worker verify-certificate': () => {
      const fresh = nodeCredentials(variant); // a node never seen before (own key, own AK)
      return async () => {
        const r = await verifyCertificate({
          v: VERIFY_PROTOCOL_VERSION,
          kind: 'verify-certificate',
          certificate: fresh.certificate,
          nonce: fresh.nonce,
          variant: variant.name,
          config: attestationConfig,
          nowMs: Date.now(),
        });
        if (!r.ok) throw new Error(`self-check verify-certificate failed: ${r.error.code} ${r.error.message}`);
      };
    },
    'worker issue-kubelet-certificate': () => {
      const csrDer = goCsr();
      return async () => {
        const r = await issueKubeletCertificate({ v: VERIFY_PROTOCOL_VERSION, kind: 'issue-kubelet-certificate', csr: csrDer, pkiDir: files.pkiDir, nowMs: Date.now() });
        if (!r.ok) throw new Error(`self-check issue-kubelet-certificate failed: ${r.error.code} ${r.error.message}`);
      };
    },
    'main SSH + discovery hash': () => {
      const wire = hostWire();
      return async () => {
        signHostCertificate({ ca: sshCaFromSeed(sshSeed), hostKey: parseSshPublicKey(wire), principals, now: new Date() });
        await discoveryTokenCaCertHashes(files.adminConfPath);
      };
    },
    'main nonce certificate': () => {
      const nonce = randomBytes(32);
      return async () => identity.nonceCertificate(nonce);
    },
  };
  for (const [p, prepare] of Object.entries(paths) as [ProbePath, () => () => Promise<unknown>][]) {
    if (p === 'worker verify-certificate' && variant.skipWorkerSelfCheck) {
      notes.push(`self-check ${p}: skipped for ${variant.name}: ${variant.skipWorkerSelfCheck}`);
      continue;
    }
    await prepare()(); // steady state: validator, CA, SSH CA and discovery caches warm
    const counts = await countCryptoCalls(prepare());
    const expected = new Map<string, number>();
    for (const r of rows) {
      if (r.probe?.path !== p) continue;
      for (const [op, n] of Object.entries(r.probe.ops)) expected.set(op, (expected.get(op) ?? 0) + n);
    }
    const keys = [...new Set([...expected.keys(), ...counts.keys()])].sort();
    const diff = keys.filter((k) => (expected.get(k) ?? 0) !== (counts.get(k) ?? 0));
    const list = [...counts].sort().map(([op, n]) => `${op} x${n}`).join(', ');
    notes.push(
      diff.length === 0
        ? `self-check ${p}: OK (${list})`
        : `self-check ${p}: MISMATCH ${diff.map((k) => `${k}: table ${expected.get(k) ?? 0}, code ${counts.get(k) ?? 0}`).join('; ')} (code: ${list})`,
    );
  }

  // ---- measure ----
  const measured = measureRows(rows);
  const floorCandidates = measured.filter((r) => r.kind === 'floor');
  const floor = floorCandidates.filter((r) => r.includeAboveUs === undefined || r.usPerJoin > r.includeAboveUs);
  const negligible = floorCandidates.filter((r) => !floor.includes(r));
  const design = measured.filter((r) => r.kind === 'design');
  const info = measured.filter((r) => r.kind === 'info');
  const floorUs = floor.reduce((s, r) => s + r.usPerJoin, 0);
  const designUs = design.reduce((s, r) => s + r.usPerJoin, 0);
  const imports = info.filter((r) => r.name.startsWith('import'));
  const importsUs = imports.reduce((s, r) => s + r.usPerJoin, 0);
  const selfSig = floor.find((r) => r.name.includes('self-signature') && r.section === 'certificate');
  for (const r of negligible) notes.push(`negligible, left out (<= ${r.includeAboveUs} µs/join): ${r.name}: ${r.usPerJoin.toFixed(2)} µs`);
  notes.push(
    `informational, in neither total: ${info.map((r) => `${r.name}: ${r.usPerJoin.toFixed(1)} µs`).join('; ')}. ` +
      `Per-join key imports add ${importsUs.toFixed(1)} µs (parsing through OpenSSL 3's decoders rather than cryptography); floor + imports = ${((floorUs + importsUs) / 1000).toFixed(3)} ms.`,
    `the client certificate self-signature (${selfSig?.usPerJoin.toFixed(1)} µs) is in the floor because our verifier requires it; Go's aTLS skips it (floor without it: ${((floorUs - (selfSig?.usPerJoin ?? 0)) / 1000).toFixed(3)} ms).`,
    'not in the floor: KMS derivations (key service), the SHA-1 quote (never verified), event-log replay (the issuer sends none), ' +
      "the constant discovery hash, Go's per-join SSH CA derivation, RNG, OpenSSL's SHA-1 of each parsed X.509, Kubernetes API TLS, " +
      'tls.createSecureContext per ClientHello (bench/micro/nonce-context.ts).',
    `design costs: ${designUs.toFixed(1)} µs/join (${((designUs / floorUs) * 100).toFixed(1)}% of the floor).`,
    ...(variant.name.endsWith('-sev-snp')
      ? [
          `${variant.name}: the floor assumes a KNOWN chip: the worker's chain cache (snp/chain/chain-cache.ts) holds the verified VCEK/VLEK -> ASK/ASVK -> ARK chain ` +
            'and the imported VCEK/VLEK key after the chip\'s first join, so a join verifies only the report\'s P-384 signature. A new chip costs the ' +
            `informational "cold chain" rows once per chip and worker thread: ${info
              .filter((r) => r.name.startsWith('cold chain'))
              .map((r) => `${r.name}: ${r.usPerJoin.toFixed(1)} µs`)
              .join('; ')}. No AMD KDS request is in the floor (the node sends its VCEK/VLEK; the ASK comes from the start-up cache).`,
        ]
      : []),
    `${rounds} interleaved rounds, medians; ${measureBudgetMs} ms timed; one thread; fresh per-join keys imported outside the timed batches.`,
  );

  if (flags.json) {
    const out = (r: Measured) => ({
      name: r.name,
      countPerJoin: r.countPerJoin,
      usEach: round2(r.usEach),
      usPerJoin: round2(r.usPerJoin),
      section: r.section,
      source: r.source,
    });
    console.log(
      JSON.stringify({
        variant: variant.name,
        node: process.version,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        floorMs: Math.round(floorUs) / 1000,
        primitives: floor.map(out),
        designCosts: design.map(out),
        informational: [...info, ...negligible].map(out),
        notes,
      }),
    );
  } else {
    const W = 90;
    const line = (r: Measured): string =>
      `${r.name.padEnd(W)} ${String(r.countPerJoin).padStart(5)} ${r.usEach.toFixed(2).padStart(9)} ${r.usPerJoin.toFixed(2).padStart(10)} ${r.iqrPct.toFixed(0).padStart(4)}%`;
    const total = (label: string, us: number): string => `${label.padEnd(W)} ${''.padStart(15)} ${us.toFixed(1).padStart(10)}`;
    log(`crypto floor of one join, variant ${variant.name}: Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}`);
    log();
    log(`${'primitive'.padEnd(W)} ${'count'.padStart(5)} ${'µs each'.padStart(9)} ${'µs / join'.padStart(10)} ${'IQR'.padStart(5)}`);
    for (const section of ['tls', 'certificate', 'attestation', 'ticket'] as const) {
      const inSection = floor.filter((r) => r.section === section);
      if (inSection.length === 0) continue;
      log(`-- ${section}`);
      for (const r of inSection) log(line(r));
    }
    log(`${total('FLOOR per join', floorUs)} µs = ${(floorUs / 1000).toFixed(3)} ms`);
    log();
    log("design costs (our design's, not the protocol's; not in the floor)");
    for (const r of design) log(line(r));
    log(`${total('design costs per join', designUs)} µs`);
    log();
    log('informational (in neither total)');
    for (const r of [...info, ...negligible]) log(line(r));
    log();
    for (const n of notes) log(`* ${n}`);
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

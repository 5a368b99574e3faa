/**
 * A real (software-emulated) TPM for tests: Debian's swtpm (`swtpm socket`,
 * libtpms) on loopback TCP, driven with Debian's tpm2-tools through the
 * swtpm TCTI (`TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=<server port>`).
 * (The TCTI reaches the control channel on the server port + 1, so the helper
 * binds swtpm's server and control channels to two adjacent ports.)
 * It issues qemu-vtpm attestation documents the way a node does
 * (tpm-attestation.md §12.1–§12.3): measured PCRs in the SHA-1 and SHA-256
 * banks, an owner-hierarchy primary AK from go-tpm-tools' template persisted
 * at 0x81008F01 (RSA) / 0x81008F00 (ECC), one TPM2_Quote per bank over all 24
 * PCRs with qualifyingData = tpmNonce.
 *
 * Also independent checks on any producer's bytes with tpm2-tools alone:
 * `tpm2_print` (TPMS_ATTEST, TPMT_PUBLIC → PEM) and `tpm2_checkquote`
 * (signature, nonce and PCR digest).
 *
 * Debian packages: swtpm, tpm2-tools (libtss2-tcti-swtpm0 comes with
 * libtss2-tctildr0). Every tool runs asynchronously.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_BOOT_EVENTS, eventDigest, type PcrEvent } from '../../src/workers/attestation/vtpm/issuer/pcr-banks.js';
import { tpmNonceFor } from '../../src/workers/attestation/vtpm/issuer/software-tpm-issuer.js';
import { BANKS, bankName, type BankName } from '../../src/workers/attestation/vtpm/issuer/tpm-structures.js';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import type { TpmQuote, VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';

export type AkType = 'rsa' | 'ecc';

export const DEBIAN_PACKAGES = ['swtpm', 'tpm2-tools'] as const;

/** Persistent handles of go-tpm-tools' AttestationKeyRSA / AttestationKeyECC. */
export const AK_HANDLES: Readonly<Record<AkType, string>> = { rsa: '0x81008F01', ecc: '0x81008F00' };

/** `tpm2_createprimary -G` for go-tpm-tools' AKTemplateRSA / AKTemplateECC. */
const AK_ALGORITHMS: Readonly<Record<AkType, string>> = { rsa: 'rsa2048:rsassa-sha256:null', ecc: 'ecc256:ecdsa-sha256:null' };
const AK_ATTRIBUTES = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign';
const ALL_PCRS = Array.from({ length: 24 }, (_, i) => i).join(',');

// swtpm control channel commands (swtpm's tpm_ioctl.h), big-endian u32 on the socket.
const CMD_INIT = 2;
const CMD_SHUTDOWN = 3;

export class ToolError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

export interface ToolResult {
  stdout: string;
  stderr: string;
}

/** Runs a tool asynchronously; rejects with ToolError (stdout/stderr attached) on a non-zero exit. */
export function runTool(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code as number) : null;
        reject(new ToolError(`${cmd} ${args.join(' ')} failed (${code ?? err.message}): ${stderr.trim()}`, stdout, stderr, code));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/** Whether the swtpm binary and tpm2-tools are installed (message lists what is missing). */
export async function swtpmToolsMissing(): Promise<string | undefined> {
  const missing: string[] = [];
  for (const [bin, pkg] of [
    ['swtpm', 'swtpm'],
    ['tpm2_quote', 'tpm2-tools'],
  ] as const) {
    try {
      await runTool('sh', ['-c', `command -v ${bin}`]);
    } catch {
      missing.push(`${bin} (Debian package ${pkg})`);
    }
  }
  return missing.length ? `missing: ${missing.join(', ')}` : undefined;
}

function listenOn(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

const closeServer = (srv: net.Server): Promise<void> => new Promise((resolve) => srv.close(() => resolve()));

/**
 * Two consecutive free loopback ports: the swtpm TCTI talks to the control
 * channel on the server port + 1 (it sets the locality there), so the ports
 * must be adjacent.
 */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const first = await listenOn(0);
    if (!first) continue;
    const port = (first.address() as net.AddressInfo).port;
    const second = port < 65535 ? await listenOn(port + 1) : undefined;
    await closeServer(first);
    if (second) {
      await closeServer(second);
      return port;
    }
  }
  throw new Error('no two adjacent free loopback ports found');
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.end();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** One command on swtpm's control channel; resolves with the u32 result code. */
function ctrlCommand(port: number, cmd: number, payload: Uint8Array = new Uint8Array(0)): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (err: Error | null, v?: number) => {
      if (done) return;
      done = true;
      sock.destroy();
      if (err) reject(err);
      else resolve(v!);
    };
    sock.setTimeout(10_000, () => finish(new Error(`swtpm control command ${cmd} timed out`)));
    sock.once('connect', () => {
      const msg = Buffer.alloc(4 + payload.length);
      msg.writeUInt32BE(cmd, 0);
      msg.set(payload, 4);
      sock.write(msg);
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 4) finish(null, all.readUInt32BE(0));
    });
    sock.once('error', (err) => finish(err));
    sock.once('close', () => finish(new Error(`swtpm control channel closed without answering command ${cmd}`)));
  });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Go encoding/json rendering of a VtpmDocument (tpm-attestation.md §2.2–§2.4)
 * for the members Constellation issuers set, written independently of
 * envelope.ts's encodeVtpmDocument (which produces the documents' bytes) so
 * the tests can cross-check the two.
 */
export function renderVtpmDocumentJson(doc: VtpmDocument): Uint8Array {
  const b64 = (b: Uint8Array): string => `"${Buffer.from(b).toString('base64')}"`;
  const bytesOrNull = (b: Uint8Array | null): string => (b === null ? 'null' : b64(b));
  const a = doc.attestation;
  const att: string[] = [];
  if (a.akPub.length) att.push(`"ak_pub":${b64(a.akPub)}`);
  if (a.quotes.length) {
    const quotes = a.quotes.map((q) => {
      const m: string[] = [];
      if (q.quote.length) m.push(`"quote":${b64(q.quote)}`);
      if (q.rawSig.length) m.push(`"raw_sig":${b64(q.rawSig)}`);
      if (q.pcrs) {
        const p: string[] = [];
        if (q.pcrs.hash !== 0) p.push(`"hash":${q.pcrs.hash}`);
        if (q.pcrs.pcrs.size) {
          const keys = [...q.pcrs.pcrs.keys()].map(String).sort();
          p.push(`"pcrs":{${keys.map((k) => `"${k}":${b64(q.pcrs!.pcrs.get(Number(k))!)}`).join(',')}}`);
        }
        m.push(`"pcrs":{${p.join(',')}}`);
      }
      return `{${m.join(',')}}`;
    });
    att.push(`"quotes":[${quotes.join(',')}]`);
  }
  if (a.eventLog.length) att.push(`"event_log":${b64(a.eventLog)}`);
  if (a.akCert.length) att.push(`"ak_cert":${b64(a.akCert)}`);
  if (a.intermediateCerts.length) att.push(`"intermediate_certs":[${a.intermediateCerts.map(b64).join(',')}]`);
  if (a.teeAttestation !== 'null' && a.teeAttestation !== 'absent') throw new Error(`cannot render TeeAttestation ${a.teeAttestation}`);
  att.push(`"TeeAttestation":null`);
  const json = `{"Attestation":{${att.join(',')}},"InstanceInfo":${bytesOrNull(doc.instanceInfo)},"UserData":${bytesOrNull(doc.userData)}}`;
  return new TextEncoder().encode(json);
}


export interface QuoteResult extends TpmQuote {
  pcrs: { hash: number; pcrs: Map<number, Uint8Array> };
}

export interface IssueOptions {
  userData: Uint8Array;
  nonce: Uint8Array;
  akType: AkType;
}

export interface SwtpmOptions {
  /** Allocated PCR banks in reporting order; default sha1, sha256. */
  banks?: readonly BankName[];
  /** Measurements extended after start-up (tpm2_pcrextend, each bank with its own digest); default DEFAULT_BOOT_EVENTS. */
  events?: readonly PcrEvent[];
}

export interface Swtpm {
  readonly dir: string;
  readonly serverPort: number;
  readonly ctrlPort: number;
  /** The TPM2TOOLS_TCTI value. */
  readonly tcti: string;
  readonly banks: readonly BankName[];
  /** Runs a tpm2-tools command against this TPM (serialised with all other TPM access). */
  tpm2(tool: string, args: readonly string[]): Promise<ToolResult>;
  /** Measurements like firmware makes them: `tpm2_pcrextend <pcr>:sha1=H1(data),sha256=H256(data)`. */
  extend(events: readonly PcrEvent[]): Promise<void>;
  /** TPM2_PCR_Event via `tpm2_pcrevent` (the TPM hashes the data for each bank), e.g. PCR 15 with a cluster ID. */
  pcrEvent(pcr: number, data: Uint8Array | string): Promise<void>;
  /** All 24 PCRs of a bank via `tpm2_pcrread -o`. */
  readPcrs(bank: BankName): Promise<Map<number, Uint8Array>>;
  /** The AK's TPMT_PUBLIC (`tpm2_readpublic -f tpmt`); creates the AK on first use. */
  akPublic(akType: AkType): Promise<Uint8Array>;
  /** The AK public key as PEM (`tpm2_readpublic -f pem`). */
  akPem(akType: AkType): Promise<string>;
  /** One `tpm2_quote` over all 24 PCRs of `bank`, with the PCR values tpm2_quote read (`-o`, `-F values`). */
  quote(akType: AkType, bank: BankName, qualifyingData: Uint8Array): Promise<QuoteResult>;
  /** A qemu-vtpm document (InstanceInfo null, no event log, TeeAttestation null) and its JSON. */
  issueQemuVtpmDocument(o: IssueOptions): Promise<{ doc: VtpmDocument; json: Uint8Array }>;
  /** TPM reset (control channel CMD_INIT) + `tpm2_startup -c`: PCRs back to reset values, persistent AKs kept. */
  restart(): Promise<void>;
  /** Shuts swtpm down (control channel CMD_SHUTDOWN, then signals) and removes its state directory. */
  stop(): Promise<void>;
}

class SwtpmInstance implements Swtpm {
  readonly tcti: string;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly aks = new Map<AkType, Promise<void>>();
  private fileCounter = 0;
  private stopped = false;
  private readonly exited: Promise<void>;
  private readonly onExit = () => this.child.kill('SIGKILL');

  constructor(
    readonly dir: string,
    readonly serverPort: number,
    readonly ctrlPort: number,
    readonly banks: readonly BankName[],
    private readonly child: ChildProcess,
  ) {
    this.tcti = `swtpm:host=127.0.0.1,port=${serverPort}`;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else {
        child.once('exit', () => resolve());
        child.once('error', () => {
          if (child.pid === undefined) resolve(); // never started
        });
      }
    });
    process.once('exit', this.onExit);
  }

  /** Serialises TPM access: swtpm serves one connection at a time and transient objects are global. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private file(name: string): string {
    return path.join(this.dir, `${++this.fileCounter}-${name}`);
  }

  private run(tool: string, args: readonly string[]): Promise<ToolResult> {
    if (this.stopped) return Promise.reject(new Error('swtpm was stopped'));
    return runTool(tool, args, { env: { ...process.env, TPM2TOOLS_TCTI: this.tcti }, cwd: this.dir });
  }

  tpm2(tool: string, args: readonly string[]): Promise<ToolResult> {
    return this.serial(() => this.run(tool, args));
  }

  /** Allocates exactly `banks` (unlisted banks keep their allocation, so all four are named) and resets. */
  async allocateBanks(): Promise<void> {
    const spec = (Object.keys(BANKS) as BankName[]).map((b) => `${b}:${this.banks.includes(b) ? 'all' : 'none'}`).join('+');
    await this.tpm2('tpm2_pcrallocate', [spec]);
    await this.restart();
  }

  async extend(events: readonly PcrEvent[]): Promise<void> {
    if (events.length === 0) return;
    const args = events.map((e) => `${e.pcr}:${this.banks.map((b) => `${b}=${hex(eventDigest(b, e.data))}`).join(',')}`);
    await this.tpm2('tpm2_pcrextend', args);
  }

  async pcrEvent(pcr: number, data: Uint8Array | string): Promise<void> {
    await this.serial(async () => {
      const f = this.file('event.bin');
      await writeFile(f, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      await this.run('tpm2_pcrevent', [String(pcr), f]);
    });
  }

  async readPcrs(bank: BankName): Promise<Map<number, Uint8Array>> {
    return this.serial(async () => {
      const f = this.file(`pcrs-${bank}.bin`);
      await this.run('tpm2_pcrread', [`${bank}:${ALL_PCRS}`, '-o', f]);
      return splitPcrValues(bank, await readFile(f));
    });
  }

  private ensureAk(akType: AkType): Promise<void> {
    let p = this.aks.get(akType);
    if (!p) {
      p = this.serial(async () => {
        const ctx = this.file(`ak-${akType}.ctx`);
        await this.run('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', AK_ALGORITHMS[akType], '-a', AK_ATTRIBUTES, '-c', ctx]);
        await this.run('tpm2_evictcontrol', ['-C', 'o', '-c', ctx, AK_HANDLES[akType]]);
        // Without a resource manager the transient copy stays loaded; the TPM has only 3 slots.
        await this.run('tpm2_flushcontext', ['-t']);
      });
      p.catch(() => this.aks.delete(akType));
      this.aks.set(akType, p);
    }
    return p;
  }

  private async readPublic(akType: AkType, format: 'tpmt' | 'pem'): Promise<Buffer> {
    await this.ensureAk(akType);
    return this.serial(async () => {
      const f = this.file(`ak-${akType}.${format}`);
      await this.run('tpm2_readpublic', ['-c', AK_HANDLES[akType], '-f', format, '-o', f]);
      return readFile(f);
    });
  }

  async akPublic(akType: AkType): Promise<Uint8Array> {
    return new Uint8Array(await this.readPublic(akType, 'tpmt'));
  }

  async akPem(akType: AkType): Promise<string> {
    return (await this.readPublic(akType, 'pem')).toString('utf8');
  }

  async quote(akType: AkType, bank: BankName, qualifyingData: Uint8Array): Promise<QuoteResult> {
    await this.ensureAk(akType);
    return this.serial(async () => {
      const [m, s, o] = [this.file('quote.bin'), this.file('sig.bin'), this.file('pcrs.bin')];
      await this.run('tpm2_quote', ['-c', AK_HANDLES[akType], '-l', `${bank}:${ALL_PCRS}`, '-q', hex(qualifyingData), '-m', m, '-s', s, '-o', o, '-F', 'values', '-g', 'sha256']);
      const [quote, rawSig, values] = await Promise.all([readFile(m), readFile(s), readFile(o)]);
      return { quote: new Uint8Array(quote), rawSig: new Uint8Array(rawSig), pcrs: { hash: BANKS[bank].alg, pcrs: splitPcrValues(bank, values) } };
    });
  }

  async issueQemuVtpmDocument(o: IssueOptions): Promise<{ doc: VtpmDocument; json: Uint8Array }> {
    const tpmNonce = tpmNonceFor(o.userData, o.nonce, null);
    const akPub = await this.akPublic(o.akType);
    const quotes: TpmQuote[] = [];
    for (const bank of this.banks) quotes.push(await this.quote(o.akType, bank, tpmNonce));
    const doc: VtpmDocument = {
      attestation: { akPub, quotes, eventLog: new Uint8Array(0), akCert: new Uint8Array(0), intermediateCerts: [], teeAttestation: 'null' },
      instanceInfo: null,
      userData: new Uint8Array(o.userData),
    };
    return { doc, json: encodeVtpmDocument(doc) };
  }

  async restart(): Promise<void> {
    await this.serial(async () => {
      const flags = Buffer.alloc(4); // init_flags 0: keep the permanent state
      const rc = await ctrlCommand(this.ctrlPort, CMD_INIT, flags);
      if (rc !== 0) throw new Error(`swtpm CMD_INIT failed with 0x${rc.toString(16)}`);
      await this.run('tpm2_startup', ['-c']);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.queue;
    this.stopped = true;
    try {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        await ctrlCommand(this.ctrlPort, CMD_SHUTDOWN).catch(() => undefined);
        if (!(await waitFor(this.exited, 5000))) {
          this.child.kill('SIGTERM');
          if (!(await waitFor(this.exited, 5000))) {
            this.child.kill('SIGKILL');
            await this.exited;
          }
        }
      }
    } finally {
      process.removeListener('exit', this.onExit);
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

async function waitFor(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Splits consecutive PCR values (tpm2-tools `-F values` / `tpm2_pcrread -o`) into index → value for all 24 PCRs. */
export function splitPcrValues(bank: BankName, values: Uint8Array): Map<number, Uint8Array> {
  const size = BANKS[bank].size;
  if (values.length !== 24 * size) throw new Error(`expected 24 ${bank} PCR values (${24 * size} bytes), got ${values.length} bytes`);
  return new Map(Array.from({ length: 24 }, (_, i) => [i, new Uint8Array(values.subarray(i * size, (i + 1) * size))]));
}

/**
 * Starts `swtpm socket --tpm2` on two free loopback ports with a fresh state
 * directory, allocates `banks`, resets, and extends `events`.
 */
export async function startSwtpm(o: SwtpmOptions = {}): Promise<Swtpm> {
  const missing = await swtpmToolsMissing();
  if (missing) throw new Error(`swtpm tests need the Debian packages ${DEBIAN_PACKAGES.join(' ')}: ${missing}`);
  const banks = (o.banks ?? ['sha1', 'sha256']).map((b) => bankName(b));
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'swtpm-'));
    const serverPort = await freePortPair();
    const ctrlPort = serverPort + 1;
    const child = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${dir}`,
        '--server',
        `type=tcp,port=${serverPort},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${ctrlPort},bindaddr=127.0.0.1`,
        '--flags',
        'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err));
    const instance = new SwtpmInstance(dir, serverPort, ctrlPort, banks, child);
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (spawnError) {
        lastError = spawnError;
        break;
      }
      if (await tryConnect(serverPort)) {
        ready = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!ready) {
      await instance.stop().catch(() => undefined);
      lastError ??= new Error(`swtpm did not start (exit ${child.exitCode ?? child.signalCode}): ${output.trim()}`);
      continue; // e.g. a port was taken meanwhile
    }
    try {
      await instance.allocateBanks();
      await instance.extend(o.events ?? DEFAULT_BOOT_EVENTS);
    } catch (err) {
      await instance.stop().catch(() => undefined);
      throw err;
    }
    return instance;
  }
  throw lastError ?? new Error('swtpm did not start');
}

// ---------------------------------------------------------------------------
// Independent checks with tpm2-tools only (no TPM needed).

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tpm2-check-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `tpm2_print -t <type> [-f pem]` of `bytes`. */
export async function tpm2Print(type: 'TPMS_ATTEST' | 'TPMT_PUBLIC', bytes: Uint8Array, format?: 'pem'): Promise<string> {
  return withTempDir(async (dir) => {
    const f = path.join(dir, 'data.bin');
    await writeFile(f, bytes);
    return (await runTool('tpm2_print', ['-t', type, ...(format ? ['-f', format] : []), f])).stdout;
  });
}

/** The AK public key PEM tpm2-tools derives from a TPMT_PUBLIC (`tpm2_print -t TPMT_PUBLIC -f pem`). */
export function pemFromTpmtPublic(akPub: Uint8Array): Promise<string> {
  return tpm2Print('TPMT_PUBLIC', akPub, 'pem');
}

/**
 * tpm2-tools' PCR file in `-F serialized` form, which `tpm2_checkquote -f`
 * reads: the in-memory TPML_PCR_SELECTION (u32 count, 16 × {u16 hash, u8
 * sizeofSelect, u8 pcrSelect[4], pad}) followed by u32 n and n TPML_DIGEST
 * (u32 count, 8 × {u16 size, u8 buffer[64]}), little-endian (x86-64/arm64
 * layout of tpm2-tools' tpm2_pcrs).
 */
export function serializeCheckquotePcrs(bank: BankName, pcrs: Map<number, Uint8Array>): Uint8Array {
  const indices = [...pcrs.keys()].sort((a, b) => a - b);
  const sel = Buffer.alloc(4 + 16 * 8);
  sel.writeUInt32LE(1, 0);
  sel.writeUInt16LE(BANKS[bank].alg, 4);
  sel.writeUInt8(3, 6);
  for (const i of indices) sel[7 + (i >> 3)]! |= 1 << (i & 7);
  const lists: Buffer[] = [];
  for (let at = 0; at < indices.length; at += 8) {
    const chunk = indices.slice(at, at + 8);
    const list = Buffer.alloc(4 + 8 * 66);
    list.writeUInt32LE(chunk.length, 0);
    chunk.forEach((idx, k) => {
      const v = pcrs.get(idx)!;
      list.writeUInt16LE(v.length, 4 + k * 66);
      list.set(v, 6 + k * 66);
    });
    lists.push(list);
  }
  const count = Buffer.alloc(4);
  count.writeUInt32LE(lists.length, 0);
  return Buffer.concat([sel, count, ...lists]);
}

export interface CheckQuoteInput {
  /** TPMT_PUBLIC of the AK (converted to PEM by tpm2_print) or a PEM public key. */
  akPub: Uint8Array | string;
  quote: TpmQuote;
  /** The expected qualifyingData (tpmNonce). */
  qualifyingData: Uint8Array;
  /** Check the PCR digest against the quote's `pcrs` too (default true). */
  withPcrs?: boolean;
}

/**
 * `tpm2_checkquote -u <pem> -m <quote> -s <raw_sig> -g sha256 -q <nonce>
 * [-f <pcrs, serialized>]`: verifies the signature, extraData = nonce and the
 * PCR digest over the document's PCR values. Rejects with ToolError on failure.
 */
export async function checkQuote(c: CheckQuoteInput): Promise<ToolResult> {
  const pem = typeof c.akPub === 'string' ? c.akPub : await pemFromTpmtPublic(c.akPub);
  return withTempDir(async (dir) => {
    const f = (n: string) => path.join(dir, n);
    await writeFile(f('ak.pem'), pem);
    await writeFile(f('quote.bin'), c.quote.quote);
    await writeFile(f('sig.bin'), c.quote.rawSig);
    const args = ['-u', f('ak.pem'), '-m', f('quote.bin'), '-s', f('sig.bin'), '-g', 'sha256', '-q', hex(c.qualifyingData)];
    if (c.withPcrs ?? true) {
      if (!c.quote.pcrs) throw new Error('the quote has no PCR values');
      await writeFile(f('pcrs.bin'), serializeCheckquotePcrs(bankName(c.quote.pcrs.hash), c.quote.pcrs.pcrs));
      args.push('-f', f('pcrs.bin'));
    }
    return runTool('tpm2_checkquote', args);
  });
}

/** SHA-256 helper for tests. */
export function sha256(...parts: (Uint8Array | string)[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

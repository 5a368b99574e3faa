import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { goFileError } from '../../shared/go-file-error.js';

/**
 * A value derived from a file, re-derived only when the file changes.
 *
 * The Go service re-reads the cluster's files (admin.conf, the kubeadm
 * ClusterConfiguration, the PKI files) on every IssueJoinTicket, so that a
 * rotated file takes effect at once. CachedFile keeps that freshness without
 * the per-join read and parse:
 *
 * - every get() starts with one `stat` of the path (following symlinks, so a
 *   Kubernetes ConfigMap/Secret mount, whose files change by the `..data`
 *   symlink swap, is seen through to the new file). The file's version is
 *   (dev, ino, size, mtimeNs, ctimeNs); while it equals the cached one, get()
 *   returns the cached value without reading. Any write, truncate, chmod,
 *   rename into place or symlink swap changes ctime or the inode; ctime cannot
 *   be set back by user space (unlike mtime: `touch -d`, `cp -p`, tar).
 * - timestamps are coarse (a kernel tick, or 1–2 s on some file systems), so
 *   an in-place rewrite of the same size right after a read could keep the
 *   same version. As git does for its index ("racy git"), a version whose
 *   mtime/ctime lies less than `racyMs` before the stat is not trusted: each
 *   get() re-reads the bytes and re-parses only if their SHA-256 differs.
 *   The same holds for timestamps in the future (clock skew).
 * - the stat happens before the read, so a cached value is never older than
 *   the version it is stored under (a change in between makes the next
 *   get() read again, never the reverse).
 * - concurrent get()s that see the same version share one read and parse
 *   (single-flight). A racy version is shared only with a read started after
 *   the get() itself started.
 * - a failed read or parse is not cached: the next get() tries again, and a
 *   deleted or unreadable file fails every get() with the read's error, not
 *   with a stale value.
 *
 * Errors: a failed read (or a file larger than `maxBytes`) rejects with a
 * FileReadError carrying the underlying error in `cause`; errors thrown by
 * `parse` are passed through unchanged.
 *
 * The cached value is handed to every caller: `parse` must return something
 * immutable (frozen objects and arrays, strings) or the caller must copy it
 * (Buffers cannot be frozen).
 */

export interface CachedFileOptions {
  /** Larger files fail with FileReadError (`tooLarge`), checked after the read as before. */
  maxBytes: number;
  /** How long (ms) after a change a version is not trusted; default 2000 (2 s: FAT's granularity, NFS skew). */
  racyMs?: number;
  /** Wall clock in ms (tests). */
  now?: () => number;
}

/** A failed read: `cause` is the fs error (or, for `tooLarge`, an Error with the size text). */
export class FileReadError extends Error {
  override readonly cause: unknown;
  readonly path: string;
  readonly tooLarge: boolean;

  constructor(path: string, cause: unknown, tooLarge: boolean) {
    super(goFileError(cause, path));
    this.name = 'FileReadError';
    this.path = path;
    this.cause = cause;
    this.tooLarge = tooLarge;
  }
}

/** Counts for tests and benchmarks. */
export interface CachedFileStats {
  gets: number;
  reads: number;
  parses: number;
}

interface Version {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

interface Entry<T> {
  version: Version;
  racy: boolean;
  digest: string;
  value: T;
  /** Order of the read that produced it: a slower, older read never replaces a newer entry. */
  seq: number;
}

interface Flight<T> {
  version: Version | undefined;
  racy: boolean;
  seq: number;
  promise: Promise<T>;
}

const DEFAULT_RACY_MS = 2000;

export class CachedFile<T> {
  readonly path: string;
  readonly stats: CachedFileStats = { gets: 0, reads: 0, parses: 0 };
  private readonly parse: (bytes: Buffer) => T;
  private readonly maxBytes: number;
  private readonly racyNs: bigint;
  private readonly now: () => number;
  private entry: Entry<T> | undefined;
  private readonly flights = new Set<Flight<T>>();
  private seq = 0;

  constructor(path: string, parse: (bytes: Buffer) => T, options: CachedFileOptions) {
    this.path = path;
    this.parse = parse;
    this.maxBytes = options.maxBytes;
    this.racyNs = BigInt(Math.round((options.racyMs ?? DEFAULT_RACY_MS) * 1e6));
    this.now = options.now ?? Date.now;
  }

  async get(): Promise<T> {
    this.stats.gets++;
    const started = ++this.seq;
    const nowNs = BigInt(Math.floor(this.now())) * 1_000_000n;
    let version: Version | undefined;
    try {
      version = await stat(this.path, { bigint: true });
    } catch {
      // The read below fails with os.ReadFile's error text (or succeeds if the file just appeared).
      version = undefined;
    }
    const entry = this.entry;
    if (version && entry && !entry.racy && sameVersion(entry.version, version)) return entry.value;

    const racy = version === undefined || isRacy(version, nowNs, this.racyNs);
    for (const f of this.flights) {
      if (version && f.version && sameVersion(f.version, version) && (!f.racy || f.seq > started)) return f.promise;
    }
    const flight: Flight<T> = { version, racy, seq: ++this.seq, promise: undefined as unknown as Promise<T> };
    flight.promise = this.load(flight).finally(() => this.flights.delete(flight));
    this.flights.add(flight);
    return flight.promise;
  }

  /** Forgets the cached value (tests). */
  clear(): void {
    this.entry = undefined;
  }

  private async load(flight: Flight<T>): Promise<T> {
    this.stats.reads++;
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (err) {
      this.drop(flight.seq);
      throw new FileReadError(this.path, err, false);
    }
    if (bytes.length > this.maxBytes) {
      this.drop(flight.seq);
      throw new FileReadError(this.path, new Error(`${this.path} is larger than ${this.maxBytes} bytes`), true);
    }
    const digest = createHash('sha256').update(bytes).digest('base64');
    const previous = this.entry;
    let value: T;
    if (previous && previous.digest === digest) {
      value = previous.value;
    } else {
      this.stats.parses++;
      try {
        value = this.parse(bytes);
      } catch (err) {
        this.drop(flight.seq);
        throw err;
      }
    }
    if (flight.version === undefined) {
      // No version to validate against later (stat failed, read succeeded): do not cache.
      this.drop(flight.seq);
    } else if (!this.entry || this.entry.seq < flight.seq) {
      this.entry = { version: flight.version, racy: flight.racy, digest, value, seq: flight.seq };
    }
    return value;
  }

  /** A failed read removes the cached value unless a newer read has replaced it already. */
  private drop(seq: number): void {
    if (this.entry && this.entry.seq < seq) this.entry = undefined;
  }
}

/**
 * CachedFile per path, for functions that take the path as an argument. A
 * service uses a handful of fixed paths; the bound only matters for tests
 * that create many.
 */
export class CachedFiles<T> {
  private readonly files = new Map<string, CachedFile<T>>();
  private readonly parse: (bytes: Buffer, path: string) => T;
  private readonly options: CachedFileOptions & { maxFiles?: number };

  constructor(parse: (bytes: Buffer, path: string) => T, options: CachedFileOptions & { maxFiles?: number }) {
    this.parse = parse;
    this.options = options;
  }

  file(path: string): CachedFile<T> {
    let f = this.files.get(path);
    if (!f) {
      f = new CachedFile(path, (bytes) => this.parse(bytes, path), this.options);
      this.files.set(path, f);
      if (this.files.size > (this.options.maxFiles ?? 32)) this.files.delete(this.files.keys().next().value!);
    }
    return f;
  }

  get(path: string): Promise<T> {
    return this.file(path).get();
  }

  clear(): void {
    this.files.clear();
  }
}

function sameVersion(a: Version, b: Version): boolean {
  return a.ino === b.ino && a.ctimeNs === b.ctimeNs && a.mtimeNs === b.mtimeNs && a.size === b.size && a.dev === b.dev;
}

/** A version changed within racyNs of `nowNs` (or in the future) may change again without a new version. */
function isRacy(v: Version, nowNs: bigint, racyNs: bigint): boolean {
  const changed = v.ctimeNs > v.mtimeNs ? v.ctimeNs : v.mtimeNs;
  return nowNs - changed < racyNs;
}

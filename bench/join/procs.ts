/** Child processes of the benchmark: spawned with a raised fd limit, logged to files, stopped on exit. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Raises the soft fd limit (to 65536, else to the hard limit) and execs the command: the pid stays the command's. */
const FD_LIMIT_WRAPPER = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  exited: Promise<number | string>;
  /** The last lines of stdout and stderr (for error messages). */
  tail(): string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<number | string>;
}

export interface SpawnOptions {
  /** Receives every stdout line (not written to the log). */
  onStdout?: (line: string) => void;
  /** Receives every stderr line; return true to keep it out of the log file. */
  onStderr?: (line: string) => boolean | void;
  /** stdout/stderr lines (not consumed by the handlers) are appended here. */
  logFile?: string;
  /** Also log stdout lines. */
  logStdout?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const live = new Set<Proc>();

/** Every child still running (for cleanup on interruption). */
export function liveProcs(): Proc[] {
  return [...live];
}

export function spawnProc(name: string, command: string, args: readonly string[], o: SpawnOptions = {}): Proc {
  const child = spawn('sh', ['-c', FD_LIMIT_WRAPPER, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
    cwd: o.cwd,
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const log: WriteStream | undefined = o.logFile ? createWriteStream(o.logFile, { flags: 'a' }) : undefined;
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    remember(line);
    o.onStdout?.(line);
    if (o.logStdout || !o.onStdout) log?.write(`${line}\n`);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    remember(line);
    if (o.onStderr?.(line) === true) return;
    log?.write(`${line}\n`);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(proc);
      // Let the line readers drain before the log is closed.
      setImmediate(() => log?.end());
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    exited,
    tail: () => [...recent],
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  live.add(proc);
  return proc;
}

/** Resolves with the first value `pick` returns for a line, or rejects when the process exits first or the time is up. */
export function waitFor<T>(proc: Proc, subscribe: (listener: (line: string) => void) => void, pick: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new Error(`${proc.name}: no ${what} within ${timeoutMs} ms; last output:\n  ${proc.tail().join('\n  ')}`));
    }, timeoutMs);
    subscribe((line) => {
      if (done) return;
      const v = pick(line);
      if (v === undefined) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    });
    void proc.exited.then((code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${proc.name} exited (${code}) before ${what}; last output:\n  ${proc.tail().join('\n  ')}`));
    });
  });
}

/** A line bus: spawn options call emit, waiters subscribe. */
export class Lines {
  private listeners: ((line: string) => void)[] = [];
  emit = (line: string): void => {
    for (const l of this.listeners) l(line);
  };
  subscribe = (l: (line: string) => void): void => {
    this.listeners.push(l);
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DevInfo } from '../../src/main/cli/dev.js';
import { repoRoot } from './repo-root.js';

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export interface ServiceProcess {
  child: ChildProcess;
  logs: LogLine[];
  /** Resolves with the first log line at index >= `since` (seen or future) matching `pred`. */
  waitForLog(pred: (l: LogLine) => boolean, opts?: { since?: number; timeoutMs?: number }): Promise<LogLine>;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  /** SIGTERM (SIGKILL after 10 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface DevService extends ServiceProcess {
  info: DevInfo;
  stateDir: string;
}

/** Runs `joinservice <args>` (bin/joinservice.js) as a child process and collects its JSON log lines. */
export function spawnJoinService(args: string[]): ServiceProcess {
  const child = spawn(process.execPath, [path.join(repoRoot(), 'bin/joinservice.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buffered = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: 'RAW', msg: line };
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.pred(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    exited,
    waitForLog(pred, { since = 0, timeoutMs = 10_000 } = {}) {
      const seen = logs.slice(since).find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (l: LogLine) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching log line within ${timeoutMs} ms; last lines: ${JSON.stringify(logs.slice(-5))}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Starts `joinservice dev` on a free loopback port and waits for dev-info.json. */
export async function startDevService(extraArgs: string[] = [], stateDir?: string): Promise<DevService> {
  const dir = stateDir ?? mkdtempSync(path.join(tmpdir(), 'joinservice-dev-'));
  // The Go peer's built-in issuer makes dummy documents; tests of other variants pass their own.
  const variant = extraArgs.includes('--attestation-variant') ? [] : ['--attestation-variant', 'dummy'];
  const proc = spawnJoinService(['dev', '--port', '0', '--state-dir', dir, '-v', '-1', ...variant, ...extraArgs]);
  const infoPath = path.join(dir, 'dev-info.json');
  const deadline = Date.now() + 30_000;
  while (!existsSync(infoPath)) {
    if (proc.child.exitCode !== null) throw new Error(`joinservice dev exited with ${proc.child.exitCode}: ${JSON.stringify(proc.logs)}`);
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      throw new Error(`joinservice dev did not start within 30 s: ${JSON.stringify(proc.logs)}`);
    }
    await sleep(50);
  }
  const info = JSON.parse(readFileSync(infoPath, 'utf8')) as DevInfo;
  return {
    ...proc,
    info,
    stateDir: dir,
    async stop() {
      const code = await proc.stop();
      // Only a state dir this helper made is removed; a caller's survives for restarts.
      if (!stateDir) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

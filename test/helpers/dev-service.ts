import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DevInfo } from '../../src/main/cli/dev.js';
import { repoRoot } from './repo-root.js';

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export interface DevService {
  info: DevInfo;
  stateDir: string;
  logs: LogLine[];
  /** Resolves with the first log line at index >= `since` (seen or future) matching `pred`. */
  waitForLog(pred: (l: LogLine) => boolean, opts?: { since?: number; timeoutMs?: number }): Promise<LogLine>;
  stop(): Promise<number | null>;
  child: ChildProcess;
}

/** Starts `joinservice dev` as a real child process on a free loopback port and waits for dev-info.json. */
export async function startDevService(extraArgs: string[] = [], stateDir?: string): Promise<DevService> {
  const dir = stateDir ?? mkdtempSync(path.join(tmpdir(), 'joinservice-dev-'));
  const root = repoRoot();
  const child = spawn(process.execPath, [path.join(root, 'bin/joinservice.js'), 'dev', '--port', '0', '--state-dir', dir, '-v', '-1', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

  const infoPath = path.join(dir, 'dev-info.json');
  const deadline = Date.now() + 30_000;
  while (!existsSync(infoPath)) {
    if (child.exitCode !== null) throw new Error(`joinservice dev exited with ${child.exitCode}: ${JSON.stringify(logs)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`joinservice dev did not start within 30 s: ${JSON.stringify(logs)}`);
    }
    await sleep(50);
  }
  const info = JSON.parse(readFileSync(infoPath, 'utf8')) as DevInfo;
  return {
    info,
    stateDir: dir,
    logs,
    child,
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
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

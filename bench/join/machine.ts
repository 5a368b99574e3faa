/** The machine the benchmark ran on. */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import type { MachineInfo } from './results.js';

function goVersion(): string {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.status !== 0) return 'go: unknown';
  return r.stdout.trim().split(' ')[2] ?? 'go: unknown';
}

/** `node` is the Node.js binary the server runs with (its version is asked, not assumed). */
export function machineInfo(node: string): MachineInfo {
  const cpus = os.cpus();
  const nv = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return {
    cores: cpus.length,
    cpuModel: (cpus[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(),
    nodeVersion: nv.status === 0 ? nv.stdout.trim() : process.version,
    goVersion: goVersion(),
    kernel: os.release(),
    platform: `${os.platform()}/${os.arch()}`,
    totalMemBytes: os.totalmem(),
  };
}

/**
 * Debian's kubectl (package kubernetes-client) for tests, extracted into
 * test/tools/kubectl/ by scripts/fetch-kubectl.sh without installing it:
 * /usr/bin/kubectl on the development machines may be a Google Cloud SDK
 * wrapper, which these tests must not use.
 *
 * Everything runs asynchronously: the emulator the tests point kubectl at
 * usually lives in the same process, so a blocking exec would starve it.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './repo-root.js';

const pexec = promisify(execFile);

let cached: Promise<string> | undefined;

/** Path of Debian's kubectl binary, fetching it with scripts/fetch-kubectl.sh on first use. */
export function debianKubectl(): Promise<string> {
  cached ??= (async () => {
    const root = repoRoot();
    const bin = path.join(root, 'test/tools/kubectl/usr/bin/kubectl');
    try {
      await access(bin, constants.X_OK);
      return bin;
    } catch {
      // not there yet
    }
    const { stdout } = await pexec('bash', [path.join(root, 'scripts/fetch-kubectl.sh')], { encoding: 'utf8', timeout: 300_000 });
    const printed = stdout.trim().split('\n').at(-1) ?? '';
    await access(printed, constants.X_OK);
    return printed;
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlRunner {
  (...args: string[]): Promise<KubectlResult>;
  binary: string;
}

/**
 * A runner for `kubectl --kubeconfig <file> --cache-dir <dir>/cache <args…>`
 * with HOME set to `dir` (no user configuration or discovery cache leaks in).
 */
export async function kubectlRunner(kubeconfig: string, dir: string): Promise<KubectlRunner> {
  const binary = await debianKubectl();
  const run = async (...args: string[]): Promise<KubectlResult> => {
    try {
      const { stdout, stderr } = await pexec(binary, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { HOME: dir, PATH: '/usr/bin:/bin' },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return Object.assign(run, { binary });
}

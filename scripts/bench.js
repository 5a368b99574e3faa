// Entry of `npm run bench [-- FLAGS]` (bench/README.md): builds what is missing or
// stale (TypeScript → dist/, the native addon, the Go load generator is built by the
// bench itself), then runs dist/bench/join/main.js with the Node.js that runs this
// script (npm puts the pinned node@24 of the devDependencies first on PATH).
// `--no-build` skips the TypeScript check.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const noBuild = args.includes('--no-build');
const passArgs = args.filter((a) => a !== '--no-build');
const entry = path.join(repo, 'dist/bench/join/main.js');

function newest(dir, suffix) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, suffix));
    else if (e.name.endsWith(suffix)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function run(cmd, cmdArgs) {
  console.error(`bench: ${cmd} ${cmdArgs.join(' ')}`);
  return spawnSync(cmd, cmdArgs, { cwd: repo, stdio: 'inherit' }).status;
}

if (!noBuild) {
  if (!existsSync(path.join(repo, 'native/build/Release/cert_list_limit.node'))) {
    if (run(process.execPath, [path.join(repo, 'scripts/build-native.js')]) !== 0) process.exit(1);
  }
  const built = existsSync(entry) ? statSync(entry).mtimeMs : 0;
  const sources = Math.max(newest(path.join(repo, 'src'), '.ts'), newest(path.join(repo, 'bench'), '.ts'));
  if (built < sources) {
    // tsc emits even when it reports type errors elsewhere; the check below is what matters.
    run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.build.json')]);
    if (!existsSync(entry)) {
      console.error('bench: the TypeScript build did not produce dist/bench/join/main.js');
      process.exit(1);
    }
  }
}
// Ctrl-C reaches the benchmark too (same process group): it stops its children and exits, and this
// process waits for that instead of returning to the shell in the middle of the clean-up. A SIGTERM
// sent to this process alone is passed on.
const child = spawn(process.execPath, [entry, ...passArgs], { cwd: repo, stdio: 'inherit' });
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));

// Builds native/cert_list_limit.node (cert_list_limit.c + nonce_ca.c) against the headers of the Node.js that runs
// this script (the pinned node@24 of the devDependencies when run through npm),
// offline: the `node` npm package ships include/node, so node-gyp needs no download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
// The `node` package installs its binary as a hard link, so look for the headers
// both beside the executable and in the platform package it came from.
function findNodeDir() {
  const candidates = [path.dirname(path.dirname(process.execPath))];
  try {
    const nodePkg = path.dirname(require.resolve('node/package.json'));
    const platformPkg = require.resolve(`node-${process.platform}-${process.arch}/package.json`, { paths: [nodePkg] });
    candidates.push(path.dirname(platformPkg));
  } catch {
    // no pinned node package: fall back to node-gyp's own header lookup
  }
  return candidates.find((d) => existsSync(path.join(d, 'include', 'node', 'node_api.h')));
}
const nodeDir = findNodeDir();
const args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', '--directory', 'native'];
if (nodeDir) {
  args.push(`--nodedir=${nodeDir}`);
} else {
  console.error('build-native: no bundled Node.js headers found; node-gyp will use its own header lookup');
}
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);

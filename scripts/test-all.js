// The one test command (README, .ci/run): installs what the tests need that npm
// does not (the Debian packages of the Go peer, when missing), builds, type-checks,
// lints, builds the Go peer and runs every test with Node's test runner.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// The Go peer's toolchain, ssh-keygen (independent check of SSH certificates), openssl (of X.509),
// swtpm + tpm2-tools (real TPM quotes).
const DEBIAN_PACKAGES = [
  'golang-go',
  'golang-google-grpc-dev',
  'golang-google-protobuf-dev',
  'golang-goprotobuf-dev',
  'protobuf-compiler',
  'openssh-client',
  'openssl',
  'swtpm',
  'swtpm-tools',
  'tpm2-tools',
];

function run(cmd, args, opts = {}) {
  console.log(`\n$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`test-all: "${[cmd, ...args].join(' ')}" failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

function testToolsPresent() {
  return (
    have('go') &&
    have('protoc') &&
    have('ssh-keygen') &&
    have('openssl') &&
    have('swtpm') &&
    have('swtpm_setup') &&
    have('tpm2_quote') &&
    existsSync('/usr/share/gocode/src/google.golang.org/grpc')
  );
}

if (!testToolsPresent()) {
  if (process.getuid?.() !== 0) {
    console.error(`test-all: the tests need Debian packages: ${DEBIAN_PACKAGES.join(' ')} (run as root to install them automatically)`);
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-q'], { env });
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...DEBIAN_PACKAGES], { env });
}

run('npm', ['run', 'build']);
run('npm', ['run', 'typecheck']);
run('npm', ['run', 'lint']);
run('bash', ['scripts/build-go-peer.sh']);
// Debian's kubectl, extracted (not installed) as the independent client of the Kubernetes emulator.
run('bash', ['scripts/fetch-kubectl.sh']);
run('npm', ['test']);
// Smoke run of the join benchmark (no timing assertions: it fails only if the bench itself breaks).
run('npm', ['run', 'bench', '--', '--quick']);

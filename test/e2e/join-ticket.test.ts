import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { startDevService, type DevService } from '../helpers/dev-service.js';
import { buildGoPeer, runGoPeer, type PeerResult } from '../helpers/go-peer.js';
import { kubectlRunner, type KubectlRunner } from '../helpers/kubectl.js';

// A Go node (crypto/tls + grpc-go) joins `joinservice dev`; the ticket is checked with independent
// tools: openssl for the kubelet certificate, ssh-keygen for the SSH host certificate, Debian's
// kubectl for the Kubernetes objects.
const pexec = promisify(execFile);
let svc: DevService;
let kubectl: KubectlRunner;
let work: string;

before(async () => {
  await buildGoPeer();
  svc = await startDevService(['--workers', '2']);
  work = mkdtempSync(path.join(tmpdir(), 'join-e2e-'));
  kubectl = await kubectlRunner(svc.info.kubeconfigPath, work);
});

after(async () => {
  assert.equal(await svc?.stop(), 0);
  if (work) rmSync(work, { recursive: true, force: true });
});

function writeTemp(name: string, content: string): string {
  const f = path.join(work, name);
  writeFileSync(f, content);
  return f;
}

const join = (...args: string[]): Promise<PeerResult> => runGoPeer(['--endpoint', svc.info.endpoint, '--rpc', 'join', ...args]);

async function getJson(...args: string[]): Promise<Record<string, unknown>> {
  const r = await kubectl('get', ...args, '-o', 'json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('IssueJoinTicket from a Go node', () => {
  test('a worker joins: every ticket field checks out with independent tools', async () => {
    const r = await join('--disk-uuid', 'worker-disk', '--node-name', 'worker-7', '--csr-ip', '10.9.0.7');
    assert.equal(r.ok, true, JSON.stringify(r));
    const checks = r.checks!;
    assert.equal(checks['kubeletCertMatchesCsrKey'], true);
    assert.equal(checks['tokenFormatOk'], true);
    assert.equal(checks['hostCertificateValid'], true, JSON.stringify(checks));

    const secret = readFileSync(svc.info.masterSecretPath);
    const salt = readFileSync(svc.info.masterSaltPath);
    assert.equal(r.stateDiskKey, deriveDataKey(secret, salt, 'worker-disk', 32).toString('hex'));
    assert.equal(r.measurementSalt, readFileSync(svc.info.measurementSaltPath).toString('hex'));
    assert.equal(r.apiServerEndpoint, '127.0.0.1:6443');

    // Kubelet certificate: chains to the cluster CA (openssl), carries the CSR's key and subject.
    const certFile = path.join(work, 'kubelet.pem');
    writeFileSync(certFile, String(r.kubeletCert));
    const verified = await pexec('openssl', ['verify', '-CAfile', svc.info.caCertPath, certFile]);
    assert.equal(verified.stdout.trim(), `${certFile}: OK`);
    const kubelet = new X509Certificate(String(r.kubeletCert));
    assert.equal(kubelet.subject, 'O=system:nodes\nCN=system:node:worker-7');
    assert.equal(kubelet.subjectAltName, 'IP Address:10.9.0.7', 'IP SANs copied, DNS SAN dropped');
    assert.equal(kubelet.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), r.csrPublicKeySpkiHex);

    // Discovery hash: SHA-256 of the CA's SubjectPublicKeyInfo.
    const ca = new X509Certificate(readFileSync(svc.info.caCertPath));
    assert.equal(r.discoveryTokenCaCertHash, `sha256:${createHash('sha256').update(ca.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`);

    // SSH host certificate, read by ssh-keygen, signed by the returned CA.
    const caLine = String(r.authorizedCaPublicKey);
    writeFileSync(path.join(work, 'ca.pub'), caLine);
    writeFileSync(path.join(work, 'host-cert.pub'), String(r.hostCertificate));
    const caFp = (await pexec('ssh-keygen', ['-l', '-f', path.join(work, 'ca.pub')])).stdout.split(' ')[1]!;
    const info = (await pexec('ssh-keygen', ['-L', '-f', path.join(work, 'host-cert.pub')])).stdout;
    assert.match(info, /Type: ssh-ed25519-cert-v01@openssh\.com host certificate/);
    assert.ok(info.includes(`Signing CA: ED25519 ${caFp}`), info);
    assert.match(info, /Serial: 0/);
    assert.match(info, /Valid: after \S+\n/, "valid before = forever");
    assert.match(info, /Principals: \n\s+10\.9\.0\.7\n\s+worker-7\n\s+127\.0\.0\.1\n\s+localhost\n/, info);
    const hostFp = (await pexec('ssh-keygen', ['-l', '-f', writeTemp('host.pub', `${r.hostPublicKeyLine}\n`)])).stdout.split(' ')[1]!;
    assert.match(info, new RegExp(`Public key: ED25519-CERT ${hostFp.replace(/[+/]/g, '\\$&')}`), 'certifies the node\'s host key');

    // The token Secret and the JoiningNode, read back with kubectl.
    const [id, tokenSecret] = String(r.token).split('.') as [string, string];
    const s = await getJson('secret', '-n', 'kube-system', `bootstrap-token-${id}`);
    assert.equal(s['type'], 'bootstrap.kubernetes.io/token');
    const data = Object.fromEntries(Object.entries(s['data'] as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    assert.deepEqual(Object.keys(data).sort(), ['auth-extra-groups', 'description', 'expiration', 'token-id', 'token-secret', 'usage-bootstrap-authentication', 'usage-bootstrap-signing']);
    assert.equal(data['token-id'], id);
    assert.equal(data['token-secret'], tokenSecret);
    assert.equal(data['description'], "Bootstrap token generated by Constellation's Join service");
    assert.match(data['expiration']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const nodeVersion = (await getJson('nodeversion', 'constellation-version'))['spec'] as Record<string, unknown>;
    const jn = (await getJson('joiningnode', 'worker-7'))['spec'] as Record<string, unknown>;
    assert.equal(jn['name'], 'worker-7');
    assert.equal(jn['componentsreference'], nodeVersion['kubernetesComponentsReference']);
    assert.equal(jn['iscontrolplane'], false);
    assert.match(String(jn['deadline']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.kubernetesComponents?.length, 3);
  });

  test('a control plane joins with the control-plane files; a second one is refused meanwhile', async () => {
    const r = await join('--control-plane', '--node-name', 'cp-1');
    assert.equal(r.ok, true, JSON.stringify(r));
    const checks = r.checks!;
    assert.equal(checks['discoveryHashMatchesCa'], true);
    assert.equal(checks['kubeletCertSignedByCa'], true);
    const files = r.controlPlaneFiles!;
    assert.deepEqual(files.map((f) => f.name).sort(), ['ca.crt', 'ca.key', 'etcd/ca.crt', 'etcd/ca.key', 'front-proxy-ca.crt', 'front-proxy-ca.key', 'sa.key', 'sa.pub']);
    const caCrt = files.find((f) => f.name === 'ca.crt')!;
    assert.deepEqual(Buffer.from(caCrt.dataBase64, 'base64'), readFileSync(svc.info.caCertPath));
    const jn = await getJson('joiningnode', 'control-plane');
    assert.equal((jn['spec'] as Record<string, unknown>)['iscontrolplane'], true);

    const second = await join('--control-plane', '--node-name', 'cp-2');
    assert.equal(second.code, 'Internal');
    assert.equal(
      second.message,
      'adding node to joining nodes: failed to create joining control-plane node, maybe another node is already joining: joiningnodes.update.edgeless.systems "control-plane" already exists',
    );
    const del = await kubectl('delete', 'joiningnode', 'control-plane');
    assert.equal(del.code, 0, del.stderr);
  });

  test('a node with a bad CSR or host key gets INTERNAL with the failing step', async () => {
    const cases: [string, RegExp][] = [
      ['csr-wrong-org', /^Generating kubelet certificate: certificate request must have organization "system:nodes" but has "system:masters"$/],
      ['csr-two-orgs', /^Generating kubelet certificate: certificate request must have exactly one organization$/],
      ['csr-wrong-cn', /^Generating kubelet certificate: certificate request must have common name prefix "system:node:" but is "/],
      ['bad-csr-signature', /^Generating kubelet certificate: /],
      ['csr-pem', /^Generating kubelet certificate: /],
      ['empty-host-key', /^unmarshalling host public key: ssh: short read$/],
      ['bad-host-key', /^unmarshalling host public key: ssh: /],
    ];
    for (const [mode, want] of cases) {
      const r = await join('--mode', mode);
      assert.equal(r.code, 'Internal', `${mode}: ${JSON.stringify(r)}`);
      assert.match(r.message ?? '', want, mode);
    }
  });

  test('no key, token secret or CA key material in the service log', async () => {
    const r = await join('--node-name', 'leak-check');
    assert.equal(r.ok, true);
    const text = JSON.stringify(svc.logs);
    const tokenSecret = String(r.token).split('.')[1]!;
    assert.ok(!text.includes(tokenSecret), 'token secret leaked');
    assert.ok(!text.includes(String(r.stateDiskKey)), 'state disk key leaked');
    assert.ok(!text.includes(String(r.measurementSecret)), 'measurement secret leaked');
    const caKey = readFileSync(path.join(svc.info.pkiDir, 'ca.key'), 'utf8').split('\n')[1]!;
    assert.ok(!text.includes(caKey), 'CA key leaked');
    assert.ok(svc.logs.some((l) => l.msg === 'IssueJoinTicket successful'));
  });
});

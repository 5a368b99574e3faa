import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { encodePem } from '../../shared/pem.js';
import { buildDevCaCertificate } from './dev-ca.js';

/** The files a control-plane node has and the join service reads (join-protocol.md §1), for the dev cluster. */
export interface DevClusterFiles {
  pkiDir: string;
  caCertPath: string;
  adminConfPath: string;
  clusterConfigurationPath: string;
}

function rsaKey(): { privateKey: KeyObject; spki: Buffer; pkcs1: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    pkcs1: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

async function exists(file: string): Promise<boolean> {
  return readFile(file).then(
    () => true,
    () => false,
  );
}

async function writeCa(dir: string, base: string, commonName: string): Promise<string> {
  const k = rsaKey();
  const cert = encodePem('CERTIFICATE', buildDevCaCertificate({ privateKey: k.privateKey, spki: k.spki, commonName, now: Date.now() }));
  await writeFile(path.join(dir, `${base}.key`), k.pkcs1, { mode: 0o600 });
  await writeFile(path.join(dir, `${base}.crt`), cert);
  return cert;
}

/**
 * Creates (once) what kubeadm leaves on a control-plane node: RSA-2048 CAs and
 * keys in `pki/` (PKCS#1, as kubeadm writes them), `admin.conf` naming the
 * cluster CA, and the ClusterConfiguration with certSANs.
 */
export async function ensureDevClusterFiles(stateDir: string, apiServer: { url: string; certSANs: string[] }): Promise<DevClusterFiles> {
  const kubeDir = path.join(stateDir, 'kubernetes');
  const pkiDir = path.join(kubeDir, 'pki');
  const files: DevClusterFiles = {
    pkiDir,
    caCertPath: path.join(pkiDir, 'ca.crt'),
    adminConfPath: path.join(kubeDir, 'admin.conf'),
    clusterConfigurationPath: path.join(stateDir, 'kubeadm-config', 'ClusterConfiguration'),
  };
  if (!(await exists(files.caCertPath))) {
    await mkdir(path.join(pkiDir, 'etcd'), { recursive: true, mode: 0o700 });
    await writeCa(pkiDir, 'front-proxy-ca', 'front-proxy-ca');
    await writeCa(path.join(pkiDir, 'etcd'), 'ca', 'etcd-ca');
    const sa = rsaKey();
    await writeFile(path.join(pkiDir, 'sa.key'), sa.pkcs1, { mode: 0o600 });
    await writeFile(path.join(pkiDir, 'sa.pub'), sa.publicPem);
    // ca.crt/ca.key last: their presence marks a complete PKI.
    await writeCa(pkiDir, 'ca', 'kubernetes');
  }
  const caPem = await readFile(files.caCertPath);
  await writeFile(
    files.adminConfPath,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kubernetes', cluster: { server: apiServer.url, 'certificate-authority-data': caPem.toString('base64') } }],
      contexts: [{ name: 'kubernetes-admin@kubernetes', context: { cluster: 'kubernetes', user: 'kubernetes-admin' } }],
      'current-context': 'kubernetes-admin@kubernetes',
      users: [{ name: 'kubernetes-admin', user: {} }],
    }),
    { mode: 0o600 },
  );
  await mkdir(path.dirname(files.clusterConfigurationPath), { recursive: true });
  await writeFile(
    files.clusterConfigurationPath,
    toYaml({ apiVersion: 'kubeadm.k8s.io/v1beta4', kind: 'ClusterConfiguration', clusterName: 'dev', apiServer: { certSANs: apiServer.certSANs } }),
  );
  return files;
}

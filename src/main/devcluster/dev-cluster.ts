import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { KubernetesEmulator } from '../../emulator/kubernetes/index.js';
import { SNP_CERT_CACHE_ARK_KEY, SNP_CERT_CACHE_ASK_KEY, SNP_CERT_CACHE_CONFIGMAP, SNP_CERT_CACHE_NAMESPACE } from '../snp/cert-cache.js';
import { ensureDevClusterFiles, type DevClusterFiles } from './dev-cluster-files.js';

/** What a Constellation bootstrapper stores for nodes to install (join-protocol.md §4 Step 9), for the dev cluster. */
const DEV_COMPONENTS = [
  { url: 'https://dl.k8s.io/v1.34.0/bin/linux/amd64/kubelet', hash: `sha256:${'1'.repeat(64)}`, install_path: '/run/state/bin/kubelet' },
  { url: 'https://dl.k8s.io/v1.34.0/bin/linux/amd64/kubeadm', hash: `sha256:${'2'.repeat(64)}`, install_path: '/run/state/bin/kubeadm' },
  { url: 'https://github.com/containernetworking/plugins/releases/download/v1.6.0/cni-plugins-linux-amd64-v1.6.0.tgz', hash: `sha256:${'3'.repeat(64)}`, install_path: '/opt/cni/bin', extract: true },
];

export interface DevCluster extends DevClusterFiles {
  emulator: KubernetesEmulator;
  /** kubeconfig of the emulated API server (for the service and for kubectl). */
  kubeconfigPath: string;
  componentsConfigMapName: string;
  close(): Promise<void>;
}

/**
 * The embedded default's cluster: the Kubernetes API emulator on loopback,
 * seeded with the NodeVersion and components ConfigMap a bootstrapped
 * Constellation cluster has, plus the control-plane files on disk.
 */
export async function startDevCluster(stateDir: string): Promise<DevCluster> {
  const emulator = await KubernetesEmulator.start({ host: '127.0.0.1' });
  try {
    const files = await ensureDevClusterFiles(stateDir, { url: emulator.endpoint, certSANs: ['127.0.0.1', 'localhost'] });
    const kubeconfigPath = await emulator.writeKubeconfig(path.join(stateDir, 'kubeconfig'));
    const componentsJson = JSON.stringify(DEV_COMPONENTS);
    const name = `k8s-components-sha256-${createHash('sha256').update(componentsJson).digest('hex')}`;
    emulator.objects.configmaps.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'kube-system' },
      immutable: true,
      data: { components: componentsJson, 'cluster-version': 'v1.34.0' },
    });
    emulator.objects.nodeversions.put({
      apiVersion: 'update.edgeless.systems/v1alpha1',
      kind: 'NodeVersion',
      metadata: { name: 'constellation-version' },
      spec: { kubernetesComponentsReference: name, kubernetesClusterVersion: 'v1.34.0' },
    });
    return { ...files, emulator, kubeconfigPath, componentsConfigMapName: name, close: () => emulator.stop() };
  } catch (err) {
    await emulator.stop();
    throw err;
  }
}

/**
 * Seeds the emulator with the `kube-system/sev-snp-cert-cache` ConfigMap
 * (keys `ask` — the ASVK for aws-sev-snp — and `ark`, PEM), as a cluster has
 * it after its first join service started: the start-up certificate cache
 * (../snp/cert-cache.ts) then uses it and never asks AMD KDS.
 */
export function seedSnpCertCache(emulator: KubernetesEmulator, chain: { ask: string; ark: string }): void {
  emulator.objects.configmaps.put({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: SNP_CERT_CACHE_CONFIGMAP, namespace: SNP_CERT_CACHE_NAMESPACE },
    data: { [SNP_CERT_CACHE_ASK_KEY]: chain.ask, [SNP_CERT_CACHE_ARK_KEY]: chain.ark },
  });
}

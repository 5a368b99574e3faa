export { KubernetesEmulator, type KubernetesEmulatorOptions, type RecordedRequest } from './emulator.js';
export { EmulatorFaults, type FaultHandle, type ForcedError, type OutageMode, type RequestMatcher } from './faults.js';
export type { EmulatorObjects, NamespacedObjects, ClusterObjects } from './store.js';
export type { KubeObject, ObjectMeta, ManagedFieldsEntry } from './resources.js';
export type { StatusObject } from './status.js';

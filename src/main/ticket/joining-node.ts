/** Field manager of the server-side apply of worker JoiningNodes (join-protocol.md §1). */
export const JOINING_NODE_FIELD_MANAGER = 'join-service';

const WORKER_DEADLINE_MS = 48 * 60 * 60 * 1000;
const CONTROL_PLANE_DEADLINE_MS = 10 * 60 * 1000;

export interface JoiningNode {
  apiVersion: 'update.edgeless.systems/v1alpha1';
  kind: 'JoiningNode';
  metadata: { name: string };
  spec: { name: string; componentsreference: string; iscontrolplane: boolean; deadline: string };
}

/** RFC 3339 in UTC with second precision, as Go's metav1.Time marshals. */
export function rfc3339Seconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The JoiningNode of join-protocol.md §4 Step 13: named after the node for
 * workers (deadline +48 h), `control-plane` for control planes (+10 min), so
 * control-plane joins are mutually exclusive while the object exists.
 */
export function buildJoiningNode(o: { name: string; componentsReference: string; isControlPlane: boolean; now: Date }): JoiningNode {
  const deadline = new Date(o.now.getTime() + (o.isControlPlane ? CONTROL_PLANE_DEADLINE_MS : WORKER_DEADLINE_MS));
  return {
    apiVersion: 'update.edgeless.systems/v1alpha1',
    kind: 'JoiningNode',
    metadata: { name: o.isControlPlane ? 'control-plane' : o.name },
    spec: { name: o.name, componentsreference: o.componentsReference, iscontrolplane: o.isControlPlane, deadline: rfc3339Seconds(deadline) },
  };
}

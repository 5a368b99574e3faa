/**
 * Go's regular expression as the Go service compiles it (join-protocol.md §4
 * Step 13.1). It is a raw string with a doubled backslash, so the optional
 * group needs a literal backslash followed by any character: effectively only
 * single-label names pass, and names with dots are rejected. Kept
 * bug-compatible on purpose: a node that the Go service refuses must not join
 * through us either (docs/security.md).
 */
const GO_K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Lower-cases, replaces `_` by `-`, and checks the result; throws Go's text otherwise. */
export function k8sCompliantHostname(name: string): string {
  const candidate = name.toLowerCase().replaceAll('_', '-');
  if (!GO_K8S_NAME.test(candidate)) {
    throw new Error(`failed to get k8s compliant hostname: failed to generate a Kubernetes compliant hostname for ${name}`);
  }
  return candidate;
}

/**
 * The attestation variants of Constellation (atls.md §3): the string used on
 * the command line and in configs, and the X.509 extension OID that carries
 * the variant's attestation document.
 */
export const VARIANTS = [
  { name: 'dummy', oid: '1.3.9900.1.1' },
  { name: 'aws-nitro-tpm', oid: '1.3.9900.2.1' },
  { name: 'aws-sev-snp', oid: '1.3.9900.2.2' },
  { name: 'gcp-sev-es', oid: '1.3.9900.3.1' },
  { name: 'gcp-sev-snp', oid: '1.3.9900.3.2' },
  { name: 'azure-sev-snp', oid: '1.3.9900.4.1' },
  { name: 'azure-trustedlaunch', oid: '1.3.9900.4.2' },
  { name: 'azure-tdx', oid: '1.3.9900.4.3' },
  { name: 'qemu-vtpm', oid: '1.3.9900.5.1' },
  { name: 'qemu-tdx', oid: '1.3.9900.5.99' },
] as const;

export type VariantName = (typeof VARIANTS)[number]['name'];

const byName = new Map<string, (typeof VARIANTS)[number]>(VARIANTS.map((v) => [v.name, v]));
const byOid = new Map<string, (typeof VARIANTS)[number]>(VARIANTS.map((v) => [v.oid, v]));

export function isVariantName(s: string): s is VariantName {
  return byName.has(s);
}

/** Parses a variant string as Go's variant.FromString does (case-sensitive). */
export function parseVariant(s: string): VariantName {
  if (!isVariantName(s)) throw new Error(`unknown OID: ${JSON.stringify(s)}`);
  return s;
}

export function variantOid(name: VariantName): string {
  const v = byName.get(name);
  if (!v) throw new Error(`unknown variant ${name}`);
  return v.oid;
}

export function variantByOid(oid: string): VariantName | undefined {
  return byOid.get(oid)?.name;
}

/** Default and allowed variants per cloud provider (atls.md §3). */
export const PROVIDER_VARIANTS: Readonly<Record<string, readonly VariantName[]>> = {
  aws: ['aws-sev-snp', 'aws-nitro-tpm'],
  azure: ['azure-sev-snp', 'azure-tdx', 'azure-trustedlaunch'],
  gcp: ['gcp-sev-snp', 'gcp-sev-es'],
  qemu: ['qemu-vtpm'],
  openstack: ['qemu-vtpm'],
};

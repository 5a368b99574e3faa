/**
 * Test-only builder for TCG firmware event logs: crypto-agile logs (Spec ID
 * event + TCG_PCR_EVENT2 entries with SHA-1 / SHA-256 / optionally SHA-384
 * digests) and legacy SHA-1 logs, the UEFI structures PCR 2/7 events carry,
 * GCE's S-CRTM version and Non-Host-Info payloads, and an independent PCR
 * computation to replay against. Nothing here imports the code under test.
 */
import { createHash } from 'node:crypto';

export const Alg = { SHA1: 0x0004, SHA256: 0x000b, SHA384: 0x000c, SHA512: 0x000d } as const;
const ALG_HASH: Readonly<Record<number, { name: string; size: number }>> = {
  [Alg.SHA1]: { name: 'sha1', size: 20 },
  [Alg.SHA256]: { name: 'sha256', size: 32 },
  [Alg.SHA384]: { name: 'sha384', size: 48 },
  [Alg.SHA512]: { name: 'sha512', size: 64 },
};

export const Ev = {
  PrebootCert: 0x0,
  PostCode: 0x1,
  NoAction: 0x3,
  Separator: 0x4,
  Action: 0x5,
  SCrtmContents: 0x7,
  SCrtmVersion: 0x8,
  Ipl: 0xd,
  NonHostInfo: 0x11,
  EfiVariableDriverConfig: 0x80000001,
  EfiVariableBoot: 0x80000002,
  EfiBootServicesApplication: 0x80000003,
  EfiBootServicesDriver: 0x80000004,
  EfiGptEvent: 0x80000006,
  EfiAction: 0x80000007,
  EfiPlatformFirmwareBlob: 0x80000008,
  EfiHandoffTables: 0x80000009,
  EfiPlatformFirmwareBlob2: 0x8000000a,
  EfiVariableAuthority: 0x800000e0,
} as const;

export function hash(alg: string, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return Uint8Array.from(h.digest());
}

export const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
export const utf16 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf16le'));
export const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

export function u16(n: number): Uint8Array {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return Uint8Array.from(b);
}
export function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return Uint8Array.from(b);
}
export function u64(n: number | bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return Uint8Array.from(b);
}

/** An EFI_GUID in its mixed-endian byte form. */
export function guid(text: string): Uint8Array {
  const b = Buffer.from(text.replace(/-/g, ''), 'hex');
  return Uint8Array.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)] as number[]);
}

export const GUID = {
  globalVariable: guid('8be4df61-93ca-11d2-aa0d-00e098032b8c'),
  imageSecurityDatabase: guid('d719b2cb-3d3a-4596-a3bc-dad00e67656f'),
  shimLock: guid('605dab50-e046-4300-abb6-3dd810dd8b23'),
  certX509: guid('a5c059a1-94e4-4aa7-87b5-ab155c2bf072'),
  certSha256: guid('c1c41626-504c-4092-aca9-41f936934328'),
  certSha1: guid('826ca512-cf10-4ac9-b187-be01496631bd'),
  owner: guid('77fa9abd-0359-4d32-bd60-28f4e78f784b'),
};

/** UEFI_VARIABLE_DATA. */
export function variableData(g: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  return concat(g, u64(name.length), u64(data.length), utf16(name), data);
}

/** One EFI_SIGNATURE_LIST whose entries all have the same size. */
export function signatureList(type: Uint8Array, entries: Uint8Array[], owner = GUID.owner): Uint8Array {
  const size = 16 + (entries[0]?.length ?? 0);
  return concat(type, u32(28 + entries.length * size), u32(0), u32(size), ...entries.flatMap((e) => [owner, e]));
}

/** UEFI_IMAGE_LOAD_EVENT with the given device path bytes. */
export function imageLoad(devicePath: Uint8Array, o: { location?: number; length?: number } = {}): Uint8Array {
  return concat(u64(o.location ?? 0x7e000000), u64(o.length ?? 0x10000), u64(0), u64(devicePath.length), devicePath);
}

/** A device path element (`type, subType, u16 length, data`). */
export function devicePathElement(type: number, subType: number, data: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(type, subType), u16(4 + data.length), data);
}
export const DEVICE_PATH_END = devicePathElement(0x7f, 0xff, new Uint8Array(0));

/** GCE's S-CRTM version string: UTF-16LE "GCE Virtual Firmware v<n>" plus a NUL. */
export function gceScrtmVersion(n: number | string): Uint8Array {
  return concat(utf16(`GCE Virtual Firmware v${n}`), Uint8Array.of(0, 0));
}

/** GCE's Non-Host-Info event data: signature, technology byte, 15 reserved bytes. */
export function gceNonHostInfo(technology: number): Uint8Array {
  return concat(ascii('GCE NonHostInfo\0'), Uint8Array.of(technology), new Uint8Array(15));
}

export interface SpecIdOptions {
  algs?: { id: number; size: number }[];
  signature?: Uint8Array;
  major?: number;
  minor?: number;
  vendorInfo?: Uint8Array;
  /** Overrides the declared vendor info size. */
  vendorInfoSize?: number;
}

export function specIdEventData(o: SpecIdOptions = {}): Uint8Array {
  const algs = o.algs ?? [
    { id: Alg.SHA1, size: 20 },
    { id: Alg.SHA256, size: 32 },
  ];
  const vendor = o.vendorInfo ?? new Uint8Array(0);
  return concat(
    o.signature ?? ascii('Spec ID Event03\0'),
    u32(0), // platform class
    Uint8Array.of(o.minor ?? 0, o.major ?? 2, 0, 2),
    u32(algs.length),
    ...algs.map((a) => concat(u16(a.id), u16(a.size))),
    Uint8Array.of(o.vendorInfoSize ?? vendor.length),
    vendor,
  );
}

/** A TCG_PCR_EVENT (legacy SHA-1 layout). */
export function legacyEvent(pcr: number, type: number, sha1: Uint8Array, data: Uint8Array, declaredSize = data.length): Uint8Array {
  return concat(u32(pcr), u32(type), sha1, u32(declaredSize), data);
}

export interface EventOptions {
  /** Digests are computed over this instead of the event data (e.g. an Authenticode hash stand-in). */
  digestOf?: Uint8Array;
  /** Explicit digests per algorithm id (replaces the computed ones for those algorithms). */
  digests?: Partial<Record<number, Uint8Array>>;
  /** Leaves out the digests of these algorithms. */
  omit?: number[];
}

interface BuiltEvent {
  pcr: number;
  type: number;
  data: Uint8Array;
  digests: Map<number, Uint8Array>;
}

export class EventLogBuilder {
  readonly events: BuiltEvent[] = [];
  readonly algs: { id: number; size: number }[];

  constructor(
    private readonly o: { algs?: { id: number; size: number }[]; legacy?: boolean; specId?: SpecIdOptions } = {},
  ) {
    this.algs = o.legacy
      ? [{ id: Alg.SHA1, size: 20 }]
      : (o.algs ?? [
          { id: Alg.SHA1, size: 20 },
          { id: Alg.SHA256, size: 32 },
        ]);
  }

  add(pcr: number, type: number, data: Uint8Array, eo: EventOptions = {}): this {
    const digests = new Map<number, Uint8Array>();
    for (const a of this.algs) {
      if (eo.omit?.includes(a.id)) continue;
      const explicit = eo.digests?.[a.id];
      digests.set(a.id, explicit ?? hash((ALG_HASH[a.id] as { name: string }).name, eo.digestOf ?? data));
    }
    this.events.push({ pcr, type, data, digests });
    return this;
  }

  /** EV_SEPARATOR with data 00000000 in each of the given PCRs. */
  separators(pcrs: number[], data = Uint8Array.of(0, 0, 0, 0)): this {
    for (const p of pcrs) this.add(p, Ev.Separator, data);
    return this;
  }

  build(): Uint8Array {
    if (this.o.legacy) {
      return concat(...this.events.map((e) => legacyEvent(e.pcr, e.type, e.digests.get(Alg.SHA1) ?? new Uint8Array(20), e.data)));
    }
    const header = legacyEvent(0, Ev.NoAction, new Uint8Array(20), specIdEventData({ algs: this.algs, ...this.o.specId }));
    return concat(
      header,
      ...this.events.map((e) =>
        concat(u32(e.pcr), u32(e.type), u32(e.digests.size), ...[...e.digests].map(([id, d]) => concat(u16(id), d)), u32(e.data.length), e.data),
      ),
    );
  }

  /**
   * The PCR values the log extends to in bank `alg` (every PCR that has a
   * measured event, plus `extra` indices left at their reset value of zero).
   */
  pcrs(alg: number, extra: number[] = []): Map<number, Uint8Array> {
    const { name, size } = ALG_HASH[alg] as { name: string; size: number };
    const out = new Map<number, Uint8Array>();
    let locality = 0;
    for (const e of this.events) {
      if (e.type === Ev.NoAction) {
        if (e.pcr === 0 && e.data.length === 17 && Buffer.from(e.data.subarray(0, 15)).toString('latin1') === 'StartupLocality') locality = e.data[16] as number;
        continue;
      }
      let cur = out.get(e.pcr);
      if (!cur) {
        cur = new Uint8Array(size);
        if (e.pcr === 0) cur[size - 1] = locality;
      }
      out.set(e.pcr, hash(name, cur, e.digests.get(alg) ?? new Uint8Array(0)));
    }
    for (const i of extra) if (!out.has(i)) out.set(i, new Uint8Array(size));
    return out;
  }
}

export interface GceLikeOptions {
  gceVersion?: number | string;
  technology?: number;
  secureBoot?: boolean;
  algs?: { id: number; size: number }[];
  /** DER certificates: PK, KEK, db (the db certificate also signs the boot loader: the post-separator authority). */
  certs: { pk: Uint8Array; kek: Uint8Array; db: Uint8Array };
}

export const EXIT_BOOT_SERVICES = 'Exit Boot Services Invocation';
export const CALLING_EFI_APP = 'Calling EFI Application from Boot Option';

/**
 * A log shaped like a GCE Confidential VM's firmware log (OVMF-based): S-CRTM
 * version + Non-Host-Info in PCR 0, secure-boot variables in PCR 7, boot
 * variables in PCR 1, a PCI option-ROM driver in PCR 2, separators in 0–7,
 * the boot application chain in PCR 4 and GPT + ExitBootServices in PCR 5.
 */
export function gceLikeLog(o: GceLikeOptions): EventLogBuilder {
  const b = new EventLogBuilder(o.algs ? { algs: o.algs } : {});
  const img = (name: string) => ascii(`PE image ${name}`);
  const dbHash = hash('sha256', ascii('an allowed image'));
  b.add(0, Ev.SCrtmVersion, gceScrtmVersion(o.gceVersion ?? 20240606))
    .add(0, Ev.NonHostInfo, gceNonHostInfo(o.technology ?? 1))
    .add(0, Ev.EfiPlatformFirmwareBlob, concat(u64(0xffc00000), u64(0x400000)), { digestOf: ascii('firmware volume') })
    .add(7, Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'SecureBoot', Uint8Array.of(o.secureBoot === false ? 0 : 1)))
    .add(7, Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'PK', signatureList(GUID.certX509, [o.certs.pk])))
    .add(7, Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'KEK', signatureList(GUID.certX509, [o.certs.kek])))
    .add(
      7,
      Ev.EfiVariableDriverConfig,
      variableData(GUID.imageSecurityDatabase, 'db', concat(signatureList(GUID.certX509, [o.certs.db]), signatureList(GUID.certSha256, [dbHash]))),
    )
    .add(
      7,
      Ev.EfiVariableDriverConfig,
      variableData(GUID.imageSecurityDatabase, 'dbx', signatureList(GUID.certSha256, [1, 2, 3].map((i) => hash('sha256', Uint8Array.of(i))))),
    )
    .add(1, Ev.EfiVariableBoot, variableData(GUID.globalVariable, 'BootOrder', Uint8Array.of(1, 0, 0, 0)))
    .add(1, Ev.EfiVariableBoot, variableData(GUID.globalVariable, 'Boot0001', ascii('UEFI Google PersistentDisk')))
    .add(
      2,
      Ev.EfiBootServicesDriver,
      imageLoad(
        concat(
          devicePathElement(0x02, 0x01, concat(u32(0x0a0341d0), u32(0))),
          devicePathElement(0x01, 0x01, Uint8Array.of(0, 3)),
          devicePathElement(0x04, 0x08, concat(u64(0), u64(0xffff))),
          DEVICE_PATH_END,
        ),
      ),
      { digestOf: img('option rom') },
    )
    .add(4, Ev.EfiAction, ascii(CALLING_EFI_APP))
    .separators([0, 1, 2, 3, 4, 5, 6, 7])
    .add(7, Ev.EfiVariableAuthority, variableData(GUID.imageSecurityDatabase, 'db', concat(GUID.owner, o.certs.db)))
    .add(4, Ev.EfiBootServicesApplication, imageLoad(DEVICE_PATH_END), { digestOf: img('shim') })
    .add(7, Ev.EfiVariableAuthority, variableData(GUID.shimLock, 'SbatLevel', ascii('sbat,1,2021030218\n')))
    .add(4, Ev.EfiBootServicesApplication, imageLoad(DEVICE_PATH_END), { digestOf: img('grub') })
    .add(4, Ev.EfiBootServicesApplication, imageLoad(DEVICE_PATH_END), { digestOf: img('linux') })
    .add(5, Ev.EfiGptEvent, concat(ascii('EFI PART'), new Uint8Array(84)))
    .add(5, Ev.EfiAction, ascii(EXIT_BOOT_SERVICES))
    .add(5, Ev.EfiAction, ascii('Exit Boot Services Returned with Success'));
  return b;
}

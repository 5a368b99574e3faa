/**
 * MachineState derivation from the replay-verified events
 * (tpm-attestation.md §7.4), mirroring go-tpm-tools v0.4.6
 * `parsePCClientEventLog` with Constellation's options (Loader none,
 * AllowEFIAppBeforeCallingEvent false) and go-attestation v0.5.1
 * `ParseSecurebootState`. The three derivations are independent; each
 * returns its result or Go's error text.
 */
import { createHash } from 'node:crypto';
import { GoParseError } from './binary-reader.js';
import {
  parseDevicePath,
  parseEfiImageLoad,
  parseEfiSignatureList,
  parseUefiVariableData,
  parseVariableAuthority,
  type DevicePathElement,
  type SignatureDatabase,
} from './efi-variables.js';
import { goByteSlice, goHashX, goQuote } from './go-format.js';
import type { BankHash, VerifiedEvent } from './replay.js';

export const EventType = {
  Separator: 0x00000004,
  SCrtmVersion: 0x00000008,
  NonHostInfo: 0x00000011,
  EfiVariableDriverConfig: 0x80000001,
  EfiBootServicesApplication: 0x80000003,
  EfiBootServicesDriver: 0x80000004,
  EfiAction: 0x80000007,
  EfiVariableAuthority: 0x800000e0,
} as const;

/**
 * go-attestation `internal.eventTypeNames`: the only event types
 * `UntrustedParseEventType` accepts (its range check is a no-op), with the
 * names `%v` prints.
 */
const EVENT_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x00000000, 'Preboot Cert'],
  [0x00000001, 'POST Code'],
  [0x00000002, 'Unused'],
  [0x00000003, 'No Action'],
  [0x00000004, 'Separator'],
  [0x00000005, 'Action'],
  [0x00000006, 'Event Tag'],
  [0x00000007, 'S-CRTM Contents'],
  [0x00000008, 'S-CRTM Version'],
  [0x00000009, 'CPU Microcode'],
  [0x0000000a, 'Platform Config Flags'],
  [0x0000000b, 'Table of Devices'],
  [0x0000000c, 'Compact Hash'],
  [0x0000000d, 'IPL'],
  [0x0000000e, 'IPL Partition Data'],
  [0x0000000f, 'Non-Host Code'],
  [0x00000010, 'Non-HostConfig'],
  [0x00000011, 'Non-Host Info'],
  [0x00000012, 'Omit Boot Device Events'],
  [0x80000000, 'EFI Event Base'],
  [0x80000001, 'EFI Variable Driver Config'],
  [0x80000002, 'EFI Variable Boot'],
  [0x80000003, 'EFI Boot Services Application'],
  [0x80000004, 'EFI Boot Services Driver'],
  [0x80000005, 'EFI Runtime Services Driver'],
  [0x80000006, 'EFI GPT Event'],
  [0x80000007, 'EFI Action'],
  [0x80000008, 'EFI Platform Firmware Blob'],
  [0x80000009, 'EFI Handoff Tables'],
  [0x80000010, 'EFI H-CRTM Event'],
  [0x800000e0, 'EFI Variable Authority'],
]);

/** A verified event as go-tpm-tools' pb.Event sees it. */
export interface StateEvent extends VerifiedEvent {
  /** H_B(data) == digest. */
  digestVerified: boolean;
}

export function toStateEvents(bank: BankHash, events: readonly VerifiedEvent[]): StateEvent[] {
  return events.map((e) => ({ ...e, digestVerified: Buffer.from(createHash(bank).update(e.data).digest()).equals(e.digest) }));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

// ---------------------------------------------------------------------------
// Separators (go-tpm-tools getSeparatorInfo / checkIfValidSeparator)

interface SeparatorInfo {
  digests: Uint8Array[];
}

const SEPARATOR_DATA = [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0xff, 0xff, 0xff, 0xff)];

/**
 * Quirk (MUST mirror): go-tpm-tools never resets its hasher, so the second
 * digest is H(00000000 ‖ FFFFFFFF), not H(FFFFFFFF).
 */
function separatorInfo(bank: BankHash): SeparatorInfo {
  return {
    digests: [createHash(bank).update(SEPARATOR_DATA[0] as Uint8Array).digest(), createHash(bank).update(Buffer.concat(SEPARATOR_DATA)).digest()],
  };
}

/** true: a valid separator; false: not a separator; throws GoParseError otherwise. */
function isValidSeparator(e: StateEvent, info: SeparatorInfo): boolean {
  if (e.type !== EventType.Separator && !info.digests.some((d) => bytesEqual(d, e.digest))) return false;
  if (e.type !== EventType.Separator) throw new GoParseError(`PCR${e.index} event contains separator data but non-separator type ${e.type}`);
  if (!e.digestVerified) throw new GoParseError(`unverified separator digest for PCR${e.index}`);
  if (!SEPARATOR_DATA.some((d) => bytesEqual(d, e.data))) throw new GoParseError(`invalid separator data for PCR${e.index}`);
  return true;
}

// ---------------------------------------------------------------------------
// Platform state (PCR 0)

export interface PlatformState {
  gceVersion?: number;
  scrtmVersionId: Uint8Array;
  technology: number;
}

/** UTF-16LE "GCE Virtual Firmware v". */
const GCE_FIRMWARE_PREFIX = Buffer.from('GCE Virtual Firmware v', 'utf16le');
const GCE_NON_HOST_INFO_SIGNATURE = Buffer.from('GCE NonHostInfo\0', 'latin1');
const GCE_TECHNOLOGY_MAX = 4; // AMD_SEV_SNP

/** go-tpm-tools ConvertSCRTMVersionToGCEFirmwareVersion; undefined on any failure. */
export function gceFirmwareVersion(version: Uint8Array): number | undefined {
  const n = GCE_FIRMWARE_PREFIX.length;
  if (version.length <= n || version.length % 2 !== 0) return undefined;
  if (!GCE_FIRMWARE_PREFIX.equals(version.subarray(0, n))) return undefined;
  let ascii = '';
  const rest = version.subarray(n);
  for (let i = 0; i < rest.length; i++) {
    const b = rest[i] as number;
    if (b === 0) continue;
    if (i % 2 !== 0) return undefined;
    ascii += String.fromCharCode(b);
  }
  // strconv.ParseUint(s, 10, 32): decimal digits only, no sign, no underscores.
  if (!/^[0-9]+$/.test(ascii)) return undefined;
  const v = BigInt(ascii);
  return v <= 0xffffffffn ? Number(v) : undefined;
}

/** go-tpm-tools ParseGCENonHostInfo; NONE (0) on any failure. */
export function gceTechnology(info: Uint8Array): number {
  const n = GCE_NON_HOST_INFO_SIGNATURE.length;
  if (info.length < n + 1 || !GCE_NON_HOST_INFO_SIGNATURE.equals(info.subarray(0, n))) return 0;
  const tech = info[n] as number;
  return tech > GCE_TECHNOLOGY_MAX ? 0 : tech;
}

export function getPlatformState(bank: BankHash, events: readonly StateEvent[]): PlatformState {
  const sep = separatorInfo(bank);
  let version: Uint8Array = new Uint8Array(0);
  let nonHostInfo: Uint8Array = new Uint8Array(0);
  for (const e of events) {
    if (e.index !== 0) continue;
    if (isValidSeparator(e, sep)) break; // PCR-0 events after the separator are not trusted
    if (e.type === EventType.SCrtmVersion) {
      if (!e.digestVerified) throw new GoParseError(`invalid SCRTM version event for PCR${e.index}`);
      version = e.data;
    }
    if (e.type === EventType.NonHostInfo) {
      if (!e.digestVerified) throw new GoParseError(`invalid Non-Host info event for PCR${e.index}`);
      nonHostInfo = e.data;
    }
  }
  const gceVersion = gceFirmwareVersion(version);
  return {
    // The firmware is a oneof in Go: either the GCE version or the raw id.
    ...(gceVersion !== undefined ? { gceVersion } : {}),
    scrtmVersionId: gceVersion !== undefined ? new Uint8Array(0) : version,
    technology: gceTechnology(nonHostInfo),
  };
}

// ---------------------------------------------------------------------------
// Secure-boot state (PCRs 7 and 2)

export interface SecureBootState {
  enabled: boolean;
  pk: SignatureDatabase;
  kek: SignatureDatabase;
  db: SignatureDatabase;
  dbx: SignatureDatabase;
  /** DER certificates of post-separator EV_EFI_VARIABLE_AUTHORITY events. */
  authority: Uint8Array[];
  dmaProtectionDisabled: boolean;
  /** Device paths of the pre-separator PCR-2 boot-services drivers (untrusted hints). */
  driverDevicePaths: DevicePathElement[][];
}

function emptyDatabase(): SignatureDatabase {
  return { certs: [], hashes: [] };
}

export function emptySecureBootState(): SecureBootState {
  return { enabled: false, pk: emptyDatabase(), kek: emptyDatabase(), db: emptyDatabase(), dbx: emptyDatabase(), authority: [], dmaProtectionDisabled: false, driverDevicePaths: [] };
}

/** go-attestation Event.digestEquals: the error text, or undefined when the digest matches. */
function digestEquals(digest: Uint8Array, data: Uint8Array): string | undefined {
  if (digest.length === 0) return 'no digests present';
  let alg: 'sha1' | 'sha256';
  if (digest.length === 32) alg = 'sha256';
  else if (digest.length === 20) alg = 'sha1';
  else return `cannot compare hash of length ${digest.length}`;
  return bytesEqual(createHash(alg).update(data).digest(), digest) ? undefined : `digest (len ${digest.length}) does not match`;
}

function wrap<T>(prefix: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof GoParseError) throw new GoParseError(prefix + err.message);
    throw err;
  }
}

/** The PCR-2/7 separator checks of ParseSecurebootState. */
function checkSecureBootSeparator(e: VerifiedEvent, seen: boolean, digestError: string | undefined): void {
  if (seen) throw new GoParseError(`duplicate separator at event ${e.sequence}`);
  if (!bytesEqual(e.data, SEPARATOR_DATA[0] as Uint8Array)) throw new GoParseError(`invalid separator data at event ${e.sequence}: ${goByteSlice(e.data)}`);
  if (digestError !== undefined) throw new GoParseError(`invalid separator digest at event ${e.sequence}: ${digestError}`);
}

const DATABASE_ERRORS = {
  PK: ['pk', 'platform keys'],
  KEK: ['kek', 'key exchange keys'],
  db: ['db', 'signature database'],
  dbx: ['dbx', 'forbidden signature database'],
} as const;

/** go-attestation ParseSecurebootState; texts without go-tpm-tools' "failed to parse SecureBootState: ". */
function parseSecureBootState(events: readonly VerifiedEvent[]): { state: SecureBootState; preSeparatorAuthorities: number } {
  const out = emptySecureBootState();
  let seenSeparator7 = false;
  let seenSeparator2 = false;
  let seenAuthority = false;
  let preSeparatorAuthorities = 0;
  const seenVars = new Set<string>();

  for (const e of events) {
    if (e.index !== 7 && e.index !== 2) continue;
    const typeName = EVENT_TYPE_NAMES.get(e.type);
    if (typeName === undefined) throw new GoParseError(`unrecognised event type: unknown event type ${goHashX(e.type)}`);
    let digestError = digestEquals(e.digest, e.data);

    if (e.index === 7) {
      switch (e.type) {
        case EventType.Separator:
          checkSecureBootSeparator(e, seenSeparator7, digestError);
          seenSeparator7 = true;
          break;
        case EventType.EfiAction: {
          const action = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('latin1');
          if (action === 'UEFI Debug Mode') throw new GoParseError('a UEFI debugger was present during boot');
          if (action !== 'DMA Protection Disabled') throw new GoParseError(`event ${e.sequence}: unexpected EFI action event`);
          if (digestError !== undefined) {
            throw new GoParseError(`invalid digest for EFI Action 'DMA Protection Disabled' on event ${e.sequence}: ${digestError}`);
          }
          out.dmaProtectionDisabled = true;
          break;
        }
        case EventType.EfiVariableDriverConfig: {
          const v = wrap(`failed parsing EFI variable at event ${e.sequence}: `, () => parseUefiVariableData(e.data));
          const name = goQuote(v.name);
          if (seenVars.has(v.name)) throw new GoParseError(`duplicate EFI variable ${name} at event ${e.sequence}`);
          seenVars.add(v.name);
          if (seenSeparator7) throw new GoParseError(`event ${e.sequence}: variable ${name} specified after separator`);
          if (digestError !== undefined) throw new GoParseError(`invalid digest for variable ${name} on event ${e.sequence}: ${digestError}`);
          if (v.name === 'SecureBoot') {
            if (v.data.length !== 1) throw new GoParseError(`event ${e.sequence}: SecureBoot data len is ${v.data.length}, expected 1`);
            out.enabled = v.data[0] === 1;
          } else if (v.name === 'PK' || v.name === 'KEK' || v.name === 'db' || v.name === 'dbx') {
            const [field, what] = DATABASE_ERRORS[v.name];
            out[field] = wrap(`event ${e.sequence}: failed parsing ${what}: `, () => parseEfiSignatureList(v.data));
          }
          break;
        }
        case EventType.EfiVariableAuthority: {
          const v = wrap('failed parsing UEFI variable data: ', () => parseUefiVariableData(e.data));
          const a = wrap(`failed parsing EFI variable authority at event ${e.sequence}: `, () => parseVariableAuthority(v));
          // Old-shim workaround: the event carries one byte too many.
          if (a.missingOwnerGuid && digestError !== undefined && e.data.length > 0) digestError = digestEquals(e.digest, e.data.subarray(0, e.data.length - 1));
          seenAuthority = true;
          if (digestError !== undefined) throw new GoParseError(`invalid digest for authority on event ${e.sequence}: ${digestError}`);
          if (!seenSeparator7) preSeparatorAuthorities += a.certs.length;
          else out.authority.push(...a.certs);
          break;
        }
        default:
          throw new GoParseError(`unexpected event type in PCR7: ${typeName}`);
      }
    } else {
      if (e.type === EventType.Separator) {
        checkSecureBootSeparator(e, seenSeparator2, digestError);
        seenSeparator2 = true;
      } else if (e.type === EventType.EfiBootServicesDriver && !seenSeparator2) {
        const path = wrap(`failed parsing EFI image load at boot services driver event ${e.sequence}: `, () => parseEfiImageLoad(e.data));
        out.driverDevicePaths.push(wrap(`failed to parse device path for driver load event ${e.sequence}: `, () => parseDevicePath(path)));
      }
    }
  }

  if (out.enabled) {
    const empty = (d: SignatureDatabase) => d.certs.length === 0 && d.hashes.length === 0;
    if (!seenAuthority) throw new GoParseError('secure boot was enabled but no key was used');
    if (empty(out.pk)) throw new GoParseError('secure boot was enabled but no platform keys were known');
    if (empty(out.kek)) throw new GoParseError('secure boot was enabled but no key exchange keys were known');
    if (empty(out.db)) throw new GoParseError('secure boot was enabled but no keys or hashes were permitted');
  }
  return { state: out, preSeparatorAuthorities };
}

/** go-tpm-tools getSecureBootState. */
export function getSecureBootState(events: readonly VerifiedEvent[]): SecureBootState {
  const { state, preSeparatorAuthorities } = wrap('failed to parse SecureBootState: ', () => parseSecureBootState(events));
  if (preSeparatorAuthorities !== 0) {
    throw new GoParseError(`event log contained ${preSeparatorAuthorities} pre-separator authorities, which are not expected or supported`);
  }
  return state;
}

// ---------------------------------------------------------------------------
// EFI state (PCRs 4 and 5)

export interface EfiState {
  /** Digests of the EV_EFI_BOOT_SERVICES_APPLICATION events in PCR 4. */
  apps: Uint8Array[];
}

const CALLING_EFI_APPLICATION = 'Calling EFI Application from Boot Option';
const EXIT_BOOT_SERVICES_INVOCATION = 'Exit Boot Services Invocation';

/** go-tpm-tools getEfiState; undefined unless an ExitBootServices event was seen. */
export function getEfiState(bank: BankHash, events: readonly StateEvent[]): EfiState | undefined {
  const sep = separatorInfo(bank);
  const callingDigest = createHash(bank).update(CALLING_EFI_APPLICATION, 'latin1').digest();
  const ebsDigest = createHash(bank).update(EXIT_BOOT_SERVICES_INVOCATION, 'latin1').digest();
  const apps: Uint8Array[] = [];
  let seenSeparator4 = false;
  let seenSeparator5 = false;
  let seenCallingEfiApp = false;
  let seenExitBootServices = false;

  for (const e of events) {
    if (e.index === 4) {
      if (bytesEqual(callingDigest, e.digest)) {
        if (e.type !== EventType.EfiAction) throw new GoParseError(`PCR${e.index} contains CallingEFIApp event but non EFIAction type: ${e.type}`);
        if (!e.digestVerified) throw new GoParseError(`unverified CallingEFIApp digest for PCR${e.index}`);
        if (seenCallingEfiApp) throw new GoParseError(`found duplicate CallingEFIApp event in PCR${e.index}`);
        if (seenSeparator4) throw new GoParseError(`found CallingEFIApp event in PCR${e.index} after separator event`);
        seenCallingEfiApp = true;
      }
      if (e.type === EventType.EfiBootServicesApplication) {
        if (!seenCallingEfiApp) throw new GoParseError(`found EFIBootServicesApplication in PCR${e.index} before CallingEFIApp event`);
        apps.push(e.digest);
      }
      if (!isValidSeparator(e, sep)) continue;
      if (seenSeparator4) throw new GoParseError('found duplicate Separator event in PCR4');
      seenSeparator4 = true;
    } else if (e.index === 5) {
      if (bytesEqual(ebsDigest, e.digest)) {
        if (e.type !== EventType.EfiAction) throw new GoParseError(`PCR${e.index} contains ExitBootServices event but non EFIAction type: ${e.type}`);
        if (!e.digestVerified) throw new GoParseError(`unverified ExitBootServices digest for PCR${e.index}`);
        // Quirk: Go's `break` leaves only the switch; later events are still processed.
        seenExitBootServices = true;
        continue;
      }
      if (!isValidSeparator(e, sep)) continue;
      if (seenSeparator5) throw new GoParseError('found duplicate Separator event in PCR5');
      seenSeparator5 = true;
    }
  }
  return seenExitBootServices ? { apps } : undefined;
}

/**
 * PCR banks of a TPM as seen after TPM2_Startup(CLEAR) from locality 0 and a
 * series of measurements (TPM2_PCR_Extend semantics: PCR := H(PCR ‖ digest),
 * with the event digest computed by each bank's own hash, as firmware and
 * TPM2_PCR_Event do).
 */
import { createHash } from 'node:crypto';
import { BANKS, bankName, type BankName } from './tpm-structures.js';

/** PCRs of a PC-client TPM. */
export const PCR_COUNT = 24;

/** One measurement: `data` is hashed by every bank and extended into PCR `pcr`. */
export interface PcrEvent {
  pcr: number;
  data: Uint8Array | string;
}

/**
 * Value of a PCR after TPM2_Startup(CLEAR) from locality 0: zero, except the
 * DRTM PCRs 17–22, which reset to all ones (as swtpm/libtpms reports them).
 */
export function resetPcrValue(bank: BankName, index: number): Uint8Array {
  const v = new Uint8Array(BANKS[bank].size);
  if (index >= 17 && index <= 22) v.fill(0xff);
  return v;
}

export function eventBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

/** The event digest a bank extends: H_bank(data). */
export function eventDigest(bank: BankName, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHash(BANKS[bank].hash).update(eventBytes(data)).digest());
}

const SEPARATOR = new Uint8Array(4);
const SEPARATOR_PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

/**
 * A plausible measured boot of a Constellation qemu-vtpm node (firmware,
 * shim/systemd-boot, unified kernel image with initrd and command line,
 * Secure Boot variables, MOK list), with PCRs 8, 10, 12, 13, 15 and 16 left
 * at zero: images expect 8, 12 and 13 zero and PCR 15 must still be zero on a
 * joining node (tpm-attestation.md §9.3, §12.4). The labels are descriptive;
 * the resulting values are fixed, so dev configs can carry them.
 */
export const DEFAULT_BOOT_EVENTS: readonly PcrEvent[] = [
  { pcr: 0, data: 'S-CRTM version: EDK II OVMF (software TPM)' },
  { pcr: 0, data: 'EFI platform firmware blob: OVMF_CODE.fd' },
  { pcr: 1, data: 'EFI handoff tables: SMBIOS' },
  { pcr: 1, data: 'EFI variable boot: BootOrder' },
  { pcr: 1, data: 'EFI variable boot: Boot0000' },
  { pcr: 7, data: 'EFI variable driver config: SecureBoot' },
  { pcr: 7, data: 'EFI variable driver config: PK' },
  { pcr: 7, data: 'EFI variable driver config: KEK' },
  { pcr: 7, data: 'EFI variable driver config: db' },
  { pcr: 7, data: 'EFI variable driver config: dbx' },
  ...SEPARATOR_PCRS.map((pcr) => ({ pcr, data: SEPARATOR })),
  { pcr: 4, data: 'EFI action: Calling EFI Application from Boot Option' },
  { pcr: 5, data: 'EFI GPT event: constellation disk' },
  { pcr: 7, data: 'EFI variable authority: db (Constellation image signing key)' },
  { pcr: 4, data: 'EFI boot services application: \\EFI\\BOOT\\BOOTX64.EFI (systemd-boot)' },
  { pcr: 14, data: 'MokList' },
  { pcr: 4, data: 'EFI boot services application: \\EFI\\Linux\\constellation.efi (UKI)' },
  { pcr: 11, data: 'UKI section .linux' },
  { pcr: 11, data: 'UKI section .osrel' },
  { pcr: 11, data: 'UKI section .cmdline' },
  { pcr: 11, data: 'UKI section .initrd' },
  { pcr: 11, data: 'UKI section .uname' },
  { pcr: 9, data: 'initrd: constellation initramfs' },
  { pcr: 5, data: 'EFI action: Exit Boot Services Invocation' },
  { pcr: 5, data: 'EFI action: Exit Boot Services Returned with Success' },
  { pcr: 11, data: 'systemd-pcrphase: enter-initrd' },
  { pcr: 11, data: 'systemd-pcrphase: leave-initrd' },
];

/** The PCR values of several banks; every operation applies to all banks alike. */
export class PcrBanks {
  private readonly values: Map<BankName, Uint8Array[]>;

  constructor(readonly banks: readonly BankName[]) {
    this.values = new Map(banks.map((b) => [b, Array.from({ length: PCR_COUNT }, (_, i) => resetPcrValue(b, i))]));
  }

  private bankValues(bank: BankName | number): Uint8Array[] {
    const name = bankName(bank);
    const v = this.values.get(name);
    if (!v) throw new Error(`PCR bank ${name} is not allocated`);
    return v;
  }

  /** TPM2_PCR_Extend of one bank with a digest of that bank's size. */
  extendDigest(bank: BankName, pcr: number, digest: Uint8Array): void {
    checkIndex(pcr);
    const values = this.bankValues(bank);
    if (digest.length !== BANKS[bank].size) throw new Error(`a ${bank} digest has ${BANKS[bank].size} bytes, got ${digest.length}`);
    values[pcr] = new Uint8Array(createHash(BANKS[bank].hash).update(values[pcr]!).update(digest).digest());
  }

  /** A measurement into every bank (TPM2_PCR_Event semantics). */
  event(pcr: number, data: Uint8Array | string): void {
    for (const bank of this.banks) this.extendDigest(bank, pcr, eventDigest(bank, data));
  }

  /** Overrides one PCR value (for configurations a real TPM cannot reach by extending). */
  set(bank: BankName | number, pcr: number, value: Uint8Array): void {
    checkIndex(pcr);
    const name = bankName(bank);
    if (value.length !== BANKS[name].size) throw new Error(`a ${name} PCR has ${BANKS[name].size} bytes, got ${value.length}`);
    this.bankValues(name)[pcr] = new Uint8Array(value);
  }

  get(bank: BankName | number, pcr: number): Uint8Array {
    checkIndex(pcr);
    return new Uint8Array(this.bankValues(bank)[pcr]!);
  }

  /** All 24 values of a bank, index → value (copies). */
  map(bank: BankName | number): Map<number, Uint8Array> {
    return new Map(this.bankValues(bank).map((v, i) => [i, new Uint8Array(v)]));
  }

  /** All 24 values of a bank in ascending index order (no copies; do not modify). */
  list(bank: BankName | number): readonly Uint8Array[] {
    return this.bankValues(bank);
  }
}

function checkIndex(pcr: number): void {
  if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_COUNT) throw new Error(`PCR index ${pcr} out of range 0..${PCR_COUNT - 1}`);
}

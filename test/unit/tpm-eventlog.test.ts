import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JoinServiceError } from '../../src/shared/errors.js';
import { TpmAlg } from '../../src/workers/attestation/vtpm/types.js';
import { GoParseError } from '../../src/workers/attestation/vtpm/eventlog/binary-reader.js';
import {
  guidString,
  parseDevicePath,
  parseEfiImageLoad,
  parseEfiSignatureList,
  parseUefiVariableData,
  parseVariableAuthority,
} from '../../src/workers/attestation/vtpm/eventlog/efi-variables.js';
import { goQuote, goUtf16Decode } from '../../src/workers/attestation/vtpm/eventlog/go-format.js';
import {
  EVENT_LOG_ERROR_PREFIX,
  MAX_EVENT_DATA_BYTES,
  MAX_EVENT_LOG_BYTES,
  MAX_EVENTS,
  processEventLog,
  processEventLogExtended,
  type ExtendedMachineState,
} from '../../src/workers/attestation/vtpm/eventlog/index.js';
import { gceFirmwareVersion, gceTechnology } from '../../src/workers/attestation/vtpm/eventlog/machine-state.js';
import {
  Alg,
  ascii,
  CALLING_EFI_APP,
  concat,
  DEVICE_PATH_END,
  devicePathElement,
  Ev,
  EventLogBuilder,
  EXIT_BOOT_SERVICES,
  gceLikeLog,
  gceNonHostInfo,
  gceScrtmVersion,
  GUID,
  hash,
  imageLoad,
  legacyEvent,
  signatureList,
  specIdEventData,
  u16,
  u32,
  u64,
  utf16,
  variableData,
} from './support/eventlog-builder.js';
import { buildCertificate, testKey } from './support/test-certificates.js';

const PREFIX = 'failed to validate the PCClient event log: ';
/** A parse/replay failure: go-tpm-tools' GroupedError with an empty prefix. */
const fatal = (line: string) => `${PREFIX}\n${line}`;
/** Derivation failures: GroupedError "failed to fully parse MachineState:". */
const derive = (...lines: string[]) => `${PREFIX}failed to fully parse MachineState:${lines.map((l) => `\n${l}`).join('')}`;
const sb = (line: string) => `failed to parse SecureBootState: ${line}`;

const ALL_PCRS = Array.from({ length: 24 }, (_, i) => i);
const ZERO4 = Uint8Array.of(0, 0, 0, 0);
const FF4 = Uint8Array.of(0xff, 0xff, 0xff, 0xff);

function run(b: EventLogBuilder, bank: number = Alg.SHA256, pcrs = b.pcrs(bank, ALL_PCRS)): ExtendedMachineState {
  return processEventLogExtended(b.build(), bank, pcrs);
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    assert.equal(err.code, 'ATTESTATION_REJECTED');
    return err.message;
  }
  assert.fail('no error');
}

const runError = (b: EventLogBuilder, bank: number = Alg.SHA256, pcrs = b.pcrs(bank, ALL_PCRS)) => errorOf(() => run(b, bank, pcrs));
const rawError = (log: Uint8Array, bank: number = Alg.SHA256, pcrs = new Map<number, Uint8Array>()) => errorOf(() => processEventLog(log, bank, pcrs));

const certs = {
  pk: Uint8Array.from(buildCertificate({ commonName: 'GCE PK', serial: Uint8Array.of(1) })),
  kek: Uint8Array.from(buildCertificate({ commonName: 'KEK CA', serial: Uint8Array.of(2) })),
  db: Uint8Array.from(buildCertificate({ key: testKey('rsa'), commonName: 'UEFI CA', serial: Uint8Array.of(3) })),
};

function goParseError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof GoParseError, `not a GoParseError: ${String(err)}`);
    return err.message;
  }
  assert.fail('no error');
}

describe('event log: empty log (§7.1)', () => {
  it('yields the trivial state for every bank without parsing or replaying', () => {
    const garbage = new Map([[0, Uint8Array.of(1, 2, 3)]]);
    for (const bank of [TpmAlg.SHA1, TpmAlg.SHA256, TpmAlg.SHA384, TpmAlg.SHA512, 0x1234]) {
      const s = processEventLogExtended(new Uint8Array(0), bank, garbage);
      assert.equal(s.hash, bank);
      assert.equal(s.platform.gceVersion, undefined);
      assert.deepEqual(s.platform.scrtmVersionId, new Uint8Array(0));
      assert.equal(s.platform.technology, 0);
      assert.equal(s.secureBoot.enabled, false);
      assert.equal(s.efi, undefined);
      assert.equal(s.verifiedEvents, 0);
      assert.deepEqual(s.rawEvents, []);
    }
  });
});

describe('event log: error texts', () => {
  it('the processor returns parseMachineStateFromTPM’s text; VerifyAttestation’s prefix is the caller’s', () => {
    assert.equal(EVENT_LOG_ERROR_PREFIX, 'failed to parse machine state from TCG event log: ');
    const b = new EventLogBuilder().add(0, Ev.Separator, ZERO4, { digestOf: ascii('x') });
    try {
      run(b);
      assert.fail('no error');
    } catch (err) {
      assert.ok(err instanceof JoinServiceError);
      assert.equal(err.message, 'failed to validate the PCClient event log: failed to fully parse MachineState:\nunverified separator digest for PCR0');
      assert.deepEqual(err.details, { stage: 'event-log', errors: ['unverified separator digest for PCR0'] });
    }
  });
});

describe('event log: a GCE-like firmware log', () => {
  it('replays against PCRs computed from it and derives the MachineState (SHA-256)', () => {
    const b = gceLikeLog({ certs, gceVersion: 20240606, technology: 1 });
    const s = run(b);
    assert.equal(s.hash, TpmAlg.SHA256);
    assert.equal(s.platform.gceVersion, 20240606);
    assert.equal(s.platform.technology, 1);
    assert.deepEqual(s.platform.scrtmVersionId, new Uint8Array(0));
    assert.equal(s.verifiedEvents, 28);
    assert.equal(s.rawEvents.length, 28);
    assert.deepEqual(
      s.rawEvents.map((e) => e.sequence),
      Array.from({ length: 28 }, (_, i) => i + 1),
    );
    assert.equal(s.secureBoot.enabled, true);
    assert.deepEqual(s.secureBoot.pk.certs, [certs.pk]);
    assert.deepEqual(s.secureBoot.kek.certs, [certs.kek]);
    assert.deepEqual(s.secureBoot.db.certs, [certs.db]);
    assert.equal(s.secureBoot.db.hashes.length, 1);
    assert.equal(s.secureBoot.dbx.hashes.length, 3);
    assert.deepEqual(s.secureBoot.authority, [certs.db]);
    assert.equal(s.secureBoot.driverDevicePaths.length, 1);
    assert.deepEqual(
      s.secureBoot.driverDevicePaths[0]?.map((e) => [e.type, e.subType]),
      [
        [2, 1],
        [1, 1],
        [4, 8],
      ],
    );
    assert.deepEqual(
      s.efi?.apps,
      ['shim', 'grub', 'linux'].map((n) => hash('sha256', ascii(`PE image ${n}`))),
    );
    // digestVerified: the firmware blob and the applications are not hashes of their data.
    const unverified = s.rawEvents.filter((e) => !e.digestVerified).map((e) => e.type);
    assert.deepEqual(unverified, [Ev.EfiPlatformFirmwareBlob, Ev.EfiBootServicesDriver, Ev.EfiBootServicesApplication, Ev.EfiBootServicesApplication, Ev.EfiBootServicesApplication]);
  });

  it('the processor also accepts the SHA-1 bank (the SHA-1 rule belongs to the caller)', () => {
    const s = run(gceLikeLog({ certs }), Alg.SHA1);
    assert.equal(s.hash, TpmAlg.SHA1);
    assert.equal(s.platform.gceVersion, 20240606);
    assert.equal(s.efi?.apps.length, 3);
  });

  it('reads other technologies and versions; a non-GCE S-CRTM version is kept raw', () => {
    assert.equal(run(gceLikeLog({ certs, technology: 2, gceVersion: 1 })).platform.technology, 2);
    assert.equal(run(gceLikeLog({ certs, technology: 2, gceVersion: 1 })).platform.gceVersion, 1);
    assert.equal(run(gceLikeLog({ certs, technology: 5 })).platform.technology, 0);
    const b = new EventLogBuilder().add(0, Ev.SCrtmVersion, utf16('OVMF 1.0\0')).add(0, Ev.NonHostInfo, ascii('not GCE at all, 17+ bytes')).separators([0]);
    const s = run(b);
    assert.equal(s.platform.gceVersion, undefined);
    assert.deepEqual(s.platform.scrtmVersionId, utf16('OVMF 1.0\0'));
    assert.equal(s.platform.technology, 0);
  });

  it('PCR-0 events after the separator are not read; the last S-CRTM / Non-Host-Info event wins', () => {
    const b = new EventLogBuilder()
      .add(0, Ev.SCrtmVersion, gceScrtmVersion(1))
      .add(0, Ev.SCrtmVersion, gceScrtmVersion(2))
      .add(0, Ev.NonHostInfo, gceNonHostInfo(1))
      .separators([0])
      .add(0, Ev.SCrtmVersion, gceScrtmVersion(3))
      .add(0, Ev.NonHostInfo, gceNonHostInfo(4));
    const s = run(b);
    assert.equal(s.platform.gceVersion, 2);
    assert.equal(s.platform.technology, 1);
  });

  it('drops the events of PCRs the quote does not contain', () => {
    const b = gceLikeLog({ certs });
    const all = b.pcrs(Alg.SHA256);
    const s = run(b, Alg.SHA256, new Map([[0, all.get(0) as Uint8Array]]));
    assert.equal(s.platform.gceVersion, 20240606);
    assert.equal(s.secureBoot.enabled, false);
    assert.equal(s.efi, undefined);
    assert.equal(s.verifiedEvents, 4);
  });

  it('a secure-boot-disabled log needs no keys', () => {
    const b = new EventLogBuilder().add(7, Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'SecureBoot', Uint8Array.of(0))).separators([7]);
    assert.equal(run(b).secureBoot.enabled, false);
    // Any value other than 1 means disabled (Go does not check for 0/1).
    const b2 = new EventLogBuilder().add(7, Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'SecureBoot', Uint8Array.of(2))).separators([7]);
    assert.equal(run(b2).secureBoot.enabled, false);
  });
});

describe('event log: replay (§7.3)', () => {
  it('a mismatching PCR fails the replay with go-attestation’s text', () => {
    const b = gceLikeLog({ certs });
    const pcrs = b.pcrs(Alg.SHA256, ALL_PCRS);
    pcrs.set(4, new Uint8Array(32).fill(7));
    pcrs.set(0, new Uint8Array(32).fill(7));
    assert.equal(runError(b, Alg.SHA256, pcrs), fatal('failed to replay event log: event log failed to verify: the following registers failed to replay: [0 4]'));
  });

  it('a PCR without events always replays, whatever its value', () => {
    const b = new EventLogBuilder().separators([0]);
    const pcrs = b.pcrs(Alg.SHA256);
    pcrs.set(9, Uint8Array.of(1, 2, 3));
    pcrs.set(23, new Uint8Array(0));
    assert.equal(run(b, Alg.SHA256, pcrs).verifiedEvents, 1);
  });

  it('an event without a digest of the bank, or a PCR value of another length, fails', () => {
    const b = new EventLogBuilder().separators([0]).add(1, Ev.PostCode, ascii('x'), { omit: [Alg.SHA256] });
    const pcrs = b.pcrs(Alg.SHA256);
    pcrs.set(1, new Uint8Array(32));
    assert.equal(runError(b, Alg.SHA256, pcrs), fatal('failed to replay event log: event log failed to verify: the following registers failed to replay: [1]'));
    // The same log replays on SHA-1.
    assert.equal(run(b, Alg.SHA1).verifiedEvents, 2);
    const short = new EventLogBuilder().separators([0]);
    assert.equal(
      runError(short, Alg.SHA256, new Map([[0, (short.pcrs(Alg.SHA256).get(0) as Uint8Array).subarray(0, 20)]])),
      fatal('failed to replay event log: event log failed to verify: the following registers failed to replay: [0]'),
    );
  });

  it('SHA-384 digests never match: a SHA-384 bank fails every quoted PCR with events', () => {
    const algs = [
      { id: Alg.SHA1, size: 20 },
      { id: Alg.SHA256, size: 32 },
      { id: Alg.SHA384, size: 48 },
    ];
    const b = gceLikeLog({ certs, algs });
    // Correct SHA-384 values, as a GCE vTPM would quote them.
    assert.equal(
      runError(b, Alg.SHA384, b.pcrs(Alg.SHA384, ALL_PCRS)),
      fatal('failed to replay event log: event log failed to verify: the following registers failed to replay: [0 1 2 3 4 5 6 7]'),
    );
    assert.match(runError(b, Alg.SHA512, new Map([[0, new Uint8Array(64)]])), /registers failed to replay: \[0\]$/);
    // The SHA-256 bank of the same log is fine.
    assert.equal(run(b).platform.gceVersion, 20240606);
    // Quoting only PCRs without events "replays" (G1 in §14).
    const s = run(b, Alg.SHA384, new Map([[15, new Uint8Array(48)]]));
    assert.equal(s.hash, TpmAlg.SHA384);
    assert.equal(s.verifiedEvents, 0);
  });

  it('honours a PCR-0 StartupLocality event and skips EV_NO_ACTION events', () => {
    const locality = concat(ascii('StartupLocality\0'), Uint8Array.of(3));
    const b = new EventLogBuilder().add(0, Ev.NoAction, locality, { omit: [Alg.SHA256] }).add(0, Ev.SCrtmVersion, gceScrtmVersion(7)).separators([0]);
    const pcrs = b.pcrs(Alg.SHA256);
    const s = run(b, Alg.SHA256, pcrs);
    assert.equal(s.platform.gceVersion, 7);
    assert.equal(s.verifiedEvents, 2);
    // Computed without the locality the value differs.
    const start = new Uint8Array(32);
    let v = hash('sha256', start, hash('sha256', gceScrtmVersion(7)));
    v = hash('sha256', v, hash('sha256', ZERO4));
    assert.notDeepEqual(v, pcrs.get(0));
  });

  it('omits go-attestation’s PCR-5 ExitBootServices workaround: same rejection, different text', () => {
    // PCR 5 as if the firmware had measured the EBS events without logging them.
    const b = new EventLogBuilder().separators([0, 4, 5]).add(5, Ev.EfiGptEvent, ascii('gpt'));
    const measured = new EventLogBuilder()
      .separators([0, 4, 5])
      .add(5, Ev.EfiGptEvent, ascii('gpt'))
      .add(5, 0, ascii(EXIT_BOOT_SERVICES))
      .add(5, 0, ascii('Exit Boot Services Returned with Success'));
    // Go: "failed to validate the PCClient event log: failed to fully parse MachineState:\nPCR5 contains ExitBootServices event but non EFIAction type: 0"
    assert.equal(
      runError(b, Alg.SHA256, measured.pcrs(Alg.SHA256)),
      fatal('failed to replay event log: event log failed to verify: the following registers failed to replay: [5]'),
    );
  });

  it('the algorithm id is truncated to its low byte (0x010B counts as SHA-256)', () => {
    const b = new EventLogBuilder({
      algs: [
        { id: Alg.SHA1, size: 20 },
        { id: 0x010b, size: 32 },
      ],
    });
    b.add(0, Ev.SCrtmVersion, gceScrtmVersion(5), { digests: { [0x010b]: hash('sha256', gceScrtmVersion(5)) } });
    const pcrs = new Map([[0, hash('sha256', new Uint8Array(32), hash('sha256', gceScrtmVersion(5)))]]);
    assert.equal(processEventLog(b.build(), Alg.SHA256, pcrs).platform.gceVersion, 5);
  });
});

describe('event log: separators (§7.4, G6)', () => {
  it('the second separator digest is H(00000000‖FFFFFFFF): an event carrying it must be a separator', () => {
    const b = new EventLogBuilder().add(0, Ev.PostCode, ascii('post'), { digestOf: concat(ZERO4, FF4) }).separators([0]);
    assert.equal(runError(b), derive('PCR0 event contains separator data but non-separator type 1'));
    // H(FFFFFFFF) is not in Go's list: the same event with that digest is no separator candidate.
    const b2 = new EventLogBuilder().add(0, Ev.PostCode, ascii('post'), { digestOf: FF4 }).separators([0]);
    assert.equal(run(b2).verifiedEvents, 2);
    // An EV_SEPARATOR whose data is FFFFFFFF is verified against H(FFFFFFFF) and accepted in PCR 0/4/5.
    const b3 = new EventLogBuilder().separators([0, 4, 5], FF4);
    assert.equal(run(b3).verifiedEvents, 3);
  });

  it('rejects unverified separators and wrong separator data', () => {
    const unverified = new EventLogBuilder().add(0, Ev.Separator, ZERO4, { digestOf: ascii('other') });
    assert.equal(runError(unverified), derive('unverified separator digest for PCR0'));
    const data = new EventLogBuilder().add(4, Ev.Separator, Uint8Array.of(1, 2, 3, 4));
    assert.equal(runError(data), derive('invalid separator data for PCR4'));
    const typed = new EventLogBuilder().add(5, Ev.EfiAction, ascii('x'), { digestOf: ZERO4 });
    assert.equal(runError(typed), derive('PCR5 event contains separator data but non-separator type 2147483655'));
  });

  it('PCR-7 (and PCR-2) separators must be 00000000', () => {
    const b = new EventLogBuilder().separators([0]).separators([7], FF4);
    assert.equal(runError(b), derive(sb('invalid separator data at event 2: [255 255 255 255]')));
    const b2 = new EventLogBuilder().separators([2], FF4);
    assert.equal(runError(b2), derive(sb('invalid separator data at event 1: [255 255 255 255]')));
    const b3 = new EventLogBuilder().separators([7]).separators([7]);
    assert.equal(runError(b3), derive(sb('duplicate separator at event 2')));
    const b4 = new EventLogBuilder().add(7, Ev.Separator, ZERO4, { digestOf: FF4 });
    assert.equal(runError(b4), derive(sb('invalid separator digest at event 1: digest (len 32) does not match')));
  });

  it('collects the errors of all three derivations, in order', () => {
    const b = new EventLogBuilder()
      .add(0, Ev.Separator, ZERO4, { digestOf: ascii('x') })
      .add(7, Ev.EfiBootServicesApplication, ascii('app'))
      .add(4, Ev.EfiBootServicesApplication, ascii('app'));
    assert.equal(
      runError(b),
      derive(
        'unverified separator digest for PCR0',
        sb('unexpected event type in PCR7: EFI Boot Services Application'),
        'found EFIBootServicesApplication in PCR4 before CallingEFIApp event',
      ),
    );
  });
});

describe('event log: platform state (PCR 0)', () => {
  it('requires verified S-CRTM version and Non-Host-Info events', () => {
    const b = new EventLogBuilder().add(0, Ev.SCrtmVersion, gceScrtmVersion(1), { digestOf: ascii('x') });
    assert.equal(runError(b), derive('invalid SCRTM version event for PCR0'));
    const b2 = new EventLogBuilder().add(0, Ev.NonHostInfo, gceNonHostInfo(1), { digestOf: ascii('x') });
    assert.equal(runError(b2), derive('invalid Non-Host info event for PCR0'));
  });

  it('parses GCE firmware versions like go-tpm-tools', () => {
    assert.equal(gceFirmwareVersion(gceScrtmVersion(1)), 1);
    assert.equal(gceFirmwareVersion(utf16('GCE Virtual Firmware v42')), 42);
    assert.equal(gceFirmwareVersion(gceScrtmVersion('4294967295')), 4294967295);
    assert.equal(gceFirmwareVersion(gceScrtmVersion(0)), 0);
    assert.equal(gceFirmwareVersion(gceScrtmVersion('007')), 7);
    for (const bad of [
      gceScrtmVersion('4294967296'),
      gceScrtmVersion('+1'),
      gceScrtmVersion('1_0'),
      gceScrtmVersion(''),
      utf16('GCE Virtual Firmware v'),
      concat(utf16('GCE Virtual Firmware v1'), Uint8Array.of(0)), // odd length
      concat(utf16('GCE Virtual Firmware v'), Uint8Array.of(0x31, 0x32)), // non-zero odd byte
      utf16('GCE Virtual firmware v1'),
      new Uint8Array(0),
    ]) {
      assert.equal(gceFirmwareVersion(bad), undefined, Buffer.from(bad).toString('hex'));
    }
  });

  it('parses the Non-Host-Info technology like go-tpm-tools', () => {
    for (let t = 0; t <= 4; t++) assert.equal(gceTechnology(gceNonHostInfo(t)), t);
    assert.equal(gceTechnology(gceNonHostInfo(5)), 0);
    assert.equal(gceTechnology(gceNonHostInfo(1).subarray(0, 17)), 1);
    assert.equal(gceTechnology(gceNonHostInfo(1).subarray(0, 16)), 0);
    assert.equal(gceTechnology(concat(ascii('GCE NonHostInfo!'), Uint8Array.of(1))), 0);
  });
});

describe('event log: secure-boot state (PCRs 2 and 7)', () => {
  const sbVar = (v: number) => variableData(GUID.globalVariable, 'SecureBoot', Uint8Array.of(v));
  const pcr7 = (...evs: [number, Uint8Array, { digestOf?: Uint8Array }?][]) => {
    const b = new EventLogBuilder();
    for (const [type, data, o] of evs) b.add(7, type, data, o ?? {});
    return b;
  };

  it('only knows the event types of go-attestation’s name table', () => {
    for (const [pcr, type] of [
      [2, Ev.EfiPlatformFirmwareBlob2],
      [7, 0x8000000b],
      [2, 0x800000e1],
      [7, 0x13],
    ] as const) {
      const b = new EventLogBuilder().add(pcr, type, ascii('x'));
      assert.equal(runError(b), derive(sb(`unrecognised event type: unknown event type 0x${type.toString(16)}`)));
    }
    // PCR 2 ignores every other recognised type.
    assert.equal(run(new EventLogBuilder().add(2, Ev.EfiPlatformFirmwareBlob, ascii('x')).add(2, Ev.EfiHandoffTables, ascii('y'))).verifiedEvents, 2);
    assert.equal(runError(new EventLogBuilder().add(7, Ev.SCrtmVersion, ascii('x'))), derive(sb('unexpected event type in PCR7: S-CRTM Version')));
  });

  it('EFI actions in PCR 7', () => {
    assert.equal(runError(pcr7([Ev.EfiAction, ascii('UEFI Debug Mode')])), derive(sb('a UEFI debugger was present during boot')));
    assert.equal(runError(pcr7([Ev.EfiAction, ascii('hello')])), derive(sb('event 1: unexpected EFI action event')));
    assert.equal(run(pcr7([Ev.EfiAction, ascii('DMA Protection Disabled')])).secureBoot.dmaProtectionDisabled, true);
    assert.equal(
      runError(pcr7([Ev.EfiAction, ascii('DMA Protection Disabled'), { digestOf: ascii('x') }])),
      derive(sb("invalid digest for EFI Action 'DMA Protection Disabled' on event 1: digest (len 32) does not match")),
    );
  });

  it('variables: no duplicates, none after the separator, verified digests, 1-byte SecureBoot', () => {
    assert.equal(runError(pcr7([Ev.EfiVariableDriverConfig, sbVar(0)], [Ev.EfiVariableDriverConfig, sbVar(0)])), derive(sb('duplicate EFI variable "SecureBoot" at event 2')));
    assert.equal(
      runError(pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableDriverConfig, sbVar(0)])),
      derive(sb('event 2: variable "SecureBoot" specified after separator')),
    );
    assert.equal(
      runError(pcr7([Ev.EfiVariableDriverConfig, sbVar(0), { digestOf: ascii('x') }])),
      derive(sb('invalid digest for variable "SecureBoot" on event 1: digest (len 32) does not match')),
    );
    assert.equal(
      runError(pcr7([Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'SecureBoot', Uint8Array.of(1, 0))])),
      derive(sb('event 1: SecureBoot data len is 2, expected 1')),
    );
    assert.equal(
      runError(pcr7([Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'Secure"\n\u00a0', new Uint8Array(0))], [Ev.EfiVariableDriverConfig, variableData(GUID.owner, 'Secure"\n\u00a0', new Uint8Array(0))])),
      derive(sb('duplicate EFI variable "Secure\\"\\n\\u00a0" at event 2')),
    );
    assert.equal(
      runError(pcr7([Ev.EfiVariableDriverConfig, variableData(GUID.globalVariable, 'x', new Uint8Array(0)).subarray(0, 33)])),
      derive(sb('failed parsing EFI variable at event 1: unexpected EOF')),
    );
  });

  it('enabled secure boot needs an authority and PK, KEK and db', () => {
    const pk = variableData(GUID.globalVariable, 'PK', signatureList(GUID.certX509, [certs.pk]));
    const kek = variableData(GUID.globalVariable, 'KEK', signatureList(GUID.certX509, [certs.kek]));
    const db = variableData(GUID.imageSecurityDatabase, 'db', signatureList(GUID.certSha256, [new Uint8Array(32)]));
    const auth = variableData(GUID.imageSecurityDatabase, 'db', concat(GUID.owner, certs.db));
    const V = Ev.EfiVariableDriverConfig;
    const sep: [number, Uint8Array] = [Ev.Separator, ZERO4];
    const A: [number, Uint8Array] = [Ev.EfiVariableAuthority, auth];
    assert.equal(runError(pcr7([V, sbVar(1)], [V, pk], [V, kek], [V, db], sep)), derive(sb('secure boot was enabled but no key was used')));
    assert.equal(runError(pcr7([V, sbVar(1)], [V, kek], [V, db], sep, A)), derive(sb('secure boot was enabled but no platform keys were known')));
    assert.equal(runError(pcr7([V, sbVar(1)], [V, pk], [V, db], sep, A)), derive(sb('secure boot was enabled but no key exchange keys were known')));
    assert.equal(runError(pcr7([V, sbVar(1)], [V, pk], [V, kek], sep, A)), derive(sb('secure boot was enabled but no keys or hashes were permitted')));
    const s = run(pcr7([V, sbVar(1)], [V, pk], [V, kek], [V, db], sep, A));
    assert.equal(s.secureBoot.enabled, true);
    assert.deepEqual(s.secureBoot.db.hashes, [new Uint8Array(32)]);
  });

  it('pre-separator authorities are rejected by go-tpm-tools (but shim’s SbatLevel carries none)', () => {
    const auth = variableData(GUID.imageSecurityDatabase, 'db', concat(GUID.owner, certs.db));
    const sbat = variableData(GUID.shimLock, 'SbatLevel', ascii('sbat,1\n'));
    const mok = variableData(GUID.shimLock, 'MokListTrusted', Uint8Array.of(1));
    assert.equal(runError(pcr7([Ev.EfiVariableAuthority, auth], [Ev.Separator, ZERO4])), derive('event log contained 1 pre-separator authorities, which are not expected or supported'));
    assert.equal(run(pcr7([Ev.EfiVariableAuthority, sbat], [Ev.EfiVariableAuthority, mok], [Ev.Separator, ZERO4])).secureBoot.authority.length, 0);
    // The same names under another GUID must hold a certificate.
    const sbatOther = variableData(GUID.owner, 'SbatLevel', ascii('sbat,1,2021030218\n'));
    assert.equal(
      runError(pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableAuthority, sbatOther])),
      derive(sb('failed parsing EFI variable authority at event 2: x509: malformed certificate')),
    );
    assert.equal(
      runError(pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableAuthority, variableData(GUID.owner, 'db', Uint8Array.of(1, 2))])),
      derive(sb('failed parsing EFI variable authority at event 2: invalid signature: buffer smaller than header (2 < 16)')),
    );
    assert.equal(
      runError(pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableAuthority, concat(GUID.owner, u64(3000))])),
      derive(sb('failed parsing UEFI variable data: unexpected EOF')),
    );
    assert.equal(
      runError(pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableAuthority, auth, { digestOf: ascii('x') }])),
      derive(sb('invalid digest for authority on event 2: digest (len 32) does not match')),
    );
  });

  it('old-shim workaround: a certificate without owner GUID and a digest over all but the last byte', () => {
    const data = concat(variableData(GUID.shimLock, 'Shim', certs.db), Uint8Array.of(0));
    const ok = pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableAuthority, data, { digestOf: data.subarray(0, data.length - 1) }]);
    assert.deepEqual(run(ok).secureBoot.authority, [certs.db]);
    const bad = pcr7([Ev.Separator, ZERO4], [Ev.EfiVariableAuthority, data, { digestOf: ascii('x') }]);
    assert.equal(runError(bad), derive(sb('invalid digest for authority on event 2: digest (len 32) does not match')));
  });

  it('signature databases: Go’s texts for unsupported and malformed lists', () => {
    const V = Ev.EfiVariableDriverConfig;
    const pk = (list: Uint8Array) => pcr7([V, variableData(GUID.globalVariable, 'PK', list)]);
    assert.equal(runError(pk(signatureList(GUID.certSha1, [new Uint8Array(20)]))), derive(sb('event 1: failed parsing platform keys: unhandled SHA1 hash')));
    assert.equal(
      runError(pk(signatureList(GUID.owner, [new Uint8Array(20)]))),
      derive(sb('event 1: failed parsing platform keys: unhandled signature type 77fa9abd-0359-4d32-bd60-28f4e78f784b')),
    );
    assert.equal(runError(pk(signatureList(GUID.certX509, [Uint8Array.of(0x30, 0x00)]))), derive(sb('event 1: failed parsing platform keys: x509: malformed tbs certificate')));
    // Go's elliptic.Unmarshal refuses points that are not on the curve.
    const spki = Uint8Array.from(testKey('p256').spki);
    spki[spki.length - 1] = (spki[spki.length - 1] as number) ^ 1;
    const offCurve = Uint8Array.from(buildCertificate({ spki }));
    assert.equal(runError(pk(signatureList(GUID.certX509, [offCurve]))), derive(sb('event 1: failed parsing platform keys: x509: failed to unmarshal elliptic curve point')));
    // Go 1.24 (x509negativeserial=0) refuses negative serial numbers — real platform keys with one exist.
    const negative = Uint8Array.from(buildCertificate({ serialElement: Uint8Array.of(0x02, 0x01, 0xff) }));
    assert.equal(runError(pk(signatureList(GUID.certX509, [negative]))), derive(sb('event 1: failed parsing platform keys: x509: negative serial number')));
    const dbx = pcr7([V, variableData(GUID.imageSecurityDatabase, 'dbx', concat(signatureList(GUID.certSha256, [new Uint8Array(32)]), new Uint8Array(5)))]);
    assert.equal(runError(dbx), derive(sb('event 1: failed parsing forbidden signature database: unexpected EOF')));
    // Shorter than a list header: treated as empty.
    assert.equal(run(pk(new Uint8Array(27))).secureBoot.pk.certs.length, 0);
    const kek = pcr7([V, variableData(GUID.globalVariable, 'KEK', concat(GUID.certX509, u32(2 * 1024 * 1024), u32(0), u32(100)))]);
    assert.equal(runError(kek), derive(sb('event 1: failed parsing key exchange keys: signature list too large: 2097152 > 1048576')));
    const db = pcr7([V, variableData(GUID.imageSecurityDatabase, 'db', concat(GUID.certX509, u32(100), u32(0x7fffffff), u32(100)))]);
    assert.equal(runError(db), derive(sb('event 1: failed parsing signature database: signature header too large: 2147483647 > 1048576')));
  });

  it('PCR-2 boot-services drivers before the separator: image load and device path errors', () => {
    const drv = (data: Uint8Array) => new EventLogBuilder().add(2, Ev.EfiBootServicesDriver, data, { digestOf: ascii('img') });
    assert.equal(
      runError(drv(concat(u64(0), u64(0), u64(0), u64(4096)))),
      derive(sb('failed parsing EFI image load at boot services driver event 1: device path structure too long: 4096 > 2048')),
    );
    assert.equal(runError(drv(new Uint8Array(31))), derive(sb('failed parsing EFI image load at boot services driver event 1: unexpected EOF')));
    assert.equal(
      runError(drv(imageLoad(concat(Uint8Array.of(1, 1), u16(2))))),
      derive(sb('failed to parse device path for driver load event 1: device path data too short: 2 < 4')),
    );
    assert.equal(run(drv(imageLoad(concat(DEVICE_PATH_END, Uint8Array.of(1, 1, 2))))).secureBoot.driverDevicePaths.length, 1);
    // After the PCR-2 separator drivers are not parsed.
    const after = new EventLogBuilder().separators([2]).add(2, Ev.EfiBootServicesDriver, ascii('garbage'));
    assert.equal(run(after).verifiedEvents, 2);
  });
});

describe('event log: EFI state (PCRs 4 and 5)', () => {
  const app = (b: EventLogBuilder, name: string) => b.add(4, Ev.EfiBootServicesApplication, imageLoad(DEVICE_PATH_END), { digestOf: ascii(name) });

  it('needs the CallingEFIApp action before applications and records apps only with ExitBootServices', () => {
    assert.equal(runError(app(new EventLogBuilder(), 'shim')), derive('found EFIBootServicesApplication in PCR4 before CallingEFIApp event'));
    const noEbs = app(new EventLogBuilder().add(4, Ev.EfiAction, ascii(CALLING_EFI_APP)).separators([4]), 'shim');
    assert.equal(run(noEbs).efi, undefined);
    const withEbs = noEbs.add(5, Ev.EfiAction, ascii(EXIT_BOOT_SERVICES));
    assert.deepEqual(run(withEbs).efi?.apps, [hash('sha256', ascii('shim'))]);
  });

  it('rejects forged or misplaced CallingEFIApp events', () => {
    const calling = ascii(CALLING_EFI_APP);
    assert.equal(runError(new EventLogBuilder().add(4, Ev.Action, calling)), derive('PCR4 contains CallingEFIApp event but non EFIAction type: 5'));
    assert.equal(
      runError(new EventLogBuilder().add(4, Ev.EfiAction, ascii('x'), { digestOf: calling })),
      derive('unverified CallingEFIApp digest for PCR4'),
    );
    assert.equal(runError(new EventLogBuilder().add(4, Ev.EfiAction, calling).add(4, Ev.EfiAction, calling)), derive('found duplicate CallingEFIApp event in PCR4'));
    assert.equal(runError(new EventLogBuilder().separators([4]).add(4, Ev.EfiAction, calling)), derive('found CallingEFIApp event in PCR4 after separator event'));
    assert.equal(runError(new EventLogBuilder().separators([4, 4])), derive('found duplicate Separator event in PCR4'));
  });

  it('rejects forged ExitBootServices events and keeps processing after a genuine one', () => {
    const ebs = ascii(EXIT_BOOT_SERVICES);
    assert.equal(runError(new EventLogBuilder().add(5, 0, ebs)), derive('PCR5 contains ExitBootServices event but non EFIAction type: 0'));
    assert.equal(runError(new EventLogBuilder().add(5, Ev.EfiAction, ascii('x'), { digestOf: ebs })), derive('unverified ExitBootServices digest for PCR5'));
    assert.equal(runError(new EventLogBuilder().add(5, Ev.EfiAction, ebs).separators([5, 5])), derive('found duplicate Separator event in PCR5'));
  });
});

describe('event log: parsing (§7.2)', () => {
  const agile = (...events: Uint8Array[]) => Uint8Array.from(Buffer.concat([legacyEvent(0, Ev.NoAction, new Uint8Array(20), specIdEventData()), ...events]));
  const event2 = (pcr: number, type: number, digests: [number, Uint8Array][], data: Uint8Array, declared = data.length) =>
    concat(u32(pcr), u32(type), u32(digests.length), ...digests.map(([id, d]) => concat(u16(id), d)), u32(declared), data);

  it('truncated logs report go-attestation’s texts', () => {
    const log = gceLikeLog({ certs }).build();
    assert.equal(rawError(log.subarray(0, 1)), fatal('failed to parse event log: parse first event: header deserialization error: unexpected EOF'));
    assert.equal(
      rawError(log.subarray(0, 40)),
      fatal(`failed to parse event log: parse first event: event data size (${specIdEventData().length} bytes) is greater than remaining measurement log (8 bytes)`),
    );
    const header = legacyEvent(0, Ev.NoAction, new Uint8Array(20), specIdEventData()).length;
    assert.equal(rawError(log.subarray(0, header + 5)), fatal('failed to parse event log: unexpected EOF'));
    assert.equal(rawError(log.subarray(0, header + 8)), fatal('failed to parse event log: EOF'));
    assert.equal(rawError(log.subarray(0, header + 13)), fatal('failed to parse event log: unexpected EOF'));
    assert.equal(rawError(log.subarray(0, header + 14)), fatal('failed to parse event log: reading digest: unexpected EOF'));
    const full = agile(event2(0, 1, [[Alg.SHA1, new Uint8Array(20)]], ascii('abc')));
    assert.equal(rawError(full.subarray(0, full.length - 5)), fatal('failed to parse event log: unexpected EOF'));
    assert.equal(rawError(full.subarray(0, full.length - 3)), fatal('failed to parse event log: event data size (3 bytes) is greater than remaining measurement log (0 bytes)'));
    assert.equal(rawError(full.subarray(0, full.length - 1)), fatal('failed to parse event log: event data size (3 bytes) is greater than remaining measurement log (2 bytes)'));
  });

  it('a huge declared event size fails without allocating', () => {
    const before = process.memoryUsage().arrayBuffers;
    const log = agile(event2(0, 1, [], ascii('abc'), 0xffffffff));
    assert.equal(rawError(log), fatal('failed to parse event log: event data size (4294967295 bytes) is greater than remaining measurement log (3 bytes)'));
    const legacy = legacyEvent(0, 1, new Uint8Array(20), ascii('abc'), 0xfffffff0);
    assert.equal(rawError(legacy), fatal('failed to parse event log: parse first event: event data size (4294967280 bytes) is greater than remaining measurement log (3 bytes)'));
    // A variable declaring 2^64-1 bytes, a signature list with a wrapped SignatureSize.
    assert.equal(goParseError(() => parseUefiVariableData(concat(GUID.owner, u64(0), u64(0xffffffffffffffffn)))), 'variable data too long: 18446744073709551615 > 1048576');
    assert.equal(goParseError(() => parseUefiVariableData(concat(GUID.owner, u64(1n << 40n), u64(0)))), 'unicode name too long: 1099511627776 > 2048');
    assert.equal(goParseError(() => parseEfiSignatureList(concat(GUID.certSha256, u32(1000), u32(0), u32(3), new Uint8Array(40)))), 'unexpected EOF');
    assert.equal(goParseError(() => parseEfiSignatureList(concat(GUID.certX509, u32(10), u32(0), u32(20), GUID.owner, new Uint8Array(4)))), 'x509: malformed certificate');
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
  });

  it('Spec ID event errors', () => {
    const withSpec = (o: Parameters<typeof specIdEventData>[0]) => legacyEvent(0, Ev.NoAction, new Uint8Array(20), specIdEventData(o));
    assert.equal(
      rawError(withSpec({ signature: ascii('Spec ID Event02\0') })),
      fatal('failed to parse event log: failed to parse spec ID event: invalid spec id signature: 53706563204944204576656e74303200'),
    );
    assert.equal(rawError(withSpec({ major: 1 })), fatal('failed to parse event log: failed to parse spec ID event: invalid spec major version, got 01, wanted 02'));
    // sic: Go prints the major version in the minor-version error.
    assert.equal(rawError(withSpec({ minor: 1 })), fatal('failed to parse event log: failed to parse spec ID event: invalid spec minor version, got 02, wanted 00'));
    assert.equal(
      rawError(withSpec({ vendorInfo: Uint8Array.of(1, 2), vendorInfoSize: 3 })),
      fatal('failed to parse event log: failed to parse spec ID event: reading vendor info, expected 3 remaining bytes, got 2'),
    );
    assert.equal(rawError(withSpec({ algs: [{ id: Alg.SHA384, size: 48 }] })), fatal("failed to parse event log: measurement log didn't use sha1 or sha256 digests"));
    const data = specIdEventData();
    data.set(u32(3), 24); // three algorithms declared, two present: the vendor-size byte is read as half an entry
    assert.equal(rawError(legacyEvent(0, Ev.NoAction, new Uint8Array(20), data)), fatal('failed to parse event log: failed to parse spec ID event: reading algorithm: unexpected EOF'));
    const data2 = specIdEventData({ algs: [{ id: Alg.SHA1, size: 20 }] }).subarray(0, 32);
    data2.set(u32(1), 24);
    assert.equal(rawError(legacyEvent(0, Ev.NoAction, new Uint8Array(20), data2)), fatal('failed to parse event log: failed to parse spec ID event: reading vender info size: EOF'));
    // vendor info is accepted
    assert.equal(processEventLog(withSpec({ vendorInfo: Uint8Array.of(1, 2, 3) }), Alg.SHA256, new Map()).verifiedEvents, 0);
  });

  it('digests of undeclared algorithms or of declared size 0 are unknown', () => {
    assert.equal(rawError(agile(event2(0, 1, [[Alg.SHA384, new Uint8Array(48)]], ascii('x')))), fatal('failed to parse event log: unknown algorithm ID c'));
    const zero = concat(
      legacyEvent(
        0,
        Ev.NoAction,
        new Uint8Array(20),
        specIdEventData({
          algs: [
            { id: Alg.SHA256, size: 32 },
            { id: Alg.SHA1, size: 0 },
          ],
        }),
      ),
      event2(0, 1, [[Alg.SHA1, new Uint8Array(0)]], ascii('x')),
    );
    assert.equal(rawError(zero), fatal('failed to parse event log: unknown algorithm ID 4'));
  });

  it('legacy SHA-1 logs: parsed from the first event, replayed only on SHA-1', () => {
    const b = new EventLogBuilder({ legacy: true }).add(0, Ev.SCrtmVersion, gceScrtmVersion(3)).add(0, Ev.NonHostInfo, gceNonHostInfo(1)).separators([0, 7]);
    const s = run(b, Alg.SHA1);
    assert.equal(s.platform.gceVersion, 3);
    assert.equal(s.platform.technology, 1);
    assert.deepEqual(
      s.rawEvents.map((e) => e.sequence),
      [0, 1, 2, 3],
    );
    assert.equal(
      runError(b, Alg.SHA256, new Map([[0, new Uint8Array(32)]])),
      fatal('failed to replay event log: event log failed to verify: the following registers failed to replay: [0]'),
    );
    // Sequence numbers start at 0: the first event is a normal event.
    const first = new EventLogBuilder({ legacy: true }).separators([7], FF4);
    assert.equal(runError(first, Alg.SHA1), derive(sb('invalid separator data at event 0: [255 255 255 255]')));
    // A short EV_NO_ACTION first event does not switch formats and is skipped by the replay.
    const noAction = new EventLogBuilder({ legacy: true }).add(0, Ev.NoAction, ascii('short')).separators([0]);
    assert.equal(run(noAction, Alg.SHA1).verifiedEvents, 1);
    // Truncated legacy event after the first.
    const log = b.build();
    assert.equal(rawError(log.subarray(0, log.length - 1), Alg.SHA1), fatal('failed to parse event log: event data size (4 bytes) is greater than remaining measurement log (3 bytes)'));
    assert.equal(rawError(concat(log, new Uint8Array(31)), Alg.SHA1), fatal('failed to parse event log: header deserialization error: unexpected EOF'));
  });

  it('limits: total size, event size, event count', () => {
    assert.equal(
      rawError(new Uint8Array(MAX_EVENT_LOG_BYTES + 1)),
      fatal(`failed to parse event log: event log size (${MAX_EVENT_LOG_BYTES + 1} bytes) exceeds the limit of ${MAX_EVENT_LOG_BYTES} bytes`),
    );
    const big = agile(event2(0, 1, [], new Uint8Array(MAX_EVENT_DATA_BYTES + 1)));
    assert.equal(rawError(big), fatal(`failed to parse event log: event data size (${MAX_EVENT_DATA_BYTES + 1} bytes) exceeds the limit of ${MAX_EVENT_DATA_BYTES} bytes`));
    const one = event2(0, 1, [], new Uint8Array(0));
    const many = Uint8Array.from(Buffer.concat([agile(), ...Array.from({ length: MAX_EVENTS + 1 }, () => one)]));
    assert.equal(rawError(many), fatal(`failed to parse event log: event log contains more than ${MAX_EVENTS} events`));
    const maxOk = many.subarray(0, many.length - one.length);
    assert.equal(processEventLog(maxOk, Alg.SHA256, new Map([[9, new Uint8Array(32)]])).verifiedEvents, 0);
  });

  it('unsupported banks are rejected for non-empty logs (go-tpm Algorithm.Hash)', () => {
    assert.equal(rawError(gceLikeLog({ certs }).build(), 0x0012), fatal('received bad PCR proto: hash algorithm not supported: 0x12'));
  });
});

describe('event log: Go formatting helpers', () => {
  it('GUID strings, %q and UTF-16 decoding', () => {
    assert.equal(guidString(GUID.certX509), 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072');
    assert.equal(goQuote('a"b\\c\t\x01\x7f\u00e9\u200b\ufffd'), '"a\\"b\\\\c\\t\\x01\\x7f\u00e9\\u200b\ufffd"');
    assert.equal(goUtf16Decode([0x61, 0xd83d, 0xde00, 0xd800, 0x62, 0xdc00]), 'a\u{1f600}\ufffdb\ufffd');
  });

  it('device paths stop at the end marker; element errors have Go’s prefixes', () => {
    assert.deepEqual(parseDevicePath(concat(devicePathElement(1, 1, Uint8Array.of(9)), DEVICE_PATH_END, Uint8Array.of(0xff))).length, 1);
    assert.equal(goParseError(() => parseDevicePath(Uint8Array.of(1))), 'reading subtype: EOF');
    assert.equal(goParseError(() => parseDevicePath(Uint8Array.of(1, 1, 9))), 'reading data len: unexpected EOF');
    assert.equal(goParseError(() => parseDevicePath(concat(Uint8Array.of(1, 1), u16(4000)))), 'device path data too long: 4000 > 2048');
    assert.equal(goParseError(() => parseDevicePath(concat(Uint8Array.of(1, 1), u16(8), Uint8Array.of(1)))), 'reading data: unexpected EOF');
    assert.equal(goParseError(() => parseDevicePath(concat(Uint8Array.of(1, 1), u16(8)))), 'reading data: EOF');
    assert.equal(parseEfiImageLoad(imageLoad(new Uint8Array(0))).length, 0);
    assert.equal(goParseError(() => parseEfiImageLoad(concat(u64(0), u64(0), u64(0), u64(2)))), 'EOF');
  });

  it('variable names are read unit by unit (EOF vs unexpected EOF)', () => {
    const head = concat(GUID.owner, u64(3), u64(0));
    assert.equal(goParseError(() => parseUefiVariableData(concat(head, u16(0x41), u16(0x42)))), 'EOF');
    assert.equal(goParseError(() => parseUefiVariableData(concat(head, u16(0x41), Uint8Array.of(0x42)))), 'unexpected EOF');
    const v = parseUefiVariableData(concat(head, u16(0x41), u16(0xd800), u16(0x42), Uint8Array.of(9)));
    assert.equal(v.name, 'A\ufffdB');
    assert.deepEqual(parseVariableAuthority({ ...v, data: concat(GUID.owner, certs.pk) }).certs, [certs.pk]);
  });
});

describe('event log: fuzzing', () => {
  const base = gceLikeLog({ certs }).build();
  const basePcrs = gceLikeLog({ certs }).pcrs(Alg.SHA256, ALL_PCRS);

  /** Runs the processor; only a JoinServiceError with Go's prefix may come out. */
  function survives(log: Uint8Array, bank: number, pcrs: Map<number, Uint8Array>): void {
    const t0 = process.hrtime.bigint();
    try {
      const s = processEventLog(log, bank, pcrs);
      assert.equal(s.hash, bank);
    } catch (err) {
      if (!(err instanceof JoinServiceError) || !err.message.startsWith(PREFIX)) throw err;
      assert.ok(err.message.length < 4096);
    }
    assert.ok(process.hrtime.bigint() - t0 < 2_000_000_000n, 'took too long');
  }

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 3, 4, 28, 0x7fffffff, 0xffffffff, 0x80000000) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );

  interface Mutation {
    kind: 'flip' | 'u32' | 'cut' | 'insert';
    at: number;
    bits?: number;
    value?: number;
    bytes?: Uint8Array;
  }

  function mutate(log: Uint8Array, ms: readonly Mutation[]): Uint8Array {
    let out: Uint8Array = Uint8Array.from(log);
    for (const m of ms) {
      if (out.length === 0) break;
      const at = m.at % out.length;
      if (m.kind === 'flip') out[at] = (out[at] as number) ^ (m.bits as number);
      else if (m.kind === 'u32') out.set(u32(m.value as number).subarray(0, Math.min(4, out.length - at)), at);
      else if (m.kind === 'cut') out = out.subarray(0, at);
      else out = concat(out.subarray(0, at), m.bytes as Uint8Array, out.subarray(at));
    }
    return out;
  }

  it('mutated GCE-like logs only ever produce errors with text', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.constantFrom(Alg.SHA1, Alg.SHA256, Alg.SHA384), (ms, bank) => {
        const pcrs = bank === Alg.SHA256 ? basePcrs : new Map([...basePcrs.keys()].map((k) => [k, new Uint8Array(bank === Alg.SHA1 ? 20 : 48)]));
        survives(mutate(base, ms), bank, pcrs);
      }),
      { seed: 0x7e1, numRuns: 600 },
    );
  });

  it('mutated logs replayed against their own (mutated) digests reach the derivations', () => {
    // Mutate only event data of a well-formed log, then recompute the PCRs, so the replay passes and the MachineState parsers see the damage.
    fc.assert(
      fc.property(fc.nat({ max: 27 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (which, ms, rehash) => {
        const b = gceLikeLog({ certs });
        const e = b.events[which];
        if (!e) return;
        e.data = mutate(e.data, ms);
        if (rehash) {
          e.digests.set(Alg.SHA1, hash('sha1', e.data));
          e.digests.set(Alg.SHA256, hash('sha256', e.data));
        }
        survives(b.build(), Alg.SHA256, b.pcrs(Alg.SHA256, ALL_PCRS));
      }),
      { seed: 0x5eed, numRuns: 400 },
    );
  });

  it('random event sequences (types, PCRs, data) never crash', () => {
    const types = fc.constantFrom(...Object.values(Ev), 0x13, 0x800000e1, 0xffffffff);
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(ZERO4, FF4, ascii(CALLING_EFI_APP), ascii(EXIT_BOOT_SERVICES), gceScrtmVersion(1), gceNonHostInfo(1)),
      fc.constantFrom(variableData(GUID.globalVariable, 'SecureBoot', Uint8Array.of(1)), variableData(GUID.globalVariable, 'db', signatureList(GUID.certX509, [certs.db]))),
    );
    const event = fc.record({ pcr: fc.constantFrom(0, 1, 2, 4, 5, 7, 8, 14), type: types, data, forged: fc.option(fc.constantFrom(ZERO4, concat(ZERO4, FF4), ascii(EXIT_BOOT_SERVICES))) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 24 }), fc.constantFrom(Alg.SHA1, Alg.SHA256), (events, bank) => {
        const b = new EventLogBuilder();
        for (const e of events) b.add(e.pcr, e.type, e.data, e.forged ? { digestOf: e.forged } : {});
        survives(b.build(), bank, b.pcrs(bank, ALL_PCRS));
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('arbitrary bytes and arbitrary structure parsers only throw GoParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        survives(bytes, Alg.SHA256, basePcrs);
        survives(concat(legacyEvent(0, Ev.NoAction, new Uint8Array(20), specIdEventData()), bytes), Alg.SHA256, basePcrs);
        for (const f of [parseUefiVariableData, parseEfiSignatureList, parseEfiImageLoad, parseDevicePath]) {
          try {
            f(bytes);
          } catch (err) {
            if (!(err instanceof GoParseError)) throw err;
          }
        }
      }),
      { seed: 7, numRuns: 1000 },
    );
  });
});

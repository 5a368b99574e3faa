import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import {
  compareMeasurements,
  enforceMeasurements,
  goHexDecode,
  parseMeasurements,
  parseMeasurementsConfig,
  type Measurement,
  type Measurements,
} from '../../src/workers/attestation/vtpm/measurements.js';

const h = (byte: number, n = 32) => byte.toString(16).padStart(2, '0').repeat(n);
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const entry = (hex: string, warnOnly = false): Measurement => ({ expected: bytes(hex), warnOnly });

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof JoinServiceError, String(err));
    assert.equal(err.code, ErrorCode.ConfigInvalid);
    return err.message;
  }
  assert.fail('accepted');
}

const parseError = (json: string) => configError(() => parseMeasurements(json));

describe('measurements: parsing (Go measurements.M.UnmarshalJSON)', () => {
  it('parses what the CLI writes', () => {
    const json = `{"11":{"expected":"${h(0xab)}","warnOnly":false},"15":{"expected":"${h(0)}","warnOnly":false},"4":{"expected":"${h(0x04)}","warnOnly":true},"9":{"expected":"${h(0x09)}","warnOnly":false}}`;
    const m = parseMeasurements(json);
    assert.deepStrictEqual(
      m,
      new Map([
        [11, entry(h(0xab))],
        [15, entry(h(0))],
        [4, entry(h(0x04), true)],
        [9, entry(h(0x09))],
      ]),
    );
    assert.deepStrictEqual(parseMeasurements(Buffer.from(json)), m);
  });

  it('accepts the legacy bare-hex form, upper case hex, 48-byte values and Go decoder leniency', () => {
    assert.deepStrictEqual(parseMeasurements(`{"4":"${h(0xab).toUpperCase()}"}`), new Map([[4, entry(h(0xab))]]));
    assert.deepStrictEqual(parseMeasurements(`{"0":{"expected":"${h(1, 48)}"}}`), new Map([[0, entry(h(1, 48))]]));
    // Case-insensitive member names, null members are no-ops, unknown members ignored, duplicates: last wins.
    assert.deepStrictEqual(
      parseMeasurements(`{"4":{"Expected":"${h(1)}","WARNONLY":true,"warnOnly":null,"comment":"x","expected":"${h(2)}"}}`),
      new Map([[4, entry(h(2), true)]]),
    );
    // "04" is 4 (ParseUint), the later one wins; the maximum uint32 index is fine.
    assert.deepStrictEqual(parseMeasurements(`{"4":"${h(1)}","04":"${h(2)}","4294967295":"${h(3)}"}`), new Map([[4, entry(h(2))], [4294967295, entry(h(3))]]));
    assert.deepStrictEqual(parseMeasurements('{}'), new Map());
    assert.deepStrictEqual(parseMeasurements('null'), new Map());
  });

  it('reports invalid values with Go’s texts', () => {
    const cases: [string, string][] = [
      [`{"4":"${h(1, 31)}"}`, 'unmarshalling json: invalid measurement: invalid length: 31'],
      [`{"4":"${h(1, 64)}"}`, 'unmarshalling json: invalid measurement: invalid length: 64'],
      ['{"4":""}', 'unmarshalling json: invalid measurement: invalid length: 0'],
      ['{"4":null}', 'unmarshalling json: invalid measurement: invalid length: 0'],
      ['{"4":{}}', 'unmarshalling json: invalid measurement: invalid length: 0'],
      ['{"4":{"warnOnly":true}}', 'unmarshalling json: invalid measurement: invalid length: 0'],
      [`{"4":"${h(1).slice(1)}"}`, 'unmarshalling json: decoding measurement: encoding/hex: odd length hex string'],
      [`{"4":"zz${h(1).slice(2)}"}`, "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+007A 'z'"],
      ['{"4":"0g"}', "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+0067 'g'"],
      ['{"4":"00g"}', "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+0067 'g'"],
      ['{"4":"0x00"}', "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+0078 'x'"],
      ['{"4":"\\u0001\\u0001"}', 'unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+0001'],
      ['{"4":"é0"}', "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+00C3 'Ã'"],
      ['{"4":"\u00a00"}', "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+00C2 'Â'"],
      // base64 is not accepted despite Go's comment.
      [`{"4":"${Buffer.alloc(32, 0xff).toString('base64')}"}`, "unmarshalling json: decoding measurement: encoding/hex: invalid byte: U+002F '/'"],
      [
        '{"4":5}',
        'json: cannot unmarshal number into Go value of type measurements.encodedMeasurement\ntrying legacy format: json: cannot unmarshal number into Go value of type string',
      ],
      [
        '{"4":[]}',
        'json: cannot unmarshal array into Go value of type measurements.encodedMeasurement\ntrying legacy format: json: cannot unmarshal array into Go value of type string',
      ],
      [
        '{"4":true}',
        'json: cannot unmarshal bool into Go value of type measurements.encodedMeasurement\ntrying legacy format: json: cannot unmarshal bool into Go value of type string',
      ],
      [
        '{"4":{"expected":5}}',
        'json: cannot unmarshal number into Go struct field encodedMeasurement.expected of type string\ntrying legacy format: json: cannot unmarshal object into Go value of type string',
      ],
      [
        `{"4":{"expected":"${h(1)}","warnOnly":"yes"}}`,
        'json: cannot unmarshal string into Go struct field encodedMeasurement.warnOnly of type measurements.MeasurementValidationOption\ntrying legacy format: json: cannot unmarshal object into Go value of type string',
      ],
      [
        `{"4":{"expected":["${h(1)}"],"warnOnly":1}}`,
        'json: cannot unmarshal array into Go struct field encodedMeasurement.expected of type string\ntrying legacy format: json: cannot unmarshal object into Go value of type string',
      ],
    ];
    for (const [json, message] of cases) assert.equal(parseError(json), message, json);
  });

  it('reports invalid indices with Go’s texts (value errors first, as Go decodes the value before the key)', () => {
    const v = `"${h(1)}"`;
    for (const key of ['abc', '-1', '+1', '', ' 1', '4294967296', '18446744073709551616', '0x1']) {
      assert.equal(parseError(`{${JSON.stringify(key)}:${v}}`), `json: cannot unmarshal number ${key} into Go value of type uint32`);
    }
    assert.equal(parseError(`{"abc":${v},"4":${v}}`), 'json: cannot unmarshal number abc into Go value of type uint32');
    assert.equal(parseError(`{"abc":${v},"x":${v}}`), 'json: cannot unmarshal number abc into Go value of type uint32');
    assert.equal(parseError(`{"abc":${v},"4":"00"}`), 'unmarshalling json: invalid measurement: invalid length: 1');
    assert.equal(parseError('{"abc":"00"}'), 'unmarshalling json: invalid measurement: invalid length: 1');
  });

  it('requires all values to have the same length (first index in ascending order sets it)', () => {
    assert.equal(parseError(`{"9":"${h(1, 48)}","11":"${h(1)}","4":"${h(1)}"}`), 'inconsistent measurement length: index 9: expected 32, got 48');
    assert.equal(parseError(`{"0":"${h(1, 48)}","11":"${h(1)}"}`), 'inconsistent measurement length: index 11: expected 48, got 32');
    // A replaced duplicate does not count.
    assert.deepStrictEqual(parseMeasurements(`{"4":"${h(1, 48)}","4":"${h(1)}","5":"${h(2)}"}`).size, 2);
  });

  it('reports syntax errors and non-object maps with Go’s texts', () => {
    assert.equal(parseError('{"4":'), 'unexpected end of JSON input');
    assert.equal(parseError('{"4":"00"}x'), "invalid character 'x' after top-level value");
    assert.equal(parseError('[]'), 'json: cannot unmarshal array into Go value of type map[uint32]measurements.Measurement');
    assert.equal(parseError('"x"'), 'json: cannot unmarshal string into Go value of type map[uint32]measurements.Measurement');
  });

  it('hex decoding matches Go’s hex.DecodeString', () => {
    assert.deepStrictEqual(goHexDecode(Buffer.from('00fFaB')), Uint8Array.of(0, 0xff, 0xab));
    assert.deepStrictEqual(goHexDecode(Buffer.from('')), new Uint8Array(0));
    assert.equal(goHexDecode(Buffer.from('0')), 'encoding/hex: odd length hex string');
    assert.equal(goHexDecode(Buffer.from('g0')), "encoding/hex: invalid byte: U+0067 'g'");
    assert.equal(goHexDecode(Buffer.from('0g0')), "encoding/hex: invalid byte: U+0067 'g'");
    assert.equal(goHexDecode(Uint8Array.of(0x30, 0xad)), 'encoding/hex: invalid byte: U+00AD');
    assert.equal(goHexDecode(Uint8Array.of(0x30, 0x7f)), 'encoding/hex: invalid byte: U+007F');
    assert.equal(goHexDecode(Uint8Array.of(0x30, 0x20)), "encoding/hex: invalid byte: U+0020 ' '");
  });
});

describe('measurements: attestation config (config-and-operations.md §2.1–§2.2)', () => {
  const m4 = `{"4":{"expected":"${h(4)}","warnOnly":false}}`;

  it('reads the measurements member with Go’s decoder rules', () => {
    const want = new Map([[4, entry(h(4))]]);
    assert.deepStrictEqual(parseMeasurementsConfig(`{"measurements":${m4}}`), want);
    assert.deepStrictEqual(parseMeasurementsConfig(`{"Measurements":${m4},"other":[1]}`), want);
    assert.deepStrictEqual(parseMeasurementsConfig(`{"measurements":{"4":"${h(9)}"},"MEASUREMENTS":${m4}}`), want);
    assert.deepStrictEqual(parseMeasurementsConfig('{}'), new Map());
    assert.deepStrictEqual(parseMeasurementsConfig('{"measurements":null}'), new Map());
    assert.deepStrictEqual(parseMeasurementsConfig(Buffer.from(`{"measurements":${m4}}`)), want);
  });

  it('adds Go’s struct context to type errors only', () => {
    const err = (text: string, struct?: string) => configError(() => parseMeasurementsConfig(text, struct));
    assert.equal(err('{"measurements":"x"}'), 'json: cannot unmarshal string into Go struct field QEMUVTPM.measurements of type map[uint32]measurements.Measurement');
    assert.equal(err('{"measurements":[]}', 'GCPSEVES'), 'json: cannot unmarshal array into Go struct field GCPSEVES.measurements of type map[uint32]measurements.Measurement');
    assert.equal(err(`{"measurements":{"x":"${h(1)}"}}`, 'AWSNitroTPM'), 'json: cannot unmarshal number x into Go struct field AWSNitroTPM.measurements of type uint32');
    assert.equal(err('{"measurements":{"4":"00"}}'), 'unmarshalling json: invalid measurement: invalid length: 1');
    assert.equal(err(`{"measurements":{"4":"${h(1)}","5":"${h(1, 48)}"}}`), 'inconsistent measurement length: index 5: expected 32, got 48');
    assert.equal(err('[]', 'AzureTrustedLaunch'), 'json: cannot unmarshal array into Go value of type config.AzureTrustedLaunch');
    assert.equal(err('null'), 'attestation config is null');
    assert.equal(err('{"measurements":'), 'unexpected end of JSON input');
    // An invalid earlier duplicate fails even if a later one is valid (Go decodes every occurrence).
    assert.equal(err(`{"measurements":{"4":"00"},"measurements":${m4}}`), 'unmarshalling json: invalid measurement: invalid length: 1');
  });
});

describe('measurements: comparison (§9.1, issue format)', () => {
  const pcrs = new Map<number, Uint8Array>([
    [0, bytes(h(0))],
    [4, bytes(h(4))],
    [9, bytes(h(9))],
    [11, bytes(h(0x11))],
    [12, new Uint8Array(0)],
  ]);

  it('accepts matching values and ignores PCRs without expectation', () => {
    const m: Measurements = new Map([
      [4, entry(h(4))],
      [9, entry(h(9), true)],
    ]);
    const r = compareMeasurements(m, pcrs);
    assert.deepStrictEqual(r, { errors: [], warnings: [], goErrors: [], goWarnings: [], checked: { 4: h(4), 9: h(9) } });
    assert.deepStrictEqual(compareMeasurements(new Map(), pcrs).errors, []);
  });

  it('collects every enforced mismatch in ascending index order, warnOnly ones as warnings', () => {
    const m: Measurements = new Map([
      [15, entry(h(0))],
      [11, entry(h(0xaa))],
      [4, entry(h(4))],
      [12, entry(h(0))],
      [9, entry(h(0xbb), true)],
      [0, entry(h(0x01), true)],
      [13, entry(h(0x0c, 48))],
    ]);
    const r = compareMeasurements(m, pcrs);
    assert.deepStrictEqual(r.errors, [
      `PCR[11]: expected ${h(0xaa)}, got ${h(0x11)}`,
      `PCR[12]: expected ${h(0)}, got <missing>`,
      `PCR[13]: expected ${h(0x0c, 48)}, got <missing>`,
      `PCR[15]: expected ${h(0)}, got <missing>`,
    ]);
    assert.deepStrictEqual(r.warnings, [`PCR[0]: expected ${h(1)}, got ${h(0)}`, `PCR[9]: expected ${h(0xbb)}, got ${h(9)}`]);
    assert.deepStrictEqual(r.goErrors, [
      `untrusted measurement value ${h(0x11)} at index 11`,
      'missing measurement value for index 12',
      'missing measurement value for index 13',
      'missing measurement value for index 15',
    ]);
    assert.deepStrictEqual(r.goWarnings, [`Encountered untrusted measurement value ${h(0)} at index 0`, `Encountered untrusted measurement value ${h(9)} at index 9`]);
    assert.equal(r.checked['12'], '');
    assert.equal(r.checked['11'], h(0x11));
  });

  it('a 48-byte expectation never matches a 32-byte PCR', () => {
    const r = compareMeasurements(new Map([[4, entry(h(4, 48))]]), pcrs);
    assert.deepStrictEqual(r.errors, [`PCR[4]: expected ${h(4, 48)}, got ${h(4)}`]);
  });

  it('enforceMeasurements throws MeasurementMismatch listing all enforced mismatches', () => {
    const m: Measurements = new Map([
      [4, entry(h(5))],
      [15, entry(h(0))],
      [9, entry(h(0xbb), true)],
    ]);
    assert.throws(
      () => enforceMeasurements(m, pcrs),
      (err: unknown) => {
        assert.ok(err instanceof JoinServiceError);
        assert.equal(err.code, ErrorCode.MeasurementMismatch);
        assert.equal(err.message, `measurement validation failed:\nPCR[4]: expected ${h(5)}, got ${h(4)}\nPCR[15]: expected ${h(0)}, got <missing>`);
        assert.equal(err.details?.goMessage, `measurement validation failed:\nuntrusted measurement value ${h(4)} at index 4\nmissing measurement value for index 15`);
        assert.deepStrictEqual(err.details?.warnings, [`PCR[9]: expected ${h(0xbb)}, got ${h(9)}`]);
        return true;
      },
    );
    const ok = enforceMeasurements(new Map([[9, entry(h(0xbb), true)]]), pcrs);
    assert.deepStrictEqual(ok.warnings, [`PCR[9]: expected ${h(0xbb)}, got ${h(9)}`]);
  });
});

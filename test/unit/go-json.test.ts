import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptInputError, goBase64StdDecode } from '../../src/shared/go-json/go-base64.js';
import { checkGoJson, GO_JSON_MAX_DEPTH, GoJsonSyntaxError, parseGoJson, unquote } from '../../src/shared/go-json/go-json.js';
import { byteSliceBytes, foldGoKey, goBytesField, unmarshalGoStruct } from '../../src/shared/go-json/go-json-decode.js';

const bytes = (s: string | number[]) => (typeof s === 'string' ? Uint8Array.from(Buffer.from(s, 'latin1')) : Uint8Array.from(s));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function syntaxError(input: string | number[]): string {
  try {
    checkGoJson(bytes(input));
  } catch (err) {
    assert.ok(err instanceof GoJsonSyntaxError);
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

describe('checkGoJson: Go encoding/json scanner', () => {
  it('accepts valid JSON', () => {
    for (const ok of ['{}', ' [1, -0.5e+3, "x", true, false, null, {"a": []}] ', '"\\u00e9\\n"', '0', '1E5', '{"a":{"b":[{}]}}\n']) {
      checkGoJson(bytes(ok));
    }
  });

  it('reports Go’s syntax error texts', () => {
    const cases: [string | number[], string][] = [
      ['', 'unexpected end of JSON input'],
      ['   ', 'unexpected end of JSON input'],
      ['{', 'unexpected end of JSON input'],
      ['{"a":1', 'unexpected end of JSON input'],
      ['"abc', 'unexpected end of JSON input'],
      ['garbage', "invalid character 'g' looking for beginning of value"],
      ['tru', "invalid character ' ' in literal true (expecting 'e')"],
      ['trUe', "invalid character 'U' in literal true (expecting 'u')"],
      ['nul', "invalid character ' ' in literal null (expecting 'l')"],
      ['fals', "invalid character ' ' in literal false (expecting 'e')"],
      ['{"a" 1}', "invalid character '1' after object key"],
      ['{"a":1 "b":2}', `invalid character '"' after object key:value pair`],
      ['{1:2}', "invalid character '1' looking for beginning of object key string"],
      ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
      ['[1,]', "invalid character ']' looking for beginning of value"],
      ['[1 2]', "invalid character '2' after array element"],
      ['1 2', "invalid character '2' after top-level value"],
      ['01', "invalid character '1' after top-level value"],
      ['{}x', "invalid character 'x' after top-level value"],
      ['-', "invalid character ' ' in numeric literal"],
      ['-a', "invalid character 'a' in numeric literal"],
      ['1.', "invalid character ' ' after decimal point in numeric literal"],
      ['1e', "invalid character ' ' in exponent of numeric literal"],
      ['1e+', "invalid character ' ' in exponent of numeric literal"],
      ['"a\\x"', "invalid character 'x' in string escape code"],
      ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"],
      [[0x22, 0x0a, 0x22], "invalid character '\\n' in string literal"],
      [[0x22, 0x01, 0x22], "invalid character '\\x01' in string literal"],
      ["'a'", "invalid character '\\'' looking for beginning of value"],
      ['\\', "invalid character '\\\\' looking for beginning of value"],
      [[0xff], "invalid character 'ÿ' looking for beginning of value"],
      [[0x80], "invalid character '\\u0080' looking for beginning of value"],
      [[0xef, 0xbb, 0xbf, 0x7b, 0x7d], "invalid character 'ï' looking for beginning of value"],
    ];
    for (const [input, message] of cases) assert.equal(syntaxError(input), message, JSON.stringify(input));
  });

  it('enforces Go’s nesting limit without exhausting the stack', () => {
    checkGoJson(bytes('['.repeat(GO_JSON_MAX_DEPTH) + ']'.repeat(GO_JSON_MAX_DEPTH)));
    assert.equal(syntaxError('['.repeat(GO_JSON_MAX_DEPTH + 1)), "invalid character '[' exceeded max depth");
    assert.equal(syntaxError('{"a":'.repeat(GO_JSON_MAX_DEPTH + 1)), "invalid character '{' exceeded max depth");
    const deep = parseGoJson(bytes('['.repeat(GO_JSON_MAX_DEPTH) + ']'.repeat(GO_JSON_MAX_DEPTH)));
    assert.equal(deep.kind, 'array');
  });
});

describe('parseGoJson / unquote', () => {
  it('builds the tree with members in order, duplicates kept', () => {
    const v = parseGoJson(bytes('{"a":1,"b":[true,null,"x"],"a":-2.5e3}'));
    assert.equal(v.kind, 'object');
    if (v.kind !== 'object') return;
    assert.deepEqual(
      v.members.map((m) => Buffer.from(m.key).toString()),
      ['a', 'b', 'a'],
    );
    assert.deepEqual(v.members[2]!.value, { kind: 'number', text: '-2.5e3' });
    assert.deepEqual(v.members[1]!.value, {
      kind: 'array',
      items: [{ kind: 'bool', value: true }, { kind: 'null' }, { kind: 'string', bytes: bytes('x') }],
    });
  });

  it('unquotes escapes and replaces invalid UTF-8 and lone surrogates like Go', () => {
    assert.equal(hex(unquote(bytes('a\\n\\t\\"\\\\\\/\\b\\f\\r'))), hex(bytes('a\n\t"\\/\b\f\r')));
    assert.equal(Buffer.from(unquote(bytes('\\u00e9\\ud83d\\ude00'))).toString('utf8'), 'é😀');
    assert.equal(hex(unquote(bytes('\\ud800x'))), 'efbfbd78');
    assert.equal(hex(unquote(bytes('\\udc00'))), 'efbfbd');
    assert.equal(hex(unquote(bytes([0xe2, 0x82, 0x41]))), 'efbfbdefbfbd41');
    assert.equal(hex(unquote(bytes([0xed, 0xa0, 0x80]))), 'efbfbdefbfbdefbfbd');
    assert.equal(hex(unquote(bytes([0xc3, 0xa9]))), 'c3a9');
  });
});

describe('goBase64StdDecode: Go base64.StdEncoding', () => {
  const ok: [string, string][] = [
    ['', ''],
    ['AQID', '010203'],
    ['AQ==', '01'],
    ['AQI=', '0102'],
    ['AQJ=', '0102'], // non-zero unused bits: accepted (not Strict)
    ['AR==', '01'],
    ['AQ\r\nID', '010203'],
    ['\nAQID\n', '010203'],
    ['AQ=\n=', '01'],
    ['AQ==\r\n', '01'],
    ['AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'],
  ];
  it('decodes what Go decodes', () => {
    for (const [input, out] of ok) assert.equal(hex(goBase64StdDecode(bytes(input))), out, input);
  });

  it('rejects what Go rejects, at Go’s offsets', () => {
    const bad: [string, number][] = [
      ['AQI', 0],
      ['AQ', 0],
      ['A', 0],
      ['AQ=', 3],
      ['A===', 1],
      ['AQ=A', 2],
      ['AQ==AQ==', 4],
      ['AQID====', 4],
      ['A-==', 1],
      ['AQ_D', 2],
      ['AQID AQID', 4],
      ['=AAA', 0],
    ];
    for (const [input, offset] of bad) {
      assert.throws(
        () => goBase64StdDecode(bytes(input)),
        (err: unknown) => err instanceof CorruptInputError && err.offset === offset && err.message === `illegal base64 data at input byte ${offset}`,
        input,
      );
    }
  });
});

describe('unmarshalGoStruct: Go json.Unmarshal into a struct', () => {
  const spec = { goType: 'atls.FakeAttestationDoc', structName: 'FakeAttestationDoc', fields: { UserData: goBytesField, Nonce: goBytesField } };
  const decode = (json: string) => {
    const v = unmarshalGoStruct(parseGoJson(bytes(json)), spec);
    return { userData: hex(byteSliceBytes(v.UserData)), nonce: hex(byteSliceBytes(v.Nonce)), nonceNil: v.Nonce === null };
  };
  const error = (json: string) => {
    try {
      unmarshalGoStruct(parseGoJson(bytes(json)), spec);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail(`accepted ${json}`);
  };

  it('matches keys exactly, case-insensitively and through Go’s Unicode folds', () => {
    assert.deepEqual(decode('{"userdata":"AQ==","NONCE":"Ag=="}'), { userData: '01', nonce: '02', nonceNil: false });
    assert.deepEqual(decode('{"u\u017Fer\\u0044ata":"AQ=="}'.replace('\u017F', '\\u017f')), { userData: '01', nonce: '', nonceNil: true });
    assert.equal(foldGoKey(Buffer.from('uſerDATA')), 'USERDATA');
    assert.equal(foldGoKey(Buffer.from('\u212Aey')), 'KEY');
    assert.equal(foldGoKey(Buffer.from('ÜserData')), undefined);
  });

  it('ignores unknown keys and lets the last duplicate win', () => {
    assert.deepEqual(decode('{"X":1,"Nonce":"AQ==","nonce":"Ag==","Extra":{"Nonce":"Aw=="}}'), { userData: '', nonce: '02', nonceNil: false });
    assert.deepEqual(decode('{"Nonce":"AQ==","Nonce":null}'), { userData: '', nonce: '', nonceNil: true });
  });

  it('treats top-level null as an empty document', () => {
    assert.deepEqual(decode('null'), { userData: '', nonce: '', nonceNil: true });
  });

  it('decodes arrays of numbers into []byte, reusing the slice like Go', () => {
    assert.deepEqual(decode('{"Nonce":[1,2,255]}'), { userData: '', nonce: '0102ff', nonceNil: false });
    assert.deepEqual(decode('{"Nonce":[1,2,3],"Nonce":[9],"Nonce":[null,null,null]}'), { userData: '', nonce: '090203', nonceNil: false });
    assert.deepEqual(decode('{"Nonce":[1,2,3],"Nonce":[]}'), { userData: '', nonce: '', nonceNil: false });
  });

  it('reports Go’s type errors', () => {
    assert.equal(error('[]'), 'json: cannot unmarshal array into Go value of type atls.FakeAttestationDoc');
    assert.equal(error('"x"'), 'json: cannot unmarshal string into Go value of type atls.FakeAttestationDoc');
    assert.equal(error('1'), 'json: cannot unmarshal number into Go value of type atls.FakeAttestationDoc');
    assert.equal(error('true'), 'json: cannot unmarshal bool into Go value of type atls.FakeAttestationDoc');
    assert.equal(error('{"Nonce":5}'), 'json: cannot unmarshal number into Go struct field FakeAttestationDoc.Nonce of type []uint8');
    assert.equal(error('{"nonce":{}}'), 'json: cannot unmarshal object into Go struct field FakeAttestationDoc.Nonce of type []uint8');
    assert.equal(error('{"UserData":false}'), 'json: cannot unmarshal bool into Go struct field FakeAttestationDoc.UserData of type []uint8');
    assert.equal(error('{"Nonce":[256]}'), 'json: cannot unmarshal number 256 into Go struct field FakeAttestationDoc.Nonce of type uint8');
    assert.equal(error('{"Nonce":[-1]}'), 'json: cannot unmarshal number -1 into Go struct field FakeAttestationDoc.Nonce of type uint8');
    assert.equal(error('{"Nonce":[1.5]}'), 'json: cannot unmarshal number 1.5 into Go struct field FakeAttestationDoc.Nonce of type uint8');
    assert.equal(error('{"Nonce":["a"]}'), 'json: cannot unmarshal string into Go struct field FakeAttestationDoc.Nonce of type uint8');
  });

  it('reports base64 errors and keeps the first error in document order', () => {
    assert.equal(error('{"Nonce":"AQI"}'), 'illegal base64 data at input byte 0');
    assert.equal(error('{"Nonce":"AQ=="  ,  "UserData":"A-=="}'), 'illegal base64 data at input byte 1');
    assert.equal(error('{"UserData":7,"Nonce":"!"}'), 'json: cannot unmarshal number into Go struct field FakeAttestationDoc.UserData of type []uint8');
    assert.equal(error('{"Nonce":"!","UserData":7}'), 'illegal base64 data at input byte 0');
  });

  it('checks syntax before decoding anything', () => {
    assert.throws(() => decode('{"Nonce":5,'), GoJsonSyntaxError);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAllPem, decodePem, encodePem } from '../../src/shared/pem.js';

test('PEM round trip and multiple blocks with skipping of invalid ones', () => {
  const a = encodePem('CERTIFICATE', Buffer.from('hello'));
  const b = encodePem('PRIVATE KEY', Buffer.alloc(100, 7));
  assert.equal(a, '-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n');
  const text = `junk\n${a}-----BEGIN BROKEN-----\n!!!\n-----END BROKEN-----\n${b}`;
  const blocks = decodeAllPem(text);
  assert.deepEqual(blocks.map((x) => x.type), ['CERTIFICATE', 'PRIVATE KEY']);
  assert.equal(blocks[1]!.bytes.length, 100);
});

test('headers are recognised', () => {
  const r = decodePem('-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\naGVsbG8=\n-----END CERTIFICATE-----\n');
  assert.deepEqual(r?.block.headers, { 'Proc-Type': '4,ENCRYPTED' });
  assert.equal(r?.block.bytes.toString(), 'hello');
  assert.equal(decodePem('no pem here'), undefined);
  assert.equal(decodePem('-----BEGIN X-----\naGVsbG8=\n'), undefined, 'no END line');
});

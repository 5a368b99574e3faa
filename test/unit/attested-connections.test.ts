import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestedConnections } from '../../src/main/atls/attested-connections.js';
import { goPeerAddress, peerKey } from '../../src/main/atls/peer-address.js';

const record = (n: number) => ({
  peer: { variant: 'dummy' as const, userDataHex: String(n), measurements: {}, warnings: [] },
  peerAddress: `10.0.0.1:${n}`,
  attestedAt: n,
});

test('a record lives exactly as long as its connection, and a newer one under the same key survives an old close', () => {
  const c = new AttestedConnections();
  const a = record(1);
  const b = record(2);
  c.add('10.0.0.1:4000', a);
  assert.equal(c.get('10.0.0.1:4000'), a);
  c.add('10.0.0.1:4000', b); // port reused by a new connection before the old close event
  c.remove('10.0.0.1:4000', a);
  assert.equal(c.get('10.0.0.1:4000'), b);
  c.remove('10.0.0.1:4000', b);
  assert.equal(c.get('10.0.0.1:4000'), undefined);
  assert.equal(c.size, 0);
});

test('peer keys match grpc-js getPeer(); log addresses use Go JoinHostPort form', () => {
  assert.equal(peerKey({ remoteAddress: '10.0.0.1', remotePort: 5 }), '10.0.0.1:5');
  assert.equal(peerKey({ remoteAddress: '::1', remotePort: 5 }), '::1:5');
  assert.equal(peerKey({ remoteAddress: undefined, remotePort: undefined }), 'unknown');
  assert.equal(goPeerAddress({ remoteAddress: '::1', remotePort: 5 }), '[::1]:5');
  assert.equal(goPeerAddress({ remoteAddress: '10.0.0.1', remotePort: 5 }), '10.0.0.1:5');
  assert.equal(goPeerAddress({ remoteAddress: undefined, remotePort: undefined }), 'unknown');
});

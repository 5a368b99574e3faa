import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, levelForVerbosity } from '../../src/main/log/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, destination };
}

test('log lines are JSON with upper-case levels and slog-style groups', () => {
  const { lines, destination } = capture();
  const log = createLogger({ level: 'debug', destination });
  log.group('server').with({ peerAddress: '10.0.0.1:4000' }).info('IssueRejoinTicket called');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!['level'], 'INFO');
  assert.equal(lines[0]!['msg'], 'IssueRejoinTicket called');
  assert.deepEqual(lines[0]!['server'], { peerAddress: '10.0.0.1:4000' });
  assert.equal(typeof lines[0]!['time'], 'string');
});

test('binary values never reach the log', () => {
  const { lines, destination } = capture();
  const log = createLogger({ level: 'info', destination });
  const secret = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  log.info('oops', { key: secret, nested: { k: new Uint8Array(secret) } });
  const text = JSON.stringify(lines);
  assert.ok(!text.includes('00112233'), text);
  assert.ok(!text.includes(secret.toString('base64')), text);
  assert.deepEqual(lines[0]!['key'], '<16 bytes>');
});

test('Go verbosity maps to levels', () => {
  assert.equal(levelForVerbosity(-1), 'debug');
  assert.equal(levelForVerbosity(0), 'info');
  assert.equal(levelForVerbosity(1), 'warn');
  assert.equal(levelForVerbosity(5), 'error');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGoFlags } from '../../src/main/cli/flags.js';

test('Go-style single-dash flags become commander long flags', () => {
  assert.deepEqual(normalizeGoFlags(['serve', '-cloud-provider=QEMU', '-attestation-variant', 'dummy', '-v=-1', '--port=1']), [
    'serve',
    '--cloud-provider=QEMU',
    '--attestation-variant',
    'dummy',
    '-v',
    '-1',
    '--port=1',
  ]);
  assert.deepEqual(normalizeGoFlags(['-v', '2']), ['-v', '2']);
});

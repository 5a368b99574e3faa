import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NonceStore } from '../../src/main/atls/nonce-store.js';
import { isGoStdBase64 } from '../../src/main/atls/sni-nonce.js';

test('a nonce is issued once per SNI, taken once, and expires', () => {
  const s = new NonceStore(1000, 10);
  const a = s.issue('sni-a', 0);
  if (!a.ok) throw new Error('first issue must succeed');
  assert.equal(a.nonce.length, 32);
  assert.deepEqual(s.issue('sni-a', 10), { ok: false, reason: 'duplicate' });
  assert.deepEqual(s.take('sni-a', 20), a.nonce);
  assert.equal(s.take('sni-a', 20), undefined, 'used once');
  assert.ok(s.issue('sni-b', 0).ok);
  assert.equal(s.take('sni-b', 1000), undefined, 'expired at the ttl');
});

test('the store is bounded and sweeps expired entries when full', () => {
  const s = new NonceStore(100, 2);
  assert.ok(s.issue('a', 0).ok);
  assert.ok(s.issue('b', 0).ok);
  assert.deepEqual(s.issue('c', 50), { ok: false, reason: 'full' });
  assert.ok(s.issue('c', 100).ok, 'a and b expired and were swept');
  assert.equal(s.size, 1);
});

test('SNI must be Go StdEncoding base64 (padding required, CR/LF skipped)', () => {
  assert.ok(isGoStdBase64('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='));
  assert.ok(isGoStdBase64(''));
  assert.ok(isGoStdBase64('AAEC\r\nAwQF'));
  assert.ok(!isGoStdBase64('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8'), 'missing padding');
  assert.ok(!isGoStdBase64('example.com'));
  assert.ok(!isGoStdBase64('AA-_'), 'URL alphabet');
});

test('a caller-drawn nonce (the native ClientHello callback) is stored as given; other sizes are refused', () => {
  const s = new NonceStore(1000, 10);
  const n = Buffer.alloc(32, 7);
  const r = s.issue('sni', 0, n);
  assert.deepEqual(r, { ok: true, nonce: n });
  assert.deepEqual(s.issue('sni', 1, Buffer.alloc(32, 8)), { ok: false, reason: 'duplicate' });
  assert.equal(s.take('sni', 2), n);
  assert.throws(() => s.issue('other', 0, Buffer.alloc(16)), /32 bytes/);
});

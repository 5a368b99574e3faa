/**
 * qemu-vtpm documents from a real (emulated) TPM — swtpm driven by tpm2-tools
 * through test/helpers/swtpm.ts — next to the software issuer's documents:
 * the same structure byte for byte wherever the bytes are deterministic
 * (TPMT_PUBLIC template, TPMS_ATTEST layout and fields, selection, PCR values
 * and digest, signature format, JSON member order), and both producers'
 * quotes pass tpm2-tools' own checks (`tpm2_checkquote`: signature, nonce,
 * PCR digest; `tpm2_print`: structure parsing), independently of our code.
 *
 * Needs the Debian packages swtpm and tpm2-tools.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import {
  DEFAULT_BOOT_EVENTS,
  SoftwareTpmIssuer,
  encodeAkPublic,
  encodeEcdsaSignature,
  encodePcrSelection,
  encodeQuoteAttest,
  encodeRsassaSignature,
  primaryQualifiedName,
  quotePcrDigest,
  tpmNonceFor,
  type BankName,
} from '../../src/workers/attestation/vtpm/issuer/index.js';
import type { TpmQuote, VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import { ToolError, checkQuote, pemFromTpmtPublic, renderVtpmDocumentJson, sha256, startSwtpm, tpm2Print, type Swtpm } from '../helpers/swtpm.js';

const USER_DATA = sha256('user data: SHA-256 of the client key');
const NONCE = sha256('aTLS nonce');
const TPM_NONCE = tpmNonceFor(USER_DATA, NONCE, null);
const ALL_PCRS = Array.from({ length: 24 }, (_, i) => i);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bankOf = (q: TpmQuote): BankName => ({ 4: 'sha1', 11: 'sha256', 12: 'sha384', 13: 'sha512' })[q.pcrs!.hash as 4 | 11 | 12 | 13] as BankName;

/** Replaces every base64 value by its decoded length: what remains is the member structure and order. */
function skeleton(json: Uint8Array): string {
  return Buffer.from(json)
    .toString('utf8')
    .replace(/:"([A-Za-z0-9+/=]*)"/g, (_, b64: string) => `:${Buffer.from(b64, 'base64').length}`);
}

/** TPMS_ATTEST clock fields at their fixed offsets (names and extraData are 34 bytes each here). */
function clockFields(quote: Uint8Array) {
  const b = Buffer.from(quote);
  const at = 4 + 2 + 2 + 34 + 2 + 32;
  return {
    clockInfo: { clock: b.readBigUInt64BE(at), resetCount: b.readUInt32BE(at + 8), restartCount: b.readUInt32BE(at + 12), safe: b[at + 16] === 1 },
    firmwareVersion: b.readBigUInt64BE(at + 17),
  };
}

/** `key: value` lines of tpm2_print's YAML-like output (the last occurrence wins). */
function printed(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const r = /^\s*([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (r) m.set(r[1]!, r[2]!.trim());
  }
  return m;
}

for (const akType of ['rsa', 'ecc'] as const) {
  describe(`qemu-vtpm documents, ${akType.toUpperCase()} AK: swtpm vs software issuer`, () => {
    let tpm: Swtpm;
    let hw: { doc: VtpmDocument; json: Uint8Array };
    let sw: VtpmDocument;
    let issuer: SoftwareTpmIssuer;

    before(async () => {
      tpm = await startSwtpm();
      hw = await tpm.issueQemuVtpmDocument({ userData: USER_DATA, nonce: NONCE, akType });
      issuer = new SoftwareTpmIssuer({ akType });
      sw = issuer.issue(USER_DATA, NONCE);
    });
    after(async () => {
      await tpm?.stop();
    });

    it('the swtpm document has the qemu-vtpm shape, and its JSON is the Go rendering', () => {
      assert.equal(hw.doc.instanceInfo, null);
      assert.deepEqual(hw.doc.userData, USER_DATA);
      assert.equal(hw.doc.attestation.eventLog.length, 0);
      assert.equal(hw.doc.attestation.teeAttestation, 'null');
      assert.deepEqual(
        hw.doc.attestation.quotes.map((q) => q.pcrs?.hash),
        [4, 11],
      );
      assert.deepEqual(hw.json, encodeVtpmDocument(hw.doc));
      assert.deepEqual(hw.json, renderVtpmDocumentJson(hw.doc));
    });

    it('both JSON documents have the same members, order and value sizes', () => {
      const a = skeleton(hw.json);
      assert.equal(a, skeleton(encodeVtpmDocument(sw)));
      assert.match(a, /^\{"Attestation":\{"ak_pub":\d+,"quotes":\[\{"quote":145,"raw_sig":\d+,"pcrs":\{"hash":4,"pcrs":\{"0":20,"1":20,"10":20,/);
      assert.match(a, /"TeeAttestation":null\},"InstanceInfo":null,"UserData":32\}$/);
    });

    it("TPMT_PUBLIC: re-encoding swtpm's AK public key gives swtpm's bytes; the template part equals the issuer's", async () => {
      const swtpmPub = hw.doc.attestation.akPub;
      const key = createPublicKey(await tpm.akPem(akType));
      assert.equal(hex(encodeAkPublic(key)), hex(swtpmPub));
      assert.equal(swtpmPub.length, sw.attestation.akPub.length);
      const templateBytes = akType === 'rsa' ? 24 : 22;
      assert.equal(hex(sw.attestation.akPub.subarray(0, templateBytes)), hex(swtpmPub.subarray(0, templateBytes)));
      assert.deepEqual(await tpm.akPublic(akType), swtpmPub, 'stable persistent AK');
    });

    it('tpm2_print parses both TPMT_PUBLICs identically apart from the key material', async () => {
      const strip = (s: string) =>
        s
          .split('\n')
          .filter((l) => !/^(rsa|x|y):/.test(l))
          .join('\n');
      const a = await tpm2Print('TPMT_PUBLIC', hw.doc.attestation.akPub);
      const b = await tpm2Print('TPMT_PUBLIC', sw.attestation.akPub);
      assert.equal(strip(b), strip(a));
      assert.match(b, /^name-alg:\n {2}value: sha256\n/);
      assert.match(b, /fixedtpm\|fixedparent\|sensitivedataorigin\|userwithauth\|restricted\|sign/);
      if (akType === 'rsa') {
        assert.match(b, /bits: 2048/);
        assert.match(b, /value: rsassa/);
        assert.match(b, new RegExp(`rsa: ${hex(Buffer.from(issuer.akPublicKey().export({ format: 'jwk' }).n!, 'base64url'))}`));
      } else {
        assert.match(b, /value: ecdsa/);
        assert.match(b, /curve-id:\n {2}value: NIST p256\n {2}raw: 0x3\n/);
      }
      assert.equal(await pemFromTpmtPublic(hw.doc.attestation.akPub), await tpm.akPem(akType), "tpm2_print's PEM of swtpm's ak_pub is tpm2_readpublic's");
      assert.ok(createPublicKey(await pemFromTpmtPublic(sw.attestation.akPub)).equals(issuer.akPublicKey()));
    });

    it('PCR values: the same measurements give the same values in both banks', async () => {
      for (const [i, bank] of (['sha1', 'sha256'] as const).entries()) {
        const quoted = hw.doc.attestation.quotes[i]!.pcrs!.pcrs;
        assert.deepEqual(quoted, issuer.pcrValues(bank), bank);
        assert.deepEqual(quoted, sw.attestation.quotes[i]!.pcrs!.pcrs, bank);
        assert.deepEqual(await tpm.readPcrs(bank), quoted, `${bank}: tpm2_pcrread agrees`);
      }
    });

    it("TPMS_ATTEST: the issuer's encoder reproduces swtpm's quotes byte for byte given swtpm's clock fields", () => {
      for (const q of hw.doc.attestation.quotes) {
        const bank = bankOf(q);
        const rebuilt = encodeQuoteAttest({
          qualifiedSigner: primaryQualifiedName(hw.doc.attestation.akPub),
          extraData: TPM_NONCE,
          ...clockFields(q.quote),
          pcrSelection: encodePcrSelection(q.pcrs!.hash, ALL_PCRS),
          pcrDigest: quotePcrDigest(ALL_PCRS.map((i) => issuer.pcrValues(bank).get(i)!)),
        });
        assert.equal(hex(rebuilt), hex(q.quote), bank);
      }
      // And the issuer's own quotes differ from swtpm's only in the signer (other key) and the clock fields.
      for (const [i, q] of sw.attestation.quotes.entries()) {
        const h = hw.doc.attestation.quotes[i]!.quote;
        assert.equal(q.quote.length, h.length);
        const clockAt = 4 + 2 + 2 + 34 + 2 + 32;
        assert.equal(hex(q.quote.subarray(0, 8)), hex(h.subarray(0, 8)), 'magic, type, name size and alg');
        assert.equal(hex(q.quote.subarray(42, clockAt)), hex(h.subarray(42, clockAt)), 'extraData');
        assert.equal(hex(q.quote.subarray(clockAt + 25)), hex(h.subarray(clockAt + 25)), 'selection and PCR digest');
      }
    });

    it('TPMT_SIGNATURE: same scheme, hash and sizes; swtpm signatures verify and re-encode identically', () => {
      for (const [i, q] of hw.doc.attestation.quotes.entries()) {
        const s = Buffer.from(q.rawSig);
        const mine = sw.attestation.quotes[i]!.rawSig;
        assert.equal(s.length, mine.length);
        const key = createPublicKey(pemKeyFromDoc(hw.doc));
        if (akType === 'rsa') {
          assert.equal(hex(s.subarray(0, 6)), '0014000b0100');
          assert.equal(hex(mine.subarray(0, 6)), '0014000b0100');
          assert.ok(verify('sha256', q.quote, key, s.subarray(6)));
          assert.deepEqual(encodeRsassaSignature(0x000b, s.subarray(6)), q.rawSig);
        } else {
          assert.equal(hex(s.subarray(0, 6)), '0018000b0020');
          assert.equal(hex(s.subarray(38, 40)), '0020');
          assert.equal(hex(mine.subarray(0, 6)), '0018000b0020');
          assert.equal(hex(mine.subarray(38, 40)), '0020');
          const rs = Buffer.concat([s.subarray(6, 38), s.subarray(40, 72)]);
          assert.ok(verify('sha256', q.quote, { key, dsaEncoding: 'ieee-p1363' }, rs));
          assert.deepEqual(encodeEcdsaSignature(0x000b, s.subarray(6, 38), s.subarray(40, 72)), q.rawSig);
        }
      }
    });

    it('tpm2_checkquote accepts every quote of both producers (signature, nonce, PCR digest)', async () => {
      for (const doc of [hw.doc, sw]) {
        for (const q of doc.attestation.quotes) {
          const r = await checkQuote({ akPub: doc.attestation.akPub, quote: q, qualifyingData: TPM_NONCE });
          assert.match(r.stdout, /sig:/);
        }
      }
      // Also with the PEM tpm2_readpublic exports for swtpm's AK.
      await checkQuote({ akPub: await tpm.akPem(akType), quote: hw.doc.attestation.quotes[1]!, qualifyingData: TPM_NONCE });
    });

    it('tpm2_checkquote rejects a wrong nonce, a changed PCR value and a foreign key', async () => {
      const q = sw.attestation.quotes[1]!;
      await assert.rejects(checkQuote({ akPub: sw.attestation.akPub, quote: q, qualifyingData: NONCE }), ToolError);
      const pcrs = new Map(q.pcrs!.pcrs);
      pcrs.set(4, new Uint8Array(32));
      await assert.rejects(checkQuote({ akPub: sw.attestation.akPub, quote: { ...q, pcrs: { hash: 11, pcrs } }, qualifyingData: TPM_NONCE }), ToolError);
      await assert.rejects(checkQuote({ akPub: hw.doc.attestation.akPub, quote: q, qualifyingData: TPM_NONCE }), ToolError);
    });

    it("tpm2_print parses the issuer's TPMS_ATTEST with the expected fields", async () => {
      for (const q of sw.attestation.quotes) {
        const out = await tpm2Print('TPMS_ATTEST', q.quote);
        const p = printed(out);
        assert.equal(p.get('magic'), 'ff544347');
        assert.equal(p.get('type'), '8018');
        assert.equal(p.get('qualifiedSigner'), hex(issuer.akQualifiedName()));
        assert.equal(p.get('extraData'), hex(TPM_NONCE));
        assert.equal(p.get('safe'), '1');
        assert.equal(p.get('count'), '1');
        assert.match(p.get('hash')!, new RegExp(`^${q.pcrs!.hash} \\(${bankOf(q)}\\)$`));
        assert.equal(p.get('sizeofSelect'), '3');
        assert.equal(p.get('pcrSelect'), 'ffffff');
        assert.equal(p.get('pcrDigest'), hex(quotePcrDigest(ALL_PCRS.map((i) => q.pcrs!.pcrs.get(i)!))));
        // swtpm's quote prints the same keys in the same order.
        const keys = (s: string) => [...printed(s).keys()].join(',');
        assert.equal(keys(out), keys(await tpm2Print('TPMS_ATTEST', hw.doc.attestation.quotes[0]!.quote)));
      }
    });
  });
}

/** The AK public key from a document's ak_pub via our encoder's inverse: use tpm2-tools-independent JWK building. */
function pemKeyFromDoc(doc: VtpmDocument): string {
  const b = Buffer.from(doc.attestation.akPub);
  if (b.readUInt16BE(0) === 0x0001) {
    const n = b.subarray(24, 24 + b.readUInt16BE(22));
    return createPublicKey({ format: 'jwk', key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' } })
      .export({ format: 'pem', type: 'spki' })
      .toString();
  }
  const x = b.subarray(22, 54);
  const y = b.subarray(56, 88);
  return createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') } })
    .export({ format: 'pem', type: 'spki' })
    .toString();
}

describe('swtpm helper', () => {
  it('PCR 15 bootstrapping (tpm2_pcrevent) matches the issuer, and a TPM reset restores the reset values', async () => {
    const tpm = await startSwtpm();
    try {
      const issuer = new SoftwareTpmIssuer({ akType: 'ecc' });
      const clusterId = sha256('cluster ID');
      await tpm.pcrEvent(15, clusterId);
      issuer.pcrEvent(15, clusterId);
      assert.deepEqual((await tpm.readPcrs('sha256')).get(15), sha256(new Uint8Array(32), sha256(clusterId)));
      assert.deepEqual(await tpm.readPcrs('sha256'), issuer.pcrValues('sha256'));
      assert.deepEqual(await tpm.readPcrs('sha1'), issuer.pcrValues('sha1'));
      const { doc } = await tpm.issueQemuVtpmDocument({ userData: USER_DATA, nonce: NONCE, akType: 'ecc' });
      assert.deepEqual(doc.attestation.quotes[1]!.pcrs!.pcrs.get(15), issuer.pcrValues('sha256').get(15));

      const akBefore = await tpm.akPublic('ecc');
      await tpm.restart();
      const fresh = new SoftwareTpmIssuer({ akType: 'ecc', events: [] });
      assert.deepEqual(await tpm.readPcrs('sha256'), fresh.pcrValues('sha256'));
      assert.deepEqual(await tpm.readPcrs('sha1'), fresh.pcrValues('sha1'));
      assert.deepEqual(await tpm.akPublic('ecc'), akBefore, 'the persistent AK survives the reset');
      await tpm.extend(DEFAULT_BOOT_EVENTS);
      assert.deepEqual(await tpm.readPcrs('sha256'), new SoftwareTpmIssuer({ akType: 'ecc' }).pcrValues('sha256'));
    } finally {
      await tpm.stop();
    }
  });

  it('allocates the requested banks only: three banks give three quotes in TPM order, like the issuer', async () => {
    const banks: BankName[] = ['sha1', 'sha256', 'sha384'];
    const tpm = await startSwtpm({ banks });
    try {
      const caps = await tpm.tpm2('tpm2_getcap', ['pcrs']);
      assert.match(caps.stdout, /sha384: \[ 0, 1,/);
      assert.match(caps.stdout, /sha512: \[ \]/);
      const { doc, json } = await tpm.issueQemuVtpmDocument({ userData: USER_DATA, nonce: NONCE, akType: 'rsa' });
      assert.deepEqual(
        doc.attestation.quotes.map((q) => q.pcrs!.hash),
        [4, 11, 12],
      );
      const issuer = new SoftwareTpmIssuer({ akType: 'rsa', banks });
      assert.equal(skeleton(json), skeleton(encodeVtpmDocument(issuer.issue(USER_DATA, NONCE))));
      assert.deepEqual(doc.attestation.quotes[2]!.pcrs!.pcrs, issuer.pcrValues('sha384'));
      for (const q of doc.attestation.quotes) await checkQuote({ akPub: doc.attestation.akPub, quote: q, qualifyingData: TPM_NONCE });
    } finally {
      await tpm.stop();
    }
  });

  it('runs on loopback ports and stop() ends swtpm, frees the ports and removes the state directory', async () => {
    const tpm = await startSwtpm({ events: [] });
    assert.equal(tpm.ctrlPort, tpm.serverPort + 1);
    assert.equal(tpm.tcti, `swtpm:host=127.0.0.1,port=${tpm.serverPort}`);
    assert.ok(existsSync(tpm.dir));
    await tpm.stop();
    await tpm.stop(); // idempotent
    assert.ok(!existsSync(tpm.dir));
    for (const port of [tpm.serverPort, tpm.ctrlPort]) {
      await new Promise<void>((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
    await assert.rejects(tpm.readPcrs('sha256'), /stopped/);
  });

  it('two instances run side by side', async () => {
    const [a, b] = await Promise.all([startSwtpm({ events: [] }), startSwtpm({ events: [] })]);
    try {
      assert.notEqual(a.serverPort, b.serverPort);
      const [da, db] = await Promise.all([
        a.issueQemuVtpmDocument({ userData: USER_DATA, nonce: NONCE, akType: 'ecc' }),
        b.issueQemuVtpmDocument({ userData: USER_DATA, nonce: NONCE, akType: 'ecc' }),
      ]);
      assert.notDeepEqual(da.doc.attestation.akPub, db.doc.attestation.akPub, 'separate TPMs, separate owner seeds');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

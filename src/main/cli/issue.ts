import { Command } from 'commander';
import { encodeVtpmDocument } from '../../workers/attestation/vtpm/envelope.js';
import { SoftwareTpmIssuer } from '../../workers/attestation/vtpm/issuer/index.js';

function hex(name: string, value: string): Buffer {
  if (!/^([0-9a-fA-F]{2})+$/.test(value)) throw new Error(`--${name} must be non-empty hex`);
  return Buffer.from(value, 'hex');
}

/**
 * A simulated node's attestation issuer for the embedded default and tests:
 * prints the document a node of the variant would embed in its aTLS
 * certificate for the given nonce and user data. qemu-vtpm uses the software
 * TPM (fresh RSA attestation key, the default measured boot, which the dev
 * attestation config accepts). It proves nothing about this machine.
 */
export function issueCommand(): Command {
  return new Command('issue')
    .description('print the attestation document a simulated node would send (dev and test tool; no security)')
    .option('--variant <variant>', 'qemu-vtpm or dummy', 'qemu-vtpm')
    .requiredOption('--nonce <hex>', "the server's nonce")
    .requiredOption('--user-data <hex>', "SHA-256 of the node certificate's public key")
    .action((flags: { variant: string; nonce: string; userData: string }) => {
      const nonce = hex('nonce', flags.nonce);
      const userData = hex('user-data', flags.userData);
      let doc: Uint8Array;
      if (flags.variant === 'qemu-vtpm') {
        doc = encodeVtpmDocument(new SoftwareTpmIssuer({ akType: 'rsa' }).issue(userData, nonce));
      } else if (flags.variant === 'dummy') {
        doc = Buffer.from(JSON.stringify({ UserData: userData.toString('base64'), Nonce: nonce.toString('base64') }));
      } else {
        throw new Error(`joinservice issue supports qemu-vtpm and dummy, not ${JSON.stringify(flags.variant)}`);
      }
      process.stdout.write(doc);
    });
}

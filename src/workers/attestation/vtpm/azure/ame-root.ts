/**
 * The trust anchor Constellation's Go validator embeds for
 * `azure-trustedlaunch` (tpm-attestation.md Appendix B): Microsoft's AME root
 * ("DC=GBL, DC=AME, CN=ameroot", RSA-4096, CA:TRUE, pathLen 1), published at
 * http://crl.microsoft.com/pkiinfra/certs/AMERoot_ameroot.crt.
 *
 * It is the shipped DEFAULT of the configurable anchor set, kept for parity
 * with Go — and it EXPIRED on 2026-05-24 22:57:03 UTC (tpm-attestation.md
 * §14 G5). Go's x509 Verify checks the validity of every chain certificate
 * including the root, so after that instant no AK certificate chains to it
 * and every document is rejected until the operator configures current Azure
 * vTPM roots (see azure-trustedlaunch-policy.ts and docs/attestation.md).
 */
import { createHash } from 'node:crypto';
import { decodePem } from '../../../../shared/pem.js';

/** The PEM exactly as embedded in Constellation's trustedlaunch/validator.go. */
export const AME_ROOT_PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIFVjCCAz6gAwIBAgIQJdrLVcnGd4FAnlaUgt5N/jANBgkqhkiG9w0BAQsFADA8',
  'MRMwEQYKCZImiZPyLGQBGRYDR0JMMRMwEQYKCZImiZPyLGQBGRYDQU1FMRAwDgYD',
  'VQQDEwdhbWVyb290MB4XDTE2MDUyNDIyNTI1NFoXDTI2MDUyNDIyNTcwM1owPDET',
  'MBEGCgmSJomT8ixkARkWA0dCTDETMBEGCgmSJomT8ixkARkWA0FNRTEQMA4GA1UE',
  'AxMHYW1lcm9vdDCCAiIwDQYJKoZIhvcNAQEBBQADggIPADCCAgoCggIBALv4uChY',
  'oVuO+bxBOcn8v4FajoGkxo0YgVwEqEPDVPI6vzmnEqHVhQ1GMVeDyiRrgQT1vCk1',
  'HMMzo9LlWowPrzbXOwjOTFbXc36+UU41yNN2GeNa49RXbAkfbzKE/SYLfbqOD0dN',
  'ZLwvOhgIb25oA1eAxW/DI/hvJLLKh2SscvkIyd3o2BUeFm7NtyYG/buCKJh8lOq8',
  '0iBwRoEoInb0vhorHaswSMmqY1g+AJndY/M7uGUqkhDGBhLu53bU9wbUPHsEI+wa',
  'q6WypCijZYT+C4BS5GJrEPZ2O92pztd+ULqhzNRoPj5RuElUww7+z5RnbCaupyBY',
  'OmmJMH30EiRSq8dK/irixXXwJraSywR5kyfmAkv6GYWlRlxFUiK3/co47JLA3TDK',
  'N0wfutbpqxdZQYyGfO2nZrr5JbKfSU0sMtOZDkK6hlafV++hfkVSvFfNHE5B5uN1',
  'MK6agl1dzi28HfJT9aO7cmjGxl1SJ5qoCvcwZNQ2SPHFdrslcwXEFOMDaEzVOA3V',
  '7j3+6lrT8sHXg0sErkcd8lrBImfzhLxM/Wh8CgOUNeUu3flUoxmFv3el+QWalSNy',
  '2SXs2NgWuYE5Iog7CHD/xCnoEnZwwjqLkrro4hYWE4Xj3VlA2Eq+VxqJOgdyFl3m',
  'ckSZ08OcwLeprY4+2GEvCXNGNdXUmNNgk2PvAgMBAAGjVDBSMAsGA1UdDwQEAwIB',
  'hjASBgNVHRMBAf8ECDAGAQH/AgEBMB0GA1UdDgQWBBQpXlFeZK40ueusnA2njHUB',
  '0QkLKDAQBgkrBgEEAYI3FQEEAwIBADANBgkqhkiG9w0BAQsFAAOCAgEAcznFDnJx',
  'sXaazFY1DuIPvUaiWS7ELxAVXMGZ7ROjLrDq1FNYVewL4emDqyEIEMFncec8rqyk',
  'VBvLQA5YqMCxQWJpL0SlgRSknzLh9ZVcQw1TshC49/XV2N/CLOuyInEQwS//46so',
  'T20Cf8UGUiOK472LZlvM4KchyDR3FTNtmMg0B/LKVjevpX9sk5MiyjjLUj3jtPIP',
  '7jpsfZDd/BNsg/89kpsIF5O64I7iYFj3MHu9o4UJcEX0hRt7OzUxqa9THTssvzE5',
  'VkWo8Rtou2T5TobKV6Rr5Ob9wchLXqVtCyZF16voEKheBnalhGUvErI/6VtBwLb7',
  '13C0JkKLBNMen+HClNliicVIaubnpY2g+AqxOgKBHiZnzq2HhE1qqEUf4VfqahNU',
  'iaXtbtyo54f2dCf9UL9uG9dllN3nxBE/Y/aWF6E1M8Bslj1aYAtfUQ/xlhEXCly6',
  'zohw697i3XFUt76RwvfW8quvqdH9Mx0PBpYo4wJJRwAecSJQNy6wIJhAuDgOemXJ',
  'YViBi/bDnhPcFEVQxsypQSw91BUw7Mxh+W59H5MC25SAIw9fLMT9LRqSYpPyasNp',
  '4nACjR+bv/6cI+ICOrGmD2mrk2c4dNnYpDx96FfX/Y158RV0wotqIglACk6m1qyo',
  'yTra6P0Kvo6xz4KaVm8F7VDzUP+heAAhPAs=',
  '-----END CERTIFICATE-----',
].join('\n') + '\n';

/** SHA-256 of the DER (Appendix B), checked when this module loads. */
export const AME_ROOT_SHA256 = 'ea76599d86897382aa519ff2bc0fa6b9c15d60da2ebe53e72139cd317b0797ed';

/** The root's notBefore (2016-05-24 22:52:54 UTC). */
export const AME_ROOT_NOT_BEFORE = new Date('2016-05-24T22:52:54Z');

/** The root's notAfter (2026-05-24 22:57:03 UTC): after this instant the default anchor set accepts nothing. */
export const AME_ROOT_NOT_AFTER = new Date('2026-05-24T22:57:03Z');

/** How messages name it. */
export const AME_ROOT_DESCRIPTION = 'AME root (DC=GBL, DC=AME, CN=ameroot)';

function decodeAmeRoot(): Uint8Array {
  const block = decodePem(AME_ROOT_PEM)?.block;
  if (block?.type !== 'CERTIFICATE') throw new Error('embedded AME root PEM does not decode');
  const der = new Uint8Array(block.bytes);
  if (createHash('sha256').update(der).digest('hex') !== AME_ROOT_SHA256) throw new Error('embedded AME root does not match its fingerprint');
  return der;
}

/** The AME root certificate (DER). */
export const AME_ROOT_DER: Uint8Array = decodeAmeRoot();

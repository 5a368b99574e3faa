/**
 * Selection of the quote whose PCR values are compared with the
 * measurements: Constellation's GetSHA256QuoteIndex (tpm-attestation.md §8
 * step 7), with Go's error texts (returned unwrapped by Go).
 *
 * decodeVtpmDocument already rejects null quotes and quotes without `pcrs`,
 * so for decoded documents only the first and last errors can occur; the
 * others are kept for callers holding Go-shaped data.
 */
import { ErrorCode, JoinServiceError } from '../../../shared/errors.js';
import { TpmAlg, type QuotedPcrs, type TpmQuote } from './types.js';

export interface SelectedQuote {
  /** Position in `Attestation.quotes`. */
  index: number;
  quote: TpmQuote;
  pcrs: QuotedPcrs;
}

function rejected(message: string): never {
  throw new JoinServiceError(ErrorCode.AttestationRejected, message, { stage: 'quote-selection' });
}

/** The first SHA-256 quote in document order; throws JoinServiceError(AttestationRejected) with Go's text. */
export function selectSha256Quote(quotes: ReadonlyArray<TpmQuote | null>): SelectedQuote {
  if (quotes.length === 0) rejected('attestation is missing quotes');
  for (let index = 0; index < quotes.length; index++) {
    const quote = quotes[index];
    if (quote === null || quote === undefined) rejected('quote is nil');
    if (quote.pcrs === null) rejected('no PCR data in attestation');
    if (quote.pcrs.hash === TpmAlg.SHA256) return { index, quote, pcrs: quote.pcrs };
  }
  return rejected('attestation did not include SHA256 hashed PCRs');
}

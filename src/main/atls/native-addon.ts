import { createRequire } from 'node:module';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';

/** The N-API addon of native/ (cert_list_limit.c + nonce_ca.c), one shared object. */
export interface AtlsAddon {
  withCertListLimit<T>(limit: number, fn: () => T): { result: T; contexts: number };
  nonceCaAttach<T>(
    onClientHello: (servername: string, nonceBase64: string) => true | string,
    dnTemplate: Buffer,
    cnOffset: number,
    create: () => T,
  ): { result: T; contexts: number; handle: NativeHandle };
  nonceCaDetach(handle: NativeHandle): void;
  nonceCaStats(handle: NativeHandle): NativeNonceCaStats;
  nonceCaName(dnTemplate: Buffer, cnOffset: number, nonce: Buffer): Buffer;
  caListProbe<T>(onCaList: (names: Buffer[]) => void, create: () => T): { result: T; contexts: number; handle: NativeHandle };
}

/** An opaque N-API external. */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/** Counters of one native nonce CA (native/nonce_ca.c), since it was attached. */
export interface NativeNonceCaStats {
  /** ClientHello callbacks, including second ClientHellos after a HelloRetryRequest. */
  clientHellos: number;
  /** Nonce CA lists set. */
  issued: number;
  /** ClientHellos refused by the JS callback (bad/duplicate SNI, too many handshakes). */
  rejected: number;
  /** ClientHellos without (usable) SNI: nothing set. */
  noSni: number;
  /** Second ClientHellos after a HelloRetryRequest (the first one's list stays). */
  retried: number;
  /** Internal failures (JS threw, bad answer, allocation): handshake failed closed. */
  failed: number;
  /** Time spent inside the ClientHello callback, including the JS call. */
  nanos: number;
  /** Of that, the time in the JS call (from native, including N-API's argument and handle-scope work). */
  jsNanos: number;
}

export const ADDON_PATH = new URL('../../../../native/build/Release/cert_list_limit.node', import.meta.url).pathname;

let addon: AtlsAddon | undefined;

/** Loads the addon once; throws a JoinServiceError(Internal) naming the path when it is missing. */
export function loadAtlsAddon(): AtlsAddon {
  if (!addon) {
    const require = createRequire(import.meta.url);
    try {
      addon = require(ADDON_PATH) as AtlsAddon;
    } catch (err) {
      throw new JoinServiceError(
        ErrorCode.Internal,
        `native aTLS addon not loadable from ${ADDON_PATH} (run "npm run build:native"): ${(err as Error).message}`,
      );
    }
  }
  return addon;
}

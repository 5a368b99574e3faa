import type { Logger } from '../log/logger.js';

/** Stops cleanly on SIGINT/SIGTERM: runs `close` once, then exits 0 (1 if closing failed). */
export function closeOnSignals(log: Logger, close: () => Promise<void>): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    log.info('Shutting down', { signal });
    close().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error('Shutdown failed', { error: (err as Error).message });
        log.flush();
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

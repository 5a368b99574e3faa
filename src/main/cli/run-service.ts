import { toJoinServiceError } from '../../shared/errors.js';
import { createLogger, levelForVerbosity, type Logger } from '../log/logger.js';

/**
 * Runs a service command with the JSON logger at Go's `-v` level; a start-up
 * failure is logged with its code and exits 1, as the Go service does.
 */
export async function runService(verbosity: number, failureMessage: string, start: (log: Logger) => Promise<void>): Promise<void> {
  const log = createLogger({ level: levelForVerbosity(verbosity) });
  try {
    await start(log);
  } catch (err) {
    const e = toJoinServiceError(err);
    log.error(failureMessage, { code: e.code, error: e.message });
    log.flush();
    process.exit(1);
  }
}

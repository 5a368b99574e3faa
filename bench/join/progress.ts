/** Progress of a load run on the terminal: one updating line on a TTY, a line every 5 s otherwise. */
import type { LoadProgress } from './load.js';

export function progressText(pool: number, p: LoadProgress): string {
  const errors = Object.values(p.errors ?? {}).reduce((a, b) => a + b, 0);
  return (
    `pool=${pool}  joined ${p.joined}/${p.total}  rate ${p.ratePerSec.toFixed(0)}/s  in flight ${p.inFlight}` +
    `  retries ${p.retries}  errors ${errors}  elapsed ${(p.elapsedMs / 1000).toFixed(1)}s`
  );
}

export class ProgressDisplay {
  private lastPrint = -Infinity;
  private drawn = false;

  constructor(
    private readonly tty: boolean,
    private readonly write: (s: string) => void,
    private readonly intervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  update(pool: number, p: LoadProgress): void {
    const text = progressText(pool, p);
    if (this.tty) {
      this.write(`\r${text}\x1b[K`);
      this.drawn = true;
      return;
    }
    const t = this.now();
    if (t - this.lastPrint >= this.intervalMs) {
      this.lastPrint = t;
      this.write(`${text}\n`);
    }
  }

  /** Ends the updating line (TTY) so that the next output starts on a fresh line. */
  done(): void {
    if (this.tty && this.drawn) this.write('\n');
    this.drawn = false;
    this.lastPrint = -Infinity;
  }

  /** A message between progress updates. */
  note(msg: string): void {
    if (this.tty && this.drawn) this.write(`\r\x1b[K`);
    this.write(`${msg}\n`);
  }
}

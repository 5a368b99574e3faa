import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type LogAttrs = Record<string, unknown>;

/**
 * Structured JSON-lines logger (config-and-operations.md §7): `time`, `level`
 * (DEBUG/INFO/WARN/ERROR), `msg`, attributes nested under slog-style groups
 * (`{"server":{"peerAddress":…}}`). Binary values are never printed — a
 * Buffer/Uint8Array attribute becomes `<N bytes>` — so key material passed by
 * mistake cannot reach the log.
 */
export interface Logger {
  debug(msg: string, attrs?: LogAttrs): void;
  info(msg: string, attrs?: LogAttrs): void;
  warn(msg: string, attrs?: LogAttrs): void;
  error(msg: string, attrs?: LogAttrs): void;
  /** A sub-logger whose attributes nest under `name`. */
  group(name: string): Logger;
  /** A logger that adds `attrs` to every line (inside the current group). */
  with(attrs: LogAttrs): Logger;
  flush(): void;
}

/** Go-style verbosity (`-v`): ≤ −1 debug, 0 info, 1 warn, ≥ 2 error. */
export function levelForVerbosity(v: number): 'debug' | 'info' | 'warn' | 'error' {
  if (v <= -1) return 'debug';
  if (v === 0) return 'info';
  if (v === 1) return 'warn';
  return 'error';
}

function scrub(value: unknown, depth = 0): unknown {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value instanceof Error) return value.message;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: LogAttrs = {};
  for (const [k, v] of Object.entries(value as LogAttrs)) out[k] = scrub(v, depth + 1);
  return out;
}

class GroupedLogger implements Logger {
  constructor(
    private readonly base: PinoLogger,
    private readonly groups: readonly string[],
    private readonly bound: LogAttrs = {},
  ) {}

  private wrap(attrs: LogAttrs | undefined): LogAttrs {
    const all = attrs ? { ...this.bound, ...attrs } : this.bound;
    if (Object.keys(all).length === 0) return {};
    let obj = scrub(all) as LogAttrs;
    for (let i = this.groups.length - 1; i >= 0; i--) obj = { [this.groups[i]!]: obj };
    return obj;
  }

  debug(msg: string, attrs?: LogAttrs): void {
    if (this.base.isLevelEnabled('debug')) this.base.debug(this.wrap(attrs), msg);
  }
  info(msg: string, attrs?: LogAttrs): void {
    this.base.info(this.wrap(attrs), msg);
  }
  warn(msg: string, attrs?: LogAttrs): void {
    this.base.warn(this.wrap(attrs), msg);
  }
  error(msg: string, attrs?: LogAttrs): void {
    this.base.error(this.wrap(attrs), msg);
  }
  group(name: string): Logger {
    return new GroupedLogger(this.base, [...this.groups, name]);
  }
  with(attrs: LogAttrs): Logger {
    return new GroupedLogger(this.base, this.groups, { ...this.bound, ...attrs });
  }
  flush(): void {
    this.base.flush();
  }
}

export interface LoggerOptions {
  level?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Defaults to asynchronous writes to stderr. */
  destination?: DestinationStream;
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const base = pino(
    {
      level: o.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label.toUpperCase() }) },
    },
    o.destination ?? pino.destination({ fd: 2, sync: false }),
  );
  return new GroupedLogger(base, []);
}

/** A logger that drops everything (library use, tests that don't look at logs). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}

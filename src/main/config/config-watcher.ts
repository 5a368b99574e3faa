import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log/logger.js';
import type { AttestationConfigSource, ReloadOutcome } from './attestation-config-source.js';

export const DEFAULT_RELOAD_DEBOUNCE_MS = 200;
export const DEFAULT_RELOAD_POLL_MS = 5000;

export interface ConfigWatcherOptions {
  source: AttestationConfigSource;
  log: Logger;
  /** Quiet time after the last file event before the file is re-read. */
  debounceMs?: number;
  /** Periodic re-read (content hash compared) in case an event is missed; 0 = off. */
  pollIntervalMs?: number;
}

/**
 * Hot reload of the attestation config (config-and-operations.md §3). Watches
 * the file's **directory**, so editor-style rename-into-place, delete and
 * recreate, and the kubelet's `..data` symlink swap are all seen (a watch on the
 * file itself dies with its inode); every event (re)starts a debounce timer,
 * after which the source re-reads the file through the symlink and swaps
 * generations only for changed, valid content. A periodic re-read covers
 * missed events and re-arms a directory watch that failed.
 *
 * Emits `reload` with every ReloadOutcome (tests wait on it).
 */
export class ConfigWatcher extends EventEmitter<{ reload: [ReloadOutcome] }> {
  private readonly dir: string;
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  private fsWatcher: FSWatcher | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private rerun = false;
  private closed = false;

  constructor(private readonly o: ConfigWatcherOptions) {
    super();
    this.dir = path.dirname(path.resolve(o.source.path));
    this.debounceMs = o.debounceMs ?? DEFAULT_RELOAD_DEBOUNCE_MS;
    this.pollIntervalMs = o.pollIntervalMs ?? DEFAULT_RELOAD_POLL_MS;
  }

  start(): this {
    this.arm();
    if (this.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => {
        if (!this.fsWatcher) this.arm();
        this.trigger();
      }, this.pollIntervalMs);
      this.pollTimer.unref();
    }
    this.o.log.info('Watching attestation config', { path: this.o.source.path, directory: this.dir, pollIntervalMs: this.pollIntervalMs });
    return this;
  }

  /** Stops watching; waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
    await this.inFlight;
  }

  private arm(): void {
    if (this.closed) return;
    try {
      const w = watch(this.dir, { persistent: false }, () => this.schedule());
      w.on('error', (err) => {
        this.o.log.warn('Attestation config watch failed; re-arming on the next periodic check', { directory: this.dir, error: err.message });
        w.close();
        if (this.fsWatcher === w) this.fsWatcher = undefined;
      });
      this.fsWatcher = w;
    } catch (err) {
      this.o.log.warn('Cannot watch attestation config directory; relying on periodic checks', { directory: this.dir, error: (err as Error).message });
    }
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.trigger(), this.debounceMs);
    this.debounceTimer.unref();
  }

  /** Runs one reload now, or once more after the one in progress. */
  private trigger(): void {
    if (this.closed) return;
    if (this.inFlight) {
      this.rerun = true;
      return;
    }
    this.inFlight = this.runReload().finally(() => {
      this.inFlight = undefined;
      if (this.rerun) {
        this.rerun = false;
        this.trigger();
      }
    });
  }

  private async runReload(): Promise<void> {
    let outcome: ReloadOutcome;
    try {
      outcome = await this.o.source.reload();
    } catch (err) {
      // reload() reports failures as outcomes; this is a bug guard only.
      this.o.log.error('Attestation config reload crashed', { error: (err as Error).message });
      return;
    }
    const { source, log } = this.o;
    if (outcome.kind === 'reloaded') {
      log.info('Attestation config reloaded', {
        path: source.path,
        generation: outcome.generation,
        previousGeneration: outcome.previousGeneration,
        sha256: outcome.sha256,
      });
    } else if (outcome.kind === 'failed') {
      log.warn('Attestation config reload failed', {
        path: source.path,
        code: outcome.error.code,
        error: outcome.error.message,
        generationKept: outcome.generation,
        ...(outcome.sha256 !== undefined ? { sha256: outcome.sha256 } : {}),
        reloadFailures: source.stats().reloadFailures,
      });
    }
    this.emit('reload', outcome);
  }
}

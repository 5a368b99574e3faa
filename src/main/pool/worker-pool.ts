import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyResult, type VerifyTask, type WorkerResult, type WorkerTask } from '../../shared/worker-protocol.js';

export interface WorkerPoolOptions {
  /** Worker threads; 0 verifies inline on the main thread (for comparisons only: it blocks the event loop). */
  workers: number;
  /** Verifications waiting for a free worker beyond the ones running; more are refused at once. */
  maxQueue: number;
  /** Upper bound of one task (atls.md §2: 30 s per verification); the worker running it is replaced on expiry. */
  timeoutMs: number;
  /** Replaces the inline task runner (workers = 0); for tests of the pool's own bounds. */
  inlineRunner?: InlineRunner;
  /** Replaces the worker module (workers > 0); for tests of crash handling. */
  workerEntry?: URL;
  /** Called once per run() with its outcome and wall time (queue wait included); for metrics, must be cheap. */
  onTaskDone?: (kind: WorkerTask['kind'], outcome: PoolTaskOutcome, seconds: number) => void;
}

/**
 * How one run() ended: `ok` = the task answered ok, `error` = it answered a typed
 * failure (e.g. attestation rejected) or the worker failed, `overloaded` = refused
 * because the queue was full, `timeout` = exceeded the task timeout.
 */
export type PoolTaskOutcome = 'ok' | 'error' | 'overloaded' | 'timeout';

export interface PoolStats {
  workers: number;
  running: number;
  queued: number;
  completed: number;
  rejectedOverload: number;
}

const WORKER_ENTRY = new URL('../../workers/worker-entry.js', import.meta.url);

export type InlineRunner = (task: WorkerTask) => Promise<unknown>;

/** The errors timeoutError() made, so run() can report them as timeouts whatever their code. */
const timeoutErrors = new WeakSet<Error>();

/**
 * Runs the CPU-heavy jobs (one whole certificate verification, one kubelet
 * certificate issuance) on a piscina pool, or inline with --workers 0. The
 * queue is bounded: when it is full, run() fails immediately with
 * PoolOverloaded, so a burst of joins sheds load instead of piling up
 * handshakes that would time out anyway.
 */
export class WorkerPool {
  private readonly pool: Piscina<WorkerTask, unknown> | undefined;
  private inline: InlineRunner | undefined;
  private inFlight = 0;
  private completed = 0;
  private rejectedOverload = 0;
  /** Event-loop active ms of each live worker thread at its last sample (never lowered). */
  private readonly threadBusy = new Map<Worker, number>();
  /** Active ms of the threads that are gone (replaced after a crash or a timeout). */
  private retiredBusyMs = 0;

  constructor(private readonly o: WorkerPoolOptions) {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new JoinServiceError(ErrorCode.ConfigInvalid, `invalid worker count ${o.workers}`);
    if (o.workers > 0) {
      this.pool = new Piscina<WorkerTask, unknown>({
        filename: (o.workerEntry ?? WORKER_ENTRY).href,
        minThreads: o.workers,
        maxThreads: o.workers,
        maxQueue: o.maxQueue,
        idleTimeout: Number.MAX_SAFE_INTEGER,
        // Worker heaps bounded so a hostile document cannot exhaust the process.
        resourceLimits: { maxOldGenerationSizeMb: 256 },
      });
      // A thread replaced after a timeout is still listed and readable here: keep its last busy time.
      this.pool.on('workerDestroy', () => this.sampleThreads());
    }
  }

  /** Loads the inline verifier so the first handshake does not pay for the import (piscina starts its threads itself). */
  async start(): Promise<void> {
    if (!this.pool) this.inline = this.o.inlineRunner ?? (await import('../../workers/worker-entry.js')).default;
  }

  /** One whole aTLS client-certificate verification. */
  verify(task: VerifyTask): Promise<VerifyResult> {
    return this.run(task);
  }

  async run<T extends WorkerTask>(task: T): Promise<WorkerResult<T>> {
    const capacity = (this.pool ? this.o.workers : 1) + this.o.maxQueue;
    if (this.inFlight >= capacity) {
      this.rejectedOverload++;
      this.o.onTaskDone?.(task.kind, 'overloaded', 0);
      throw new JoinServiceError(ErrorCode.PoolOverloaded, `verification queue full (${this.inFlight} in flight, limit ${capacity})`);
    }
    this.inFlight++;
    const started = performance.now();
    let outcome: PoolTaskOutcome = 'error';
    try {
      const result = (this.pool ? await this.runPooled(task) : await this.runInline(task)) as { v?: unknown; ok?: unknown } | null;
      if (result?.v !== VERIFY_PROTOCOL_VERSION) {
        throw new JoinServiceError(ErrorCode.PoolProtocol, `worker answered protocol version ${String(result?.v)}, expected ${VERIFY_PROTOCOL_VERSION}`);
      }
      this.completed++;
      if (result.ok === true) outcome = 'ok';
      return result as WorkerResult<T>;
    } catch (err) {
      if (timeoutErrors.has(err as Error)) outcome = 'timeout';
      else if ((err as JoinServiceError).code === ErrorCode.PoolOverloaded) outcome = 'overloaded';
      throw err;
    } finally {
      this.inFlight--;
      this.o.onTaskDone?.(task.kind, outcome, (performance.now() - started) / 1000);
    }
  }

  private async runPooled(task: WorkerTask): Promise<unknown> {
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    try {
      return await this.pool!.run(task, { signal });
    } catch (err) {
      if (signal.aborted) {
        throw timeoutError(task, this.o.timeoutMs);
      }
      const msg = (err as Error).message ?? String(err);
      if (msg.includes('Task queue is at limit')) {
        this.rejectedOverload++;
        throw new JoinServiceError(ErrorCode.PoolOverloaded, 'verification queue full');
      }
      throw new JoinServiceError(ErrorCode.PoolWorkerFailed, `verification worker failed: ${msg}`);
    }
  }

  private async runInline(task: WorkerTask): Promise<unknown> {
    if (!this.inline) await this.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(timeoutError(task, this.o.timeoutMs)),
        this.o.timeoutMs,
      );
    });
    try {
      return await Promise.race([this.inline!(task), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  stats(): PoolStats {
    return {
      workers: this.o.workers,
      running: this.inFlight - (this.pool?.queueSize ?? 0),
      queued: this.pool?.queueSize ?? 0,
      completed: this.completed,
      rejectedOverload: this.rejectedOverload,
    };
  }

  /** Worker threads alive now (0 with --workers 0; briefly fewer while a failed one is replaced). */
  threadCount(): number {
    return this.pool?.threads.length ?? 0;
  }

  /**
   * Milliseconds the pool's worker threads have spent running (the sum of each
   * thread's event-loop-utilisation `active` time), including threads that were
   * replaced; never decreases. 0 with --workers 0. Read on scrape, not per task.
   * A thread that crashed loses its time since the previous call (its
   * counters are gone once it exited); one replaced after a timeout does not.
   */
  threadsBusyMs(): number {
    if (!this.pool) return 0;
    const live = this.pool.threads;
    this.sampleThreads(live);
    for (const [worker, ms] of this.threadBusy) {
      if (!live.includes(worker)) {
        this.retiredBusyMs += ms;
        this.threadBusy.delete(worker);
      }
    }
    let total = this.retiredBusyMs;
    for (const ms of this.threadBusy.values()) total += ms;
    return total;
  }

  private sampleThreads(threads: readonly Worker[] = this.pool?.threads ?? []): void {
    for (const worker of threads) {
      // An exited thread reads 0: keep the last value seen.
      const active = worker.performance.eventLoopUtilization().active;
      if (active > (this.threadBusy.get(worker) ?? 0)) this.threadBusy.set(worker, active);
    }
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

function timeoutError(task: WorkerTask, ms: number): JoinServiceError {
  const err = task.kind === 'verify-certificate'
    ? new JoinServiceError(ErrorCode.AttestationTimeout, `attestation verification exceeded ${ms} ms`)
    : new JoinServiceError(ErrorCode.PoolWorkerFailed, `${task.kind} exceeded ${ms} ms`);
  timeoutErrors.add(err);
  return err;
}

import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyResult, type VerifyTask, type WorkerResult, type WorkerTask } from '../../shared/worker-protocol.js';

export interface WorkerPoolOptions {
  /** Worker threads; 0 verifies inline on the main thread (for comparisons only: it blocks the event loop). */
  workers: number;
  /** Verifications waiting for a free worker beyond the ones running; more are refused at once. */
  maxQueue: number;
  /**
   * Follow-up tasks of already admitted connections (kubelet certificates) in flight at once; more are
   * refused. Separate from maxQueue so that a burst of new handshakes cannot fail joins that were
   * already accepted and have done their KMS and Kubernetes work. Default 4 × maxQueue.
   */
  maxFollowUpTasks?: number;
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
  /** verify-certificate tasks in flight (the admission bound for new connections). */
  private inFlight = 0;
  /** Follow-up tasks (kubelet certificates) in flight. */
  private followUpsInFlight = 0;
  private completed = 0;
  private rejectedOverload = 0;

  constructor(private readonly o: WorkerPoolOptions) {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new JoinServiceError(ErrorCode.ConfigInvalid, `invalid worker count ${o.workers}`);
    if (o.workers > 0) {
      this.pool = new Piscina<WorkerTask, unknown>({
        filename: (o.workerEntry ?? WORKER_ENTRY).href,
        minThreads: o.workers,
        maxThreads: o.workers,
        // Admission is ours (per task kind, in run()); piscina's queue only holds what we admitted.
        maxQueue: Number.POSITIVE_INFINITY,
        idleTimeout: Number.MAX_SAFE_INTEGER,
        // Worker heaps bounded so a hostile document cannot exhaust the process.
        resourceLimits: { maxOldGenerationSizeMb: 256 },
      });
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
    const followUp = task.kind !== 'verify-certificate';
    if (followUp ? this.followUpsInFlight >= this.followUpCapacity() : this.inFlight >= this.verifyCapacity()) {
      this.rejectedOverload++;
      this.o.onTaskDone?.(task.kind, 'overloaded', 0);
      const [n, limit] = followUp ? [this.followUpsInFlight, this.followUpCapacity()] : [this.inFlight, this.verifyCapacity()];
      throw new JoinServiceError(ErrorCode.PoolOverloaded, `${followUp ? 'task' : 'verification'} queue full (${n} in flight, limit ${limit})`);
    }
    if (followUp) this.followUpsInFlight++;
    else this.inFlight++;
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
      if (followUp) this.followUpsInFlight--;
      else this.inFlight--;
      this.o.onTaskDone?.(task.kind, outcome, (performance.now() - started) / 1000);
    }
  }

  private verifyCapacity(): number {
    return (this.pool ? this.o.workers : 1) + this.o.maxQueue;
  }

  private followUpCapacity(): number {
    return this.o.maxFollowUpTasks ?? 4 * this.verifyCapacity();
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
      running: this.inFlight + this.followUpsInFlight - (this.pool?.queueSize ?? 0),
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
   * Milliseconds the pool's worker threads have spent running tasks (piscina's
   * per-task run time, summed); never decreases; 0 with --workers 0. Not the
   * threads' event-loop utilisation: with piscina's atomics an idle worker
   * waits in Atomics.wait inside JavaScript, which counts as active.
   */
  threadsBusyMs(): number {
    if (!this.pool) return 0;
    const n = this.pool.completed;
    return n === 0 ? 0 : this.pool.histogram.runTime.mean * n;
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

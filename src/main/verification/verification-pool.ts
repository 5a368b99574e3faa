import { Piscina } from 'piscina';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyResult, type VerifyTask } from '../../shared/verify-protocol.js';

export interface VerificationPoolOptions {
  /** Worker threads; 0 verifies inline on the main thread (for comparisons only: it blocks the event loop). */
  workers: number;
  /** Verifications waiting for a free worker beyond the ones running; more are refused at once. */
  maxQueue: number;
  /** Upper bound of one verification (atls.md §2: 30 s); the worker running it is replaced on expiry. */
  timeoutMs: number;
  /** Replaces the inline verifier (workers = 0); for tests of the pool's own bounds. */
  inlineVerifier?: InlineVerifier;
}

export interface PoolStats {
  workers: number;
  running: number;
  queued: number;
  completed: number;
  rejectedOverload: number;
}

const WORKER_ENTRY = new URL('../../workers/verify-worker.js', import.meta.url);

export type InlineVerifier = (task: VerifyTask) => Promise<VerifyResult>;

/**
 * Runs whole certificate verifications (one task each) on a piscina pool, or
 * inline with --workers 0. The queue is bounded: when it is full, verify()
 * fails immediately with PoolOverloaded, so a burst of joins sheds load
 * instead of piling up handshakes that would time out anyway.
 */
export class VerificationPool {
  private readonly pool: Piscina<VerifyTask, VerifyResult> | undefined;
  private inline: InlineVerifier | undefined;
  private inFlight = 0;
  private completed = 0;
  private rejectedOverload = 0;

  constructor(private readonly o: VerificationPoolOptions) {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new JoinServiceError(ErrorCode.ConfigInvalid, `invalid worker count ${o.workers}`);
    if (o.workers > 0) {
      this.pool = new Piscina<VerifyTask, VerifyResult>({
        filename: WORKER_ENTRY.href,
        minThreads: o.workers,
        maxThreads: o.workers,
        maxQueue: o.maxQueue,
        idleTimeout: Number.MAX_SAFE_INTEGER,
        // Worker heaps bounded so a hostile document cannot exhaust the process.
        resourceLimits: { maxOldGenerationSizeMb: 256 },
      });
    }
  }

  /** Loads the inline verifier so the first handshake does not pay for the import (piscina starts its threads itself). */
  async start(): Promise<void> {
    if (!this.pool) this.inline = this.o.inlineVerifier ?? (await import('../../workers/verify-certificate.js')).verifyCertificate;
  }

  async verify(task: VerifyTask): Promise<VerifyResult> {
    const capacity = (this.pool ? this.o.workers : 1) + this.o.maxQueue;
    if (this.inFlight >= capacity) {
      this.rejectedOverload++;
      throw new JoinServiceError(ErrorCode.PoolOverloaded, `verification queue full (${this.inFlight} in flight, limit ${capacity})`);
    }
    this.inFlight++;
    try {
      const result = this.pool ? await this.runPooled(task) : await this.runInline(task);
      if (result.v !== VERIFY_PROTOCOL_VERSION) {
        throw new JoinServiceError(ErrorCode.PoolProtocol, `worker answered protocol version ${String(result.v)}, expected ${VERIFY_PROTOCOL_VERSION}`);
      }
      this.completed++;
      return result;
    } finally {
      this.inFlight--;
    }
  }

  private async runPooled(task: VerifyTask): Promise<VerifyResult> {
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    try {
      return await this.pool!.run(task, { signal });
    } catch (err) {
      if (signal.aborted) {
        throw new JoinServiceError(ErrorCode.AttestationTimeout, `attestation verification exceeded ${this.o.timeoutMs} ms`);
      }
      const msg = (err as Error).message ?? String(err);
      if (msg.includes('Task queue is at limit')) {
        this.rejectedOverload++;
        throw new JoinServiceError(ErrorCode.PoolOverloaded, 'verification queue full');
      }
      throw new JoinServiceError(ErrorCode.PoolWorkerFailed, `verification worker failed: ${msg}`);
    }
  }

  private async runInline(task: VerifyTask): Promise<VerifyResult> {
    if (!this.inline) await this.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new JoinServiceError(ErrorCode.AttestationTimeout, `attestation verification exceeded ${this.o.timeoutMs} ms`)),
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

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

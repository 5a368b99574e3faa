/** A piscina worker for the pool's crash test: exits its thread on a task with nowMs === -1, answers otherwise. */
import { VERIFY_PROTOCOL_VERSION } from '../../../src/shared/worker-protocol.js';
import { ErrorCode } from '../../../src/shared/errors.js';

export default function run(task: { nowMs: number }): unknown {
  if (task.nowMs === -1) process.exit(3);
  return { v: VERIFY_PROTOCOL_VERSION, ok: false, error: { code: ErrorCode.CertParse, message: 'answered' }, timings: { certificateUs: 0, attestationUs: 0 } };
}

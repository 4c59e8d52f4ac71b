/** A thread of `weightshare worker`: runs the sweep jobs it is sent, one at a time; a throw is reported, not fatal. */
import { parentPort } from 'node:worker_threads';
import { runJob, type SweepJob } from './sweep-job.js';

parentPort!.on('message', (job: SweepJob) => {
  runJob(job).then(
    (result) => parentPort!.postMessage(result),
    (e: unknown) => parentPort!.postMessage({ key: job.key, ok: false, error: { code: 'INTERNAL', message: String(e) }, thrown: String((e as Error)?.stack ?? e) }),
  );
});

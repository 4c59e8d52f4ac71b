/**
 * A thread of `weightshare worker`: runs the jobs it is sent, one at a time — a sweep's fits, and shards of a run's
 * per-task work (whose prepared data and per-task caches stay in this thread for the next shard) — and reports a
 * throw instead of dying of it.
 */
import { parentPort } from 'node:worker_threads';
import { runJob, type SweepJob } from './sweep-job.js';
import { runShard, type ShardJob } from './redis-run.js';

type Message = { kind: 'fit'; job: SweepJob } | { kind: 'shard'; job: ShardJob; root: string; blob: ArrayBuffer; others: Record<string, Uint8Array> };

parentPort!.on('message', (m: Message) => {
  if (m.kind === 'shard') {
    const others = new Map(Object.entries(m.others).map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength)]));
    runShard(m.job, m.root, Buffer.from(m.blob), others).then(
      (r) => parentPort!.postMessage(r), // copied, not transferred: a small Buffer shares its memory with others
      (e: unknown) => parentPort!.postMessage({ thrown: String((e as Error)?.stack ?? e) }),
    );
    return;
  }
  const job = m.job;
  runJob(job).then(
    (result) => parentPort!.postMessage(result),
    (e: unknown) => parentPort!.postMessage({ key: job.key, ok: false, error: { code: 'INTERNAL', message: String(e) }, thrown: String((e as Error)?.stack ?? e) }),
  );
});

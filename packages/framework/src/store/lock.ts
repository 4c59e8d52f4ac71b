/**
 * The lock of a run folder: `.lock` holds `{pid, host}` of the process writing the folder. It is created with
 * O_EXCL, so two processes cannot both hold it. A lock whose process is dead (same host, no such pid) is stale and is
 * taken over: the taker first creates `.lock.takeover` (mkdir is atomic, so only one process takes over at a time),
 * re-reads the lock to make sure it is still the same stale one, removes it, and then competes for a fresh lock with
 * O_EXCL like everyone else.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { outputError, runLocked } from '../errors.js';

interface Holder {
  pid: number;
  host: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): Holder | null | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Holder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : null; // null: being written or garbage
  }
}

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/**
 * Takes the lock of `dir`, or throws RUN_LOCKED naming the live holder. Returns the function that releases it.
 * @throws WeightshareError RUN_LOCKED, OUTPUT_ERROR
 */
export function acquireLock(dir: string): () => void {
  const file = join(dir, '.lock');
  const me: Holder = { pid: process.pid, host: hostname() };
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify(me));
      fsyncSync(fd);
      closeSync(fd);
      return () => {
        const h = readHolder(file);
        if (h && h.pid === me.pid && h.host === me.host) unlinkSync(file);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(file, e);
    }
    const holder = readHolder(file);
    if (holder === undefined) continue; // released meanwhile: try again
    if (holder === null) {
      sleep(20); // a holder is still writing its lock
      continue;
    }
    if (holder.host !== me.host || alive(holder.pid))
      throw runLocked(dir, `process ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ''}`);
    const takeover = join(dir, '.lock.takeover');
    try {
      mkdirSync(takeover);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(takeover, e);
      sleep(20); // someone else is taking over
      continue;
    }
    try {
      const again = readHolder(file);
      if (again && again.pid === holder.pid && again.host === holder.host) unlinkSync(file);
    } finally {
      rmdirSync(takeover);
    }
  }
  throw runLocked(dir, 'another process (the lock kept changing hands)');
}

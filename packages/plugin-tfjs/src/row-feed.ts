/**
 * The rows of XᵀX's pieces, prepared off the thread that runs TensorFlow.js.
 *
 * plugin-tfjs sums XᵀX over pieces of a task's rows (optimize-common.ts, `statsOfTasks`): each piece converted from
 * float64 to float32, transposed, split into column halves, copied into the backend and multiplied. The products run
 * on this thread (the wasm backend has one); the host work before them — a third of the time on big tasks — need not.
 * A {@link RowFeed} hands out the pieces in order from a ring of slots in shared memory that a helper thread fills
 * ahead of the products, the same bytes as if this thread filled them (it fills a piece itself whenever the helper
 * has not claimed it yet: the helper speeds things up but is never waited for to start, so no thread, a slow thread
 * or a stopped one only loses the overlap).
 */
import { Worker } from 'node:worker_threads';

/**
 * Rows per piece: 4,096 up to 256 features (a piece's transpose stays in the cache while it is made), fewer for wider
 * rows so that a piece's float32 rows stay within 4 MiB (a slot holds them twice; the ring has three slots, and this
 * thread one of its own).
 */
export function pieceRows(d: number): number {
  return d <= 256 ? 4096 : Math.max(64, ((4096 * 256) / d) & ~31);
}

/** The first `h` columns form the first half of a split product (all d when the split does not pay). */
export function halfOf(d: number): number {
  return d >= 64 ? (d >> 1) & ~7 : d;
}

/**
 * Fills `slot` with rows [i0, i0 + mc) of the row-major n×d X and of y, in float32: at 0 the piece's transpose (d × mc,
 * in 32×32 blocks: one column of a block at a time, contiguous writes); at cap·d either the columns [0, h) and [h, d)
 * as two row-major blocks (mc × h, then mc × (d − h) from cap·d + cap·h), or the piece itself when h = d; at 2·cap·d
 * the targets. Self-contained (no imports or outer variables): the helper thread runs its source text.
 */
export function fillPiece(X: Float64Array, y: Float64Array, i0: number, mc: number, d: number, h: number, cap: number, slot: Float32Array): void {
  const w = d - h;
  const second = cap * d;
  for (let a = 0; a < mc; a += 32) {
    const aEnd = Math.min(mc, a + 32);
    for (let c = 0; c < d; c += 32) {
      const cEnd = Math.min(d, c + 32);
      for (let j = c; j < cEnd; j++) {
        const o = j * mc;
        for (let i = a; i < aEnd; i++) slot[o + i] = X[(i0 + i) * d + j]!;
      }
    }
  }
  if (w === 0) slot.set(X.subarray(i0 * d, (i0 + mc) * d), second);
  else
    for (let i = 0; i < mc; i++) {
      const r = (i0 + i) * d;
      slot.set(X.subarray(r, r + h), second + i * h);
      slot.set(X.subarray(r + h, r + d), second + cap * h + i * w);
    }
  slot.set(y.subarray(i0, i0 + mc), 2 * second);
}

/** Slots in the ring: the helper fills up to this many pieces ahead. */
const RING = 3;
/** The control words: the next piece to claim, pieces consumed, the helper's failure flag, 1 once the helper runs,
 * then a word per slot (the number + 1 of the piece it holds once filled). Piece numbers grow across jobs, so a late
 * helper never claims a piece of a newer job. */
const NEXT = 0;
const CONSUMED = 1;
const FAILED = 2;
const STARTED = 3;
const READY = 4;
/** After the slots' words: pieces the helper filled (for tests and diagnostics). */
const HELPED = READY + RING;

const PROGRAM = `
// a dynamic import, not require: the program runs as CommonJS, or as an ES module under the parent's --input-type=module
import('node:worker_threads').then(({ parentPort }) => {
const fillPiece = ${fillPiece.toString()};
const HELPED = ${HELPED}, NEXT = ${NEXT}, CONSUMED = ${CONSUMED}, FAILED = ${FAILED}, STARTED = ${STARTED}, READY = ${READY}, RING = ${RING};
let ctl;
parentPort.on('message', (job) => {
  if (job.ctl) ctl = job.ctl;
  if (!job.pieces) {
    Atomics.store(ctl, STARTED, 1);
    return;
  }
  const { ring, cap, d, h, base, pieces, tasks } = job;
  const slotSize = cap * (2 * d + 1);
  try {
    for (;;) {
      const k = Atomics.load(ctl, NEXT);
      if (k < base || k >= base + pieces.length) return;
      // the slot of piece k is free once piece k - RING is consumed
      const c = Atomics.load(ctl, CONSUMED);
      if (c < k - RING + 1) {
        Atomics.wait(ctl, CONSUMED, c, 50);
        continue;
      }
      if (Atomics.compareExchange(ctl, NEXT, k, k + 1) !== k) continue;
      const [t, i0, mc] = pieces[k - base];
      const s = k % RING;
      fillPiece(tasks[t].X, tasks[t].y, i0, mc, d, h, cap, ring.subarray(s * slotSize, (s + 1) * slotSize));
      Atomics.add(ctl, HELPED, 1);
      Atomics.store(ctl, READY + s, k + 1);
      Atomics.notify(ctl, READY + s);
    }
  } catch (e) {
    Atomics.store(ctl, FAILED, 1);
    for (let s = 0; s < RING; s++) Atomics.notify(ctl, READY + s);
  }
});
});
`;

interface Helper {
  worker: Worker;
  ctl: Int32Array;
  ring: Float32Array;
  /** The number of the next job's first piece (the previous job's end). */
  base: number;
  broken: boolean;
}

let helper: Helper | null | undefined;

/** This thread's helper with a ring for pieces of `slotSize` floats, or null where no thread can be started. */
function helperFor(slotSize: number): Helper | null {
  if (helper === undefined) {
    try {
      const ctl = new Int32Array(new SharedArrayBuffer(4 * (HELPED + 1)));
      const worker = new Worker(PROGRAM, { eval: true });
      worker.unref(); // idle between runs: never keeps the process alive
      worker.postMessage({ ctl });
      const h: Helper = { worker, ctl, ring: new Float32Array(0), base: 0, broken: false };
      worker.on('error', () => (h.broken = true));
      worker.on('exit', () => (h.broken = true));
      helper = h;
    } catch {
      helper = null;
    }
  }
  if (!helper || helper.broken || Atomics.load(helper.ctl, FAILED)) return null;
  // a bigger ring when the pieces grew (RING slots of pieceRows(d) rows: 19.7 MB for d = 200, at most ~25 MB)
  if (helper.ring.length < RING * slotSize) helper.ring = new Float32Array(new SharedArrayBuffer(4 * RING * slotSize));
  return helper;
}

/** A task's rows as the feed reads them. */
export interface FeedTask {
  X: Float64Array;
  y: Float64Array;
  /** Rows. */
  m: number;
}

/**
 * The pieces of the tasks' rows in order (task by task, pieceRows(d) rows at a time) as filled slots: `next()` the next
 * piece's slot (see {@link fillPiece} for its layout), `done()` once the tensors made from it are disposed.
 */
export interface RowFeed {
  next(): { slot: Float32Array; mc: number };
  done(): void;
  /** After the last piece, or on the way out of an error: a feed left part-way retires its helper (which may still
   * be filling a slot), so no later feed shares a slot with it. */
  close(): void;
}

/** Below this many values in all, the helper's hand-over costs more than the overlap gains. */
const HELPER_MIN_VALUES = 1 << 22;

/** How long this thread waits for a piece the helper claimed before it retires the helper and fills the piece itself
 * (the helper died, hangs, or is starved of a core: the results are the same bytes either way). */
const PATIENCE_MS = 5_000;

/**
 * A feed of the pieces of `tasks` (each n × d). The helper thread fills them ahead when the rows are in shared memory
 * and there are enough of them; else this thread fills each piece when it is asked for. `waitForHelper` (tests):
 * leave every piece to a running helper (waiting up to a minute for each).
 */
export function rowFeed(tasks: readonly FeedTask[], d: number, o: { waitForHelper?: boolean } = {}): RowFeed {
  const h = halfOf(d);
  const cap = pieceRows(d);
  const slotSize = cap * (2 * d + 1);
  const pieces: [number, number, number][] = [];
  tasks.forEach((t, k) => {
    for (let i0 = 0; i0 < t.m; i0 += cap) pieces.push([k, i0, Math.min(cap, t.m - i0)]);
  });
  let values = 0;
  for (const t of tasks) values += t.m * d;
  const shared = tasks.every((t) => t.X.buffer instanceof SharedArrayBuffer && t.y.buffer instanceof SharedArrayBuffer);
  const hp = shared && values >= HELPER_MIN_VALUES ? helperFor(slotSize) : null;
  let at = 0;
  /** This thread fills every piece (into its own slot): no helper, or the helper was retired part-way. */
  let alone = hp === null;
  const fillHere = (): { slot: Float32Array; mc: number } => {
    const [t, i0, mc] = pieces[at - 1]!;
    const slot = local(slotSize);
    fillPiece(tasks[t]!.X, tasks[t]!.y, i0, mc, d, h, cap, slot);
    return { slot, mc };
  };
  const retire = (): void => {
    alone = true;
    if (hp && !hp.broken) {
      hp.broken = true;
      void hp.worker.terminate();
    }
  };
  const base = hp?.base ?? 0;
  if (hp) {
    hp.base += pieces.length;
    // every earlier feed ended (consumed or retired), so the claims stand at this feed's first piece; if not, the
    // helper could be inside an old job's pieces: never share slots with it
    if (Atomics.load(hp.ctl, NEXT) !== base) retire();
    else hp.worker.postMessage({ ctl: hp.ctl, ring: hp.ring, cap, d, h, base, pieces, tasks: tasks.map((t) => ({ X: t.X, y: t.y })) });
  }
  return {
    next() {
      at++;
      if (alone || !hp) return fillHere();
      const { ctl, ring } = hp;
      const k = base + at - 1;
      const [t, i0, mc] = pieces[at - 1]!;
      const s = k % RING;
      const slot = ring.subarray(s * slotSize, (s + 1) * slotSize);
      // not claimed by the helper yet: fill it here, in its slot
      if (!o.waitForHelper && Atomics.compareExchange(ctl, NEXT, k, k + 1) === k) {
        fillPiece(tasks[t]!.X, tasks[t]!.y, i0, mc, d, h, cap, slot);
        return { slot, mc };
      }
      const since = performance.now();
      const patience = o.waitForHelper ? 60_000 : PATIENCE_MS;
      for (let r = Atomics.load(ctl, READY + s); r !== k + 1; r = Atomics.load(ctl, READY + s)) {
        // the helper failed, or is gone or starved: from here on this thread fills every piece, in its own slot
        // (a helper that still runs may yet write the ring)
        if (Atomics.load(ctl, FAILED) || performance.now() - since > patience) {
          retire();
          return fillHere();
        }
        Atomics.wait(ctl, READY + s, r, 100);
      }
      return { slot, mc };
    },
    done() {
      if (alone || !hp) return;
      Atomics.store(hp.ctl, CONSUMED, base + at);
      Atomics.notify(hp.ctl, CONSUMED);
    },
    close() {
      if (!alone && hp && Atomics.load(hp.ctl, CONSUMED) !== base + pieces.length) retire();
    },
  };
}

/** The slot this thread fills itself, kept from one call to the next (fresh memory costs more than the copies). */
let localSlot = new Float32Array(0);
function local(size: number): Float32Array {
  if (localSlot.length < size) localSlot = new Float32Array(size);
  return localSlot.subarray(0, size);
}

/** Whether this thread's helper runs, and how many pieces it has filled (tests and diagnostics). */
export function helperState(): { running: boolean; pieces: number } {
  if (!helper) return { running: false, pieces: 0 };
  return { running: !helper.broken && Atomics.load(helper.ctl, STARTED) === 1 && !Atomics.load(helper.ctl, FAILED), pieces: Atomics.load(helper.ctl, HELPED) };
}

/** Starts this thread's helper if it is not started (tests: a helper that runs before the first feed). */
export function startHelper(): void {
  helperFor(0);
}

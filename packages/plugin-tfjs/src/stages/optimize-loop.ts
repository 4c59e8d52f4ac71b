/**
 * The iterative optimizers (gd, sgd, adam) as one batched loop over all tasks: each epoch computes every task's
 * gradient (full batch, or mini-batches with each task's rows shuffled by its own seeded stream, exactly as
 * plugin-cpu shuffles them), takes the step, and freezes tasks that reached ‖∇f‖ ≤ tol·‖∇f(0)‖. Where 1/L is unknown
 * (Poisson's curvature is unbounded) and no `lr` is given, steps are searched as plugin-cpu searches them: gd
 * backtracks every epoch from twice its last step, sgd once at the start.
 */
import { tf } from '../tf.js';
import type { OptimizeInput, OptimizeOutput, Rng, StageContext } from '@weightshare/framework';
import { armijoSteps, batchOf, checkFinite, lipschitz, lossOf, norms, parameters, valueAndGradient, weightsOf, type Batch } from './optimize-common.js';

export interface LoopOptions {
  kind: 'gd' | 'sgd' | 'adam';
  epochs: number;
  tol: number;
  ridge: number;
  /** Fixed step; undefined: 1/L per task. */
  lr?: number;
  decay?: number;
  batchSize?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  fix: string;
}

/** Index and mask tensors of mini-batch k for every task. */
function miniBatch(B: Batch, perms: Int32Array[], k: number, size: number): { X: tf.Tensor3D; y: tf.Tensor3D; mask: tf.Tensor3D; scale: tf.Tensor3D; active: tf.Tensor3D } {
  const idx = new Int32Array(B.T * size);
  const m = new Float32Array(B.T * size);
  const scale = new Float32Array(B.T);
  for (let t = 0; t < B.T; t++) {
    const start = k * size;
    const count = Math.max(0, Math.min(size, B.n[t]! - start));
    for (let i = 0; i < count; i++) {
      idx[t * size + i] = t * B.nmax + perms[t]![start + i]!;
      m[t * size + i] = 1;
    }
    for (let i = count; i < size; i++) idx[t * size + i] = t * B.nmax;
    scale[t] = count ? B.n[t]! / count : 0;
  }
  return tf.tidy(() => {
    const flatX = tf.reshape(B.X, [B.T * B.nmax, B.d]);
    const flatY = tf.reshape(B.y, [B.T * B.nmax, 1]);
    const I = tf.tensor1d(idx, 'int32');
    const s = tf.tensor3d(scale, [B.T, 1, 1]);
    return {
      X: tf.reshape(tf.gather(flatX, I), [B.T, size, B.d]) as tf.Tensor3D,
      y: tf.reshape(tf.gather(flatY, I), [B.T, size, 1]) as tf.Tensor3D,
      mask: tf.tensor3d(m, [B.T, size, 1]),
      scale: s,
      active: tf.cast(tf.greater(s, 0), 'float32') as tf.Tensor3D,
    };
  });
}

export function optimizeLoop(input: OptimizeInput, options: Record<string, unknown>, ctx: StageContext, o: LoopOptions): OptimizeOutput {
  const B = batchOf(ctx, input.tasks);
  const loss = lossOf(input);
  const { e, pull, w0, P } = parameters(input, options);
  const T = B.T;
  let w: tf.Tensor3D = w0;
  const keep: tf.Tensor[] = [e, pull, P];
  // no lr and no 1/L: gd searches every epoch, sgd once at w0 (as plugin-cpu's searchedStep, 1e-3 where that fails)
  const search = o.lr === undefined && !Number.isFinite(loss.curvature);
  let stepSize: tf.Tensor3D;
  if (!search) stepSize = tf.tidy(() => (o.lr !== undefined ? tf.fill([T, 1, 1], o.lr) : tf.div(1, lipschitz(B, loss, pull, o.ridge)))) as tf.Tensor3D;
  else if (o.kind === 'gd') stepSize = tf.zeros([T, 1, 1]) as tf.Tensor3D;
  else {
    const at = tf.tidy(() => valueAndGradient(B, loss, w0, e, pull, P, o.ridge));
    const s = armijoSteps(B, loss, w0, at, e, pull, P, o.ridge, new Float32Array(T).fill(1));
    tf.dispose([at.f, at.g]);
    stepSize = tf.tensor3d(s.map((v) => v || 1e-3), [T, 1, 1]);
  }
  const stop = tf.tidy(() => tf.mul(norms(valueAndGradient(B, loss, tf.zerosLike(w0) as tf.Tensor3D, e, pull, P, o.ridge).g), o.tol));
  keep.push(stop);
  const lastStep = new Float32Array(T).fill(1);
  let m: tf.Tensor = tf.zerosLike(w);
  let v: tf.Tensor = tf.zerosLike(w);
  let active = tf.ones([T, 1, 1]) as tf.Tensor3D;
  const epochs = new Int32Array(T).fill(o.epochs);
  const converged = new Uint8Array(T);
  // training curves of a model that is not linear, as plugin-cpu records them: each task's f per epoch
  const curves = loss.forward ? input.tasks.map((): number[] => []) : undefined;
  const size = o.batchSize ? Math.min(o.batchSize, B.nmax) : 0;
  const rngs: Rng[] | undefined = size ? input.tasks.map((t) => ctx.rng.fork(`task/${t.id}`)) : undefined;
  let step = 0;

  /** Full-batch check: finiteness, and which tasks are done. Returns true when all are. */
  const check = (epoch: number, before: boolean, at?: { f: tf.Tensor; g: tf.Tensor3D }, record = true): boolean => {
    const [f, done] = tf.tidy(() => {
      const { f, g } = at ?? valueAndGradient(B, loss, w as tf.Tensor3D, e, pull, P, o.ridge);
      return [at ? f.clone() : f, tf.lessEqual(norms(g), stop)];
    });
    const fv = f!.dataSync() as Float32Array;
    const dv = done!.dataSync();
    tf.dispose([f!, done!]);
    checkFinite(fv, input.tasks, ctx, Math.max(1, epoch), o.fix);
    if (curves && record) for (let t = 0; t < T; t++) if (!converged[t]) curves[t]!.push(fv[t]!);
    let all = true;
    for (let t = 0; t < T; t++) {
      if (dv[t] && !converged[t]) {
        converged[t] = 1;
        epochs[t] = before ? epoch - 1 : epoch;
      }
      if (!converged[t]) all = false;
    }
    const next = tf.tensor3d(Float32Array.from(converged, (c) => (c ? 0 : 1)), [T, 1, 1]);
    active.dispose();
    active = next;
    return all;
  };

  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      // full batch: the gradient at w serves both the stopping test and the step (one pass over the rows, not two)
      let full: { f: tf.Tensor; g: tf.Tensor3D } | undefined;
      if (!size) {
        full = tf.tidy(() => valueAndGradient(B, loss, w as tf.Tensor3D, e, pull, P, o.ridge));
        if (check(epoch, true, full)) {
          tf.dispose([full.f, full.g]);
          break;
        }
        if (search && o.kind === 'gd') {
          // a task whose search finds no decrease is optimal to the precision: it stops here (plugin-cpu's step 0)
          const s = armijoSteps(B, loss, w, full, e, pull, P, o.ridge, lastStep.map((v) => 2 * v), converged);
          for (let t = 0; t < T; t++) {
            if (converged[t]) continue;
            if (s[t] === 0) {
              converged[t] = 1;
              epochs[t] = epoch;
            } else lastStep[t] = s[t]!;
          }
          stepSize.dispose();
          stepSize = tf.tensor3d(s, [T, 1, 1]);
        }
      }
      const lrScale = o.kind === 'sgd' ? 1 / (1 + (o.decay ?? 0) * (epoch - 1)) : 1;
      const batches = size ? Math.ceil(B.nmax / size) : 1;
      const perms = rngs?.map((r, t) => r.permutation(B.n[t]!));
      for (let k = 0; k < batches; k++) {
        const mb = size ? miniBatch(B, perms!, k, size) : undefined;
        step++;
        const next = tf.tidy(() => {
          const { g } = full ?? valueAndGradient(B, loss, w as tf.Tensor3D, e, pull, P, o.ridge, mb);
          const gate = mb ? tf.mul(active, mb.active) : active;
          if (o.kind !== 'adam') return [tf.sub(w, tf.mul(tf.mul(stepSize, lrScale), tf.mul(gate, g))), m.clone(), v.clone()];
          const b1 = o.beta1!;
          const b2 = o.beta2!;
          // frozen tasks keep their moments too, so an Adam step is the same as plugin-cpu's for the tasks it moves
          const m1 = tf.add(tf.mul(m, tf.sub(1, tf.mul(gate, 1 - b1))), tf.mul(gate, tf.mul(1 - b1, g)));
          const v1 = tf.add(tf.mul(v, tf.sub(1, tf.mul(gate, 1 - b2))), tf.mul(gate, tf.mul(1 - b2, tf.square(g))));
          const update = tf.div(tf.div(m1, 1 - b1 ** step), tf.add(tf.sqrt(tf.div(v1, 1 - b2 ** step)), o.epsilon!));
          return [tf.sub(w, tf.mul(gate, tf.mul(o.lr!, update))), m1, v1];
        });
        if (mb) tf.dispose(Object.values(mb));
        if (full) tf.dispose([full.f, full.g]);
        tf.dispose([w, m, v]);
        [w, m, v] = next as [tf.Tensor3D, tf.Tensor, tf.Tensor];
      }
      if (size && check(epoch, false)) break;
      if (!size && epoch === o.epochs) check(epoch, false, undefined, false);
    }
    const W = weightsOf(input, w as tf.Tensor3D);
    return {
      weights: { rows: input.targets.rows, cols: input.targets.cols, data: W },
      perTask: input.tasks.map((_, k) => ({ epochs: epochs[k]!, converged: Boolean(converged[k]), ...(curves ? { curve: curves[k]! } : {}) })),
    };
  } finally {
    tf.dispose([w, m, v, active, w0, stepSize, ...keep]);
  }
}

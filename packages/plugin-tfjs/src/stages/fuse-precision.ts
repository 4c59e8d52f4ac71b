import { tf } from '../tf.js';
import { precisionWeights, type FuseInput, type FuseOutput, type StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { output } from './fuse-common.js';

/** E = C − diag(c)⁻¹ A C, c_t = A_tt + Σ_{s≠t} |A_ts| (same semantics as plugin-cpu; one T×T · T×d matMul). */
export const fusePrecision: StageMethod<FuseInput, FuseOutput> = {
  description: 'E = C − diag(c)⁻¹AC, c_t = A_tt + Σ_s≠t |A_ts|: targets of the penalty λ tr(WᵀAW), A a precision matrix (relation learn, form covariance).',
  options: {},
  run(input) {
    const T = input.propagated.rows;
    const c = precisionWeights(input.relation);
    const inv = Float32Array.from(c, (x) => (x > 0 ? 1 / x : 0));
    const E = tf.tidy(() => {
      const C = toTensor(input.propagated);
      const AC = tf.matMul(tf.tensor2d(Float32Array.from(input.relation.data), [T, T]), C);
      return tf.sub(C, tf.mul(tf.tensor2d(inv, [T, 1]), AC));
    });
    return output(E, c);
  },
};

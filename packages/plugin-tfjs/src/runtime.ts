/**
 * Which TensorFlow.js backend ("device") runs the stages. tfjs keeps one global engine per process, so the device
 * is chosen once per run in the plugin's setup:
 *   tensorflow      @tensorflow/tfjs-node (native libtensorflow, BLAS, all cores) — optional dependency
 *   tensorflow-gpu  @tensorflow/tfjs-node-gpu (CUDA) — install it yourself
 *   wasm            @tensorflow/tfjs-backend-wasm (SIMD, float32, one thread in Node) — always installed
 *   cpu             @tensorflow/tfjs-backend-cpu (plain JavaScript) — always installed
 *   auto            the first of tensorflow, wasm, cpu that loads
 */
import { loadTf, tf } from './tf.js';
import { WeightshareError, ErrorCode } from '@weightshare/framework';

export type Device = 'auto' | 'tensorflow' | 'tensorflow-gpu' | 'wasm' | 'cpu';

const PACKAGES: Record<'tensorflow' | 'tensorflow-gpu', string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

let prodModeSet = false;

/** Whether the native package of a device can be imported here. */
export async function nativeAvailable(device: 'tensorflow' | 'tensorflow-gpu'): Promise<boolean> {
  try {
    await import(PACKAGES[device]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `device` the active tfjs backend and returns the name of the backend that runs.
 * @throws WeightshareError BACKEND_UNAVAILABLE (as INVALID_ARGUMENT) when an explicitly requested device is not installed
 */
export async function useDevice(device: Device): Promise<string> {
  await loadTf();
  if (!prodModeSet) {
    tf.enableProdMode(); // no debug checks, and no "install tfjs-node" banner on the console
    prodModeSet = true;
  }
  if (device === 'tensorflow' || device === 'tensorflow-gpu' || device === 'auto') {
    const want = device === 'auto' ? 'tensorflow' : device;
    if (await nativeAvailable(want)) {
      if (tf.getBackend() !== 'tensorflow') await tf.setBackend('tensorflow');
      return tf.getBackend();
    }
    if (device !== 'auto')
      throw new WeightshareError(
        ErrorCode.INVALID_ARGUMENT,
        `backendOptions.tfjs.device is "${device}", but ${PACKAGES[want]} is not installed. Its installer downloads libtensorflow, so install it on a machine with internet access (npm install ${PACKAGES[want]}), or use device: wasm (always available, float32 SIMD) or device: auto.`,
      );
  }
  const order = device === 'auto' ? ['wasm', 'cpu'] : [device];
  for (const name of order) {
    if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    else await import('@tensorflow/tfjs-backend-cpu');
    if (tf.getBackend() === name || (await tf.setBackend(name))) return tf.getBackend();
  }
  throw new WeightshareError(ErrorCode.INVALID_ARGUMENT, `no TensorFlow.js backend could be started (tried ${order.join(', ')}).`);
}

import type { Plugin } from '@weightshare/framework';

/**
 * The plugins the CLI ships with (plugin-cpu, plugin-tfjs). A live binding filled by {@link loadBuiltins}: the CLI
 * loads them before any command's action, not at start-up, so `weightshare --help` never loads TensorFlow.js.
 */
export let builtinPlugins: readonly Plugin[] = [];
let loading: Promise<readonly Plugin[]> | undefined;

/** Imports the built-in plugins once (every later call returns the same list). */
export function loadBuiltins(): Promise<readonly Plugin[]> {
  return (loading ??= Promise.all([import('@weightshare/plugin-cpu'), import('@weightshare/plugin-tfjs')]).then(([cpu, tfjs]) => (builtinPlugins = [cpu.cpuPlugin, tfjs.tfjsPlugin])));
}

import type { Plugin } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { tfjsPlugin } from '@weightshare/plugin-tfjs';

/** The plugins the CLI ships with. */
export const builtinPlugins: readonly Plugin[] = [cpuPlugin, tfjsPlugin];

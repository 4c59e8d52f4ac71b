import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

// Tests import the packages from source; CLI tests run the built `dist/` (npm test builds first).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@weightshare\/framework\/testing$/, replacement: src('./packages/framework/src/testing/index.ts') },
      { find: /^@weightshare\/framework$/, replacement: src('./packages/framework/src/index.ts') },
      { find: /^@weightshare\/plugin-cpu$/, replacement: src('./packages/plugin-cpu/src/index.ts') },
      { find: /^@weightshare\/plugin-tfjs$/, replacement: src('./packages/plugin-tfjs/src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    // both cores (vitest's default leaves one idle): most files spend their time in child processes and wait
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

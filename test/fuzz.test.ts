/**
 * Adversarial inputs, seeded and bounded (test/helpers/fuzz.ts). `npm test` runs a small sample; the full set
 * (240 specs, 100 CSV files, every tenth also through the CLI) runs with `FUZZ=full npx vitest run test/fuzz.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { fuzz, fuzzPlan } from './helpers/fuzz.js';

const full = process.env.FUZZ === 'full';

describe('fuzzing specs and CSV files', () => {
  it(
    `${full ? 'the full set' : 'a sample'}: no INTERNAL error, no stack trace, no hang, no non-finite result`,
    async () => {
      const plan = fuzzPlan(full);
      const { violations, outcomes, cases, children } = await fuzz(plan);
      console.log(`fuzz: ${cases} cases (${plan.specs} specs, ${plan.csvs} CSV files), ${children} also through the CLI; outcomes ${JSON.stringify(outcomes)}`);
      expect(violations, JSON.stringify(violations, null, 1)).toEqual([]);
    },
    full ? 1_800_000 : 120_000,
  );
});

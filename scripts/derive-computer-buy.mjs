#!/usr/bin/env node
// Derives data/computer_survey/computer_survey_buy.csv from computer_survey.csv: the 0..10 rating
// likelihood_to_buy becomes the binary label would_buy = 1 where the rating is 6 or more (above the scale's
// neutral midpoint 5), else 0; every other column is copied unchanged, the rating itself is left out (it would leak
// the label). A threshold on a real regression target, not a classification data set collected as such.
// Usage: node scripts/derive-computer-buy.mjs [--check]   (--check: exit 1 if the committed file differs)
import { readFileSync, writeFileSync } from 'node:fs';

const THRESHOLD = 6;
const src = new URL('../data/computer_survey/computer_survey.csv', import.meta.url);
const dst = new URL('../data/computer_survey/computer_survey_buy.csv', import.meta.url);
const lines = readFileSync(src, 'utf8').trimEnd().split(/\r?\n/);
const header = lines[0].split(',');
const y = header.indexOf('likelihood_to_buy');
const out = [[...header.slice(0, y), 'would_buy', ...header.slice(y + 1)].join(',')];
for (const line of lines.slice(1)) {
  const cells = line.split(',');
  const rating = Number(cells[y]);
  if (!Number.isInteger(rating) || rating < 0 || rating > 10) throw new Error(`unexpected rating ${cells[y]} in: ${line}`);
  cells[y] = rating >= THRESHOLD ? '1' : '0';
  out.push(cells.join(','));
}
const text = out.join('\n') + '\n';
if (process.argv.includes('--check')) {
  if (readFileSync(dst, 'utf8') !== text) {
    console.error('data/computer_survey/computer_survey_buy.csv differs from its derivation; run node scripts/derive-computer-buy.mjs');
    process.exit(1);
  }
} else writeFileSync(dst, text);

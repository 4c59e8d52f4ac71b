/** `weightshare predict`: applies a completed run's model to the rows of a CSV file. */
import { Command, Option } from 'commander';
import type { CsvPredictionReport, Metrics, UnseenTaskPolicy } from '@weightshare/framework';
import { invalidArgument } from '@weightshare/framework/errors';
import type { Io } from './main.js';

export function registerPredict(program: Command, io: Io): void {
  program
    .command('predict')
    .description('apply a completed run\'s model to new rows: one prediction per row of a CSV file')
    .argument('<model>', 'a completed run folder (or its model/ folder)')
    .requiredOption('--data <file>', 'CSV file with the task column and the model\'s input columns (any order; other columns are ignored)')
    .option('--out <file>', 'write the predictions to this CSV file (default: stdout)')
    .option('--force', 'replace --out if it exists')
    .addOption(new Option('--unseen <policy>', 'rows of a task the model was not trained on: predict with the fused (shared) model, or stop with an error').choices(['fused', 'error']).default('fused'))
    .option('--split <name>', 'for a sweep folder: the outer split whose chosen model to use')
    .option('--json', 'print a JSON report (rows, unseen tasks, ignored columns, metrics when the target column is present) instead of the text one')
    .action(async (dir: string, opts: { data: string; out?: string; force?: boolean; unseen: UnseenTaskPolicy; json?: boolean; split?: string }) => {
      if (opts.out === undefined && opts.json) throw invalidArgument('--json prints the report on stdout, so the predictions need --out <file>.');
      const [{ loadModel }, { isSweepDir, sweepRefit }] = await Promise.all([import('@weightshare/framework'), import('./sweep.js')]);
      const model = loadModel(isSweepDir(dir) ? sweepRefit(dir, opts.split) : dir);
      if (opts.out === undefined) {
        // the predictions are the output: stream them to stdout, the report to stderr
        const report = model.predictCsv(opts.data, { unseen: opts.unseen, keep: false, out: '-' });
        io.stderr.write(formatReport(report));
        return;
      }
      const report = model.predictCsv(opts.data, { out: opts.out, force: opts.force, unseen: opts.unseen, keep: false });
      io.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    });
}

const num = (v: number | null | undefined): string => (v === null || v === undefined ? 'undefined' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toFixed(4));

function metricsLine(m: Metrics): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${num(v as number | null)}`)
    .join(', ');
}

function formatReport(r: CsvPredictionReport): string {
  const lines = [`predicted ${r.rows} rows of ${r.file}${r.out ? ` → ${r.out}` : ''}`];
  if (r.unseenRows) lines.push(`  ${r.unseenRows} rows of ${r.unseenTasks.length} task${r.unseenTasks.length === 1 ? '' : 's'} not seen in training (${r.unseenTasks.slice(0, 5).join(', ')}${r.unseenTasks.length > 5 ? ', …' : ''}) used the fused model (column unseen = 1)`);
  if (r.ignoredColumns.length) lines.push(`  ignored columns: ${r.ignoredColumns.join(', ')}`);
  if (r.metrics?.seen) lines.push(`  metrics (rows of known tasks): ${metricsLine(r.metrics.seen)}`);
  if (r.metrics?.unseen) lines.push(`  metrics (rows of unseen tasks): ${metricsLine(r.metrics.unseen)}`);
  return lines.join('\n') + '\n';
}

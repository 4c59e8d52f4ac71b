import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';
import type { ProgressReporter } from '@weightshare/framework';

/**
 * A progress bar on stderr for interactive terminals (shown only once work has lasted a moment), or one line per
 * phase when `lines` is set (for logs and CI).
 */
export function terminalProgress(stream: NodeJS.WriteStream, lines: boolean): ProgressReporter {
  if (lines) {
    return {
      phase(label, step, steps) {
        stream.write(`[${step}/${steps}] ${label}\n`);
      },
      tasks() {},
      end() {},
    };
  }
  if (!stream.isTTY) return { phase() {}, tasks() {}, end() {} };
  const started = Date.now();
  let bar: CliProgress.SingleBar | undefined;
  let label = '';
  let step = 0;
  let steps = 1;
  let taskText = '';
  const ensure = (): CliProgress.SingleBar | undefined => {
    if (bar || Date.now() - started < 300) return bar;
    // loaded when a bar is first drawn (16 modules): most commands end before that, or have no terminal
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
    bar = new cliProgress.SingleBar(
      { stream, format: ' {bar} {value}/{total} {label}{tasks}', hideCursor: true, clearOnComplete: true, barsize: 24 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(steps, step, { label, tasks: taskText });
    return bar;
  };
  return {
    phase(l, s, n) {
      label = l;
      step = s;
      steps = n;
      taskText = '';
      const b = ensure();
      b?.setTotal(n);
      b?.update(s - 1, { label, tasks: '' });
    },
    tasks(done, total) {
      taskText = ` · task ${done}/${total}`;
      ensure()?.update(step - 1, { label, tasks: taskText });
    },
    end() {
      bar?.stop();
    },
  };
}

/**
 * A sweep's progress on an interactive terminal: one line rewritten in place — jobs done of total, the split of the
 * last finished job, and the time left at the pace so far. Nothing on other streams (use --progress for log lines).
 */
export function sweepTerminalProgress(stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>, now: () => number = Date.now): { job(done: number, total: number, key: string): void; end(): void } {
  if (!stream.isTTY) return { job() {}, end() {} };
  const started = now();
  let shown = false;
  let first: number | undefined;
  return {
    job(done, total, key) {
      first ??= done - 1; // jobs already done before this process (a resumed sweep) do not set the pace
      const ran = done - first;
      const elapsed = (now() - started) / 1000;
      const left = ran > 0 ? (elapsed / ran) * (total - done) : NaN;
      const split = key.replace(/-(c\d+|refit)$/, '');
      const eta = Number.isFinite(left) && done < total ? ` · about ${left < 90 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left` : '';
      stream.write(`\r\x1b[2K sweep ${done}/${total} jobs · ${split}${key.endsWith('-refit') ? ' (refit)' : ''}${eta}`);
      shown = true;
    },
    end() {
      if (shown) stream.write('\r\x1b[2K');
    },
  };
}

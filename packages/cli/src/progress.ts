import cliProgress from 'cli-progress';
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
  let bar: cliProgress.SingleBar | undefined;
  let label = '';
  let step = 0;
  let steps = 1;
  let taskText = '';
  const ensure = (): cliProgress.SingleBar | undefined => {
    if (bar || Date.now() - started < 300) return bar;
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

/** Running the built CLI as a child process. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const bin = join(root, 'packages/cli/bin/weightshare.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', ...opts.env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI and kills it with SIGKILL after `ms` milliseconds (if it is still running). */
export function cliKilledAfter(args: string[], ms: number, opts: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Starts the CLI and sends it `signal` (default SIGKILL) `ms` milliseconds after `file` appears (polled), so that the
 * signal lands inside the work that follows it however slow the machine is; the process may finish first. `killed`:
 * it died of SIGKILL; `sent`: the signal was sent before it exited.
 */
export function cliKilledAfterFile(
  args: string[],
  file: string,
  ms: number,
  opts: { cwd?: string; signal?: NodeJS.Signals } = {},
): Promise<CliResult & { killed: boolean; sent: boolean }> {
  const signal = opts.signal ?? 'SIGKILL';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timer: NodeJS.Timeout | undefined;
    const poll = setInterval(() => {
      if (!existsSync(file)) return;
      clearInterval(poll);
      timer = setTimeout(() => {
        sent = child.kill(signal);
      }, ms);
    }, 5);
    child.on('exit', (code, exitSignal) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, signal: exitSignal, stdout, stderr, killed: sent && exitSignal === 'SIGKILL', sent });
    });
  });
}

/** A user error as the CLI must report it: exit 2, "error CODE: …" first, no stack frame, never INTERNAL. */
export function isCleanUserError(r: CliResult, code?: string): boolean {
  const stderr = r.stderr.replace(/^writing .*\n/, ''); // where a run writes, said before it starts
  return r.code === 2 && /^error [A-Z_]+: /.test(stderr) && (code === undefined || stderr.startsWith(`error ${code}:`)) && !hasStackTrace(stderr) && !stderr.includes('INTERNAL');
}

/** Whether text holds a JavaScript stack frame. */
export function hasStackTrace(text: string): boolean {
  return /\n\s+at .+(:\d+:\d+\)?|\(node:.+\))\s*(\n|$)/.test(text);
}

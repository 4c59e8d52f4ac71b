/**
 * A real Redis server for the tests: Debian's redis-server on 127.0.0.1 and a free port, started here and stopped
 * by PID. `.ci/run` installs redis-server when it is missing (and starts one, whose URL it passes in
 * WEIGHTSHARE_TEST_REDIS, for the tests that need no server of their own).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root } from './cli.js';

export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  /** Stops the server (SIGTERM: with appendonly it writes its file first) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port and folder (its data kept when persistence is on). */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function redisServerPath(): string {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does this)');
  return r.stdout.trim();
}

/** Starts redis-server; `args` are extra options (e.g. ['--requirepass', 'pw'], ['--appendonly', 'yes']). */
export async function startRedis(args: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ws-redis-'));
  let child: ChildProcess;
  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      child = spawn(redisServerPath(), ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--dir', dir, '--protected-mode', 'yes', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const onData = (d: Buffer): void => {
        out += d;
        if (/Ready to accept connections/.test(out)) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.resume(); // read, so a chatty server never blocks on a full pipe
      const timer = setTimeout(() => reject(new Error(`redis-server was not ready within 20 s:\n${out}`)), 20_000);
      timer.unref();
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)));
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.removeAllListeners('exit');
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid!;
    },
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

/** A CLI process in the background (a worker, a coordinator): its output, a wait for a line, its end. */
export interface Background {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches `re` (rejects when the process exits first or after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export function background(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Background {
  const child = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, env: { ...process.env, FORCE_COLOR: '0', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    text += d;
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let ended = false;
  void done.then(() => {
    ended = true;
    for (const l of listeners) l();
  });
  return {
    child,
    output: () => text,
    waitFor: (re, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => (listeners.delete(check), reject(new Error(`no output matching ${re} within ${ms} ms; output:\n${text}`))), ms);
        const check = (): void => {
          if (re.test(text)) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          } else if (ended) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`the process ended without output matching ${re}; output:\n${text}`));
          }
        };
        listeners.add(check);
        check();
      }),
    exited: () => done,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/**
 * The server for tests that need no server of their own: the one .ci/run started (WEIGHTSHARE_TEST_REDIS, stopped by
 * .ci/run), or else one started here.
 */
export async function sharedRedis(): Promise<Pick<RedisServer, 'url' | 'stop'>> {
  const given = process.env.WEIGHTSHARE_TEST_REDIS;
  if (given) return { url: given, stop: async () => undefined };
  return startRedis();
}

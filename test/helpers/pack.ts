/**
 * Installing the packed packages in an empty folder, offline. `npm pack` makes the tarballs; the folder's lockfile
 * pins every third-party dependency to the version and integrity of this repository's own lockfile, so `npm ci
 * --offline` takes them from the npm cache that `npm ci` here filled: no network.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './cli.js';

/** The packages a user installs, by folder. */
export const PUBLISHED = ['packages/framework', 'packages/plugin-cpu', 'packages/plugin-tfjs', 'packages/cli'];

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  bin?: Record<string, string>;
  [key: string]: unknown;
}

const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

/** Packs a package folder into `dest`; returns the tarball's path. */
export function pack(dir: string, dest: string): string {
  const out = JSON.parse(npm(['pack', '--json', '--pack-destination', dest], dir)) as { filename: string }[];
  return join(dest, out[0]!.filename);
}

/**
 * Installs the tarballs (each a package) into the empty folder `dir` with `npm ci --offline`, without optional
 * dependencies (tfjs-node would download TensorFlow) and without install scripts (none of ours has any).
 */
export function installOffline(dir: string, tarballs: string[]): void {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packages: Record<string, LockEntry> = {};
  const ours = new Map(tarballs.map((t) => [manifestOf(t).name, t]));
  const dependencies = Object.fromEntries([...ours].map(([name, t]) => [name, `file:${t}`]));
  const add = (location: string, entry: LockEntry): void => {
    packages[location] = entry;
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      if (ours.has(name)) continue;
      const found = resolveIn(lock.packages, location, name);
      if (found === undefined) throw new Error(`${name} (needed by ${location}) is not in package-lock.json`);
      if (packages[found]) continue;
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...clean } = lock.packages[found]!;
      add(found, clean);
    }
  };
  for (const [name, t] of ours) {
    const m = manifestOf(t);
    add(`node_modules/${name}`, {
      version: m.version,
      resolved: `file:${t}`,
      integrity: `sha512-${createHash('sha512').update(readFileSync(t)).digest('base64')}`,
      ...pick(m, ['dependencies', 'optionalDependencies', 'peerDependencies', 'bin']),
    });
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true, dependencies }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'user-project', lockfileVersion: 3, requires: true, packages: { '': { name: 'user-project', dependencies }, ...packages } }, null, 2));
  npm(['ci', '--offline', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
}

/** The package.json inside a tarball. */
function manifestOf(tarball: string): LockEntry & { name: string } {
  return JSON.parse(execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], { encoding: 'utf8' })) as LockEntry & { name: string };
}

/** Where Node would find `name` from the lockfile location `from`: its own node_modules, then each parent's. */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  for (let base = from; ; ) {
    const location = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (packages[location]) return location;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

function pick(o: LockEntry, keys: (keyof LockEntry)[]): Partial<LockEntry> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

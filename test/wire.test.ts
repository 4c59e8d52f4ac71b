/**
 * How run --executor's work items travel: every double exactly (NaN, ±Infinity, −0 too), typed arrays of every kind
 * by their bytes, equal arrays and equal objects sent once but decoded as separate copies, references to the run's
 * tasks, and nothing that cannot travel.
 */
import { describe, expect, it } from 'vitest';
import { InProcessExecutor, loadSpecText, runPipeline, type TaskExecutor } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { arrayKey, blobsNamed, decode, encode } from '../packages/cli/src/wire.js';
import { entryRefOf, REMOTE_ENTRIES } from '../packages/cli/src/redis-run.js';
import { registry, scratch, syntheticSpec } from './helpers/run.js';

const roundTrip = (v: unknown, ref?: (o: object) => unknown, resolve?: (r: unknown) => unknown): unknown => {
  const e = encode(v, ref);
  // through JSON, as BullMQ stores it, and the blob as Redis returns it (a Buffer of its own)
  return decode(JSON.parse(JSON.stringify(e.json)), JSON.parse(JSON.stringify(e.segments)), Buffer.from(e.blob), resolve);
};

describe('the wire format of per-task work', () => {
  it('keeps every number exactly, in typed arrays and outside them', () => {
    const odd = [NaN, Infinity, -Infinity, -0, 0, 5e-324, Number.MAX_VALUE, 0.1 + 0.2, -1.5e300];
    const out = roundTrip({ a: Float64Array.from(odd), n: odd, f: Float32Array.of(1.1, -0), i: Int32Array.of(-7, 2 ** 31 - 1), u: Uint8Array.of(0, 255), b: BigInt64Array.of(-5n) }) as Record<string, unknown>;
    const bits = (x: ArrayLike<number>): string => Buffer.from(Float64Array.from(x).buffer).toString('hex');
    expect(bits(out.a as Float64Array)).toBe(bits(odd));
    expect((out.n as number[]).map((x) => Object.is(x, -0) ? '-0' : String(x))).toEqual(odd.map((x) => Object.is(x, -0) ? '-0' : String(x)));
    expect(out.f).toEqual(Float32Array.of(1.1, -0));
    expect(Object.is((out.f as Float32Array)[1], -0)).toBe(true);
    expect(out.i).toEqual(Int32Array.of(-7, 2 ** 31 - 1));
    expect(out.u).toEqual(Uint8Array.of(0, 255));
    expect(out.b).toEqual(BigInt64Array.of(-5n));
  });

  it('sends an array or an object that many items share once, and gives each item its own copy', () => {
    const e = Float64Array.from({ length: 201 }, (_, i) => i / 7);
    const ref = { loss: { name: 'squared', options: {} }, model: { name: 'linear', layout: { size: 201, blocks: [{ name: 'weights', offset: 0 }] } } };
    const items = Array.from({ length: 20 }, (_, t) => ({ e, ref, w0: Float64Array.from({ length: 201 }, (_, j) => t + j) }));
    const enc = encode(items);
    // 20 distinct w0 rows and one e row, 8 bytes each (and no padding: each is a multiple of 8 bytes)
    expect(enc.blob.length).toBe(21 * 201 * 8);
    expect(JSON.stringify(enc.json).length).toBeLessThan(20 * 80 + 400);
    const out = roundTrip(items) as typeof items;
    expect(out).toEqual(items);
    expect(out[0]!.e).not.toBe(out[1]!.e); // copies: a solver that writes into one never changes another
    out[0]!.ref.model.layout.size = 3;
    expect(out[1]!.ref.model.layout.size).toBe(201);
  });

  it('sends a known object as a reference and resolves it on the other side; keys that look like tags survive', () => {
    const task = { id: 't', X: { data: new Float64Array(1e5) } };
    const enc = encode([{ task, w: Float64Array.of(1) }], (o) => (o === task ? 3 : undefined));
    expect(enc.blob.length).toBe(8); // the task's rows stay home
    const out = decode(JSON.parse(JSON.stringify(enc.json)), enc.segments, enc.blob, (r) => (r === 3 ? 'the task here' : undefined)) as { task: unknown }[];
    expect(out[0]!.task).toBe('the task here');
    expect(() => decode(enc.json, enc.segments, enc.blob, () => undefined)).toThrow(/refers to 3, which is not known here/);
    expect(roundTrip({ $a: 1, $ref: 'x', $n: 'NaN', u: undefined, list: [undefined, null] })).toEqual({ $a: 1, $ref: 'x', $n: 'NaN', list: [undefined, null] });
  });

  it('names an array already stored in another blob instead of sending it, and reads it from there', () => {
    const w = Float64Array.of(1.5, -0, NaN);
    const earlier = encode([w]); // e.g. the result blob of the last round
    const known = new Map([[arrayKey(w), ['out:1', 'Float64Array', earlier.segments[0]!.offset, 3] as const]]);
    const enc = encode({ w0: Float64Array.from(w), e: Float64Array.of(2) }, undefined, (k) => known.get(k) as never);
    expect(enc.blob.length).toBe(8); // only e
    expect([...blobsNamed(enc.json)]).toEqual(['out:1']);
    const out = decode(JSON.parse(JSON.stringify(enc.json)), enc.segments, enc.blob, undefined, new Map([['out:1', earlier.blob]])) as { w0: Float64Array };
    expect(Buffer.from(out.w0.buffer).equals(Buffer.from(w.buffer))).toBe(true);
    expect(() => decode(enc.json, enc.segments, enc.blob)).toThrow(/names an array in "out:1", which is not at hand/);
  });

  it('refuses what cannot travel, and a payload whose arrays lie outside its blob', () => {
    expect(() => encode({ f: () => 1 })).toThrow(/cannot send function at \.f/);
    expect(() => encode({ m: new Map() })).toThrow(/cannot send a Map at \.m/);
    const enc = encode({ a: new Float64Array(4) });
    expect(() => decode(enc.json, enc.segments, enc.blob.subarray(0, 16))).toThrow(/outside its 16 bytes/);
    expect(() => decode({ t: [], v: { $s: 9 } }, [], Buffer.alloc(0))).toThrow(/shared value 9/);
    // a payload's "__proto__" key is a key, never a prototype; an unknown number tag is NaN, never an inherited value
    const proto = decode(JSON.parse('{"t":[],"v":{"__proto__":{"polluted":1}}}'), [], Buffer.alloc(0)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
    expect(decode({ t: [], v: { $n: 'constructor' } }, [], Buffer.alloc(0))).toBeNaN();
  });
});

describe('which per-task work can leave the coordinator', () => {
  it('every optimize method of plugin-cpu hands out work that a worker may run (REMOTE_ENTRIES lists it)', async () => {
    const methods = Object.keys(cpuPlugin.stages.optimize ?? {});
    expect(methods.length).toBeGreaterThanOrEqual(6);
    for (const method of methods) {
      const seen: { name: string; remote: boolean }[] = [];
      const local = new InProcessExecutor();
      const executor: TaskExecutor = {
        map: (inputs, work) => (seen.push({ name: work.name, remote: work.entry !== undefined && entryRefOf(work.entry) !== undefined }), local.map(inputs, work)),
      };
      const reg = registry();
      const text = syntheticSpec(`stages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: ${method}, lambda: 1, ridge: 0.1 }\nrounds: 1\n`);
      await runPipeline(loadSpecText(text, `${scratch()}/spec.yaml`, reg), reg, { executor });
      const optimize = seen.filter((s) => s.name.startsWith('optimize/'));
      expect(optimize.length, method).toBeGreaterThan(0);
      for (const s of optimize) expect(s.remote, `${method}: ${s.name}`).toBe(true);
    }
    expect(REMOTE_ENTRIES['@weightshare/framework']).toEqual(['dataLossItem']);
    // a module outside weightshare's packages, or an export not listed, stays on the coordinator
    expect(entryRefOf({ module: import.meta.url, export: 'solveGd' })).toBeUndefined();
    expect(entryRefOf({ module: new URL('../packages/framework/src/io.ts', import.meta.url).href, export: 'writeFileAtomic' })).toBeUndefined();
  });
});

/**
 * How per-task work items and their results travel through Redis (`run --executor`): a JSON skeleton plus one binary
 * blob holding every typed array's bytes. Doubles survive exactly (the bytes themselves; numbers outside typed arrays
 * that JSON cannot hold — NaN, ±Infinity, −0 — are tagged), equal arrays are sent once per blob (the shared target
 * row of a global fuse, the same pull row of every task), and a value that the caller recognizes (one of the run's
 * tasks) travels as a reference to it.
 */
import { createHash } from 'node:crypto';

const TYPED = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedName = keyof typeof TYPED;
type Typed = InstanceType<(typeof TYPED)[TypedName]>;

/** Where one array's bytes are in the blob. */
export interface Segment {
  type: TypedName;
  offset: number;
  length: number;
}

export interface Encoded {
  /** `{ t: shared objects, v: the value }`. */
  json: unknown;
  /**
   * The value's content, the same wherever its arrays travel (in this blob or in another one): the skeleton with
   * every array replaced by its {@link arrayKey}. Content-addressed ids hash this.
   */
  logical: string;
  segments: Segment[];
  blob: Buffer;
}

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

/**
 * Encodes `value`. `reference(v)` may return a JSON value that stands for the object `v` (e.g. `{ task: 3 }`); it is
 * wrapped as `{ $ref: … }` and given back to {@link decode}'s `resolve`. Functions, symbols, class instances other
 * than arrays and typed arrays cannot travel and throw.
 */
/** Where an array's bytes already are: a segment of another blob, by that blob's key (e.g. a worker's last results). */
export type Elsewhere = [key: string, type: TypedName, offset: number, length: number];

/** The content key of an array: its type and the SHA-1 of its bytes. */
export function arrayKey(a: ArrayBufferView): string {
  return `${a.constructor.name}:${createHash('sha1').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex')}`;
}

/**
 * Encodes `value`. `reference(v)` may return a JSON value that stands for the object `v` (e.g. `{ task: 3 }`); it is
 * wrapped as `{ $ref: … }` and given back to {@link decode}'s `resolve`. `elsewhere(key)` may say that an array of that
 * content key is already stored in another blob: it then travels as `{ $b: [blob, type, offset, length] }`, and
 * {@link decode} reads it from there. Functions, symbols, class instances other than arrays and typed arrays cannot
 * travel and throw.
 */
export function encode(value: unknown, reference: (v: object) => unknown = () => undefined, elsewhere: (key: string) => Elsewhere | undefined = () => undefined): Encoded {
  const segments: Segment[] = [];
  const parts: Buffer[] = [];
  const seen = new Map<string, number>();
  let offset = 0;
  const keyOfSegment: string[] = [];
  const keyOfElsewhere = new Map<string, string>();
  const array = (a: Typed): number | Elsewhere => {
    const type = a.constructor.name as TypedName;
    const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const key = `${type}:${createHash('sha1').update(bytes).digest('hex')}`;
    const known = seen.get(key);
    if (known !== undefined) return known;
    const there = elsewhere(key);
    if (there) {
      keyOfElsewhere.set(JSON.stringify(there), key);
      return there;
    }
    keyOfSegment.push(key);
    const pad = (8 - (offset % 8)) % 8; // every array starts 8-byte aligned
    if (pad) parts.push(Buffer.alloc(pad));
    offset += pad;
    parts.push(bytes);
    segments.push({ type, offset, length: a.length });
    offset += bytes.length;
    seen.set(key, segments.length - 1);
    return segments.length - 1;
  };
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return { $n: 'NaN' };
      if (v === Infinity || v === -Infinity) return { $n: String(v) };
      if (Object.is(v, -0)) return { $n: '-0' };
      return v;
    }
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (v === undefined) return { $u: 1 };
    if (typeof v !== 'object') throw new Error(`cannot send ${typeof v} at ${path || 'the top'} to another machine`);
    const r = reference(v);
    if (r !== undefined) return { $ref: r };
    if (ArrayBuffer.isView(v)) {
      if (!(v.constructor.name in TYPED)) throw new Error(`cannot send a ${v.constructor.name} at ${path}`);
      const at = array(v as Typed);
      return typeof at === 'number' ? { $a: at } : { $b: at };
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new Error(`cannot send a ${(v as object).constructor?.name ?? 'class instance'} at ${path} to another machine`);
    const out: Record<string, unknown> = {};
    let tagged = false;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue; // as JSON drops it
      if (k.startsWith('$')) tagged = true;
      out[k] = walk(x, `${path}.${k}`);
    }
    const plain = tagged ? { $o: out } : out;
    // an object of some size (a loss and model reference, the options) is sent once however many items carry it
    const text = JSON.stringify(plain);
    if (text.length < 48) return plain;
    let at = tables.get(text);
    if (at === undefined) tables.set(text, (at = table.push(plain) - 1));
    return { $s: at };
  };
  const table: unknown[] = [];
  const tables = new Map<string, number>();
  const v = walk(value, '');
  const json = { t: table, v };
  const logical = JSON.stringify(json, (_, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      if ('$a' in o && typeof o.$a === 'number') return { $k: keyOfSegment[o.$a] };
      if ('$b' in o) return { $k: keyOfElsewhere.get(JSON.stringify(o.$b)) };
    }
    return x;
  });
  return { json, logical, segments, blob: Buffer.concat(parts, offset) };
}

/**
 * The inverse of {@link encode}; `resolve` turns a reference back into its object, `blobs` holds the other blobs that
 * `{ $b }` arrays name (see {@link blobsNamed}). Arrays are fresh copies.
 */
export function decode(json: unknown, segments: readonly Segment[], blob: Buffer, resolve: (ref: unknown) => unknown = () => undefined, blobs: ReadonlyMap<string, Buffer> = new Map()): unknown {
  const copyOut = (from: Buffer, s: Partial<Segment>, what: string): Typed => {
    if (!s || typeof s.type !== 'string' || !Object.hasOwn(TYPED, s.type)) throw new Error(`the payload names ${what}, which it does not hold`);
    const Ctor = TYPED[s.type];
    const bytes = Number(s.length) * Ctor.BYTES_PER_ELEMENT;
    if (!Number.isInteger(s.offset) || !Number.isInteger(s.length) || s.offset! < 0 || s.length! < 0 || s.offset! + bytes > from.length) throw new Error(`${what} of the payload lies outside its ${from.length} bytes`);
    // each decoded array is its own copy (a caller may keep it; the blob is dropped)
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(from.subarray(s.offset!, s.offset! + bytes));
    return new Ctor(copy);
  };
  const arrayAt = (i: number): Typed => copyOut(blob, segments[i] as Segment, `array ${i}`);
  const arrayIn = (ref: unknown): Typed => {
    const [key, type, offset, length] = Array.isArray(ref) ? (ref as unknown[]) : [];
    const from = typeof key === 'string' ? blobs.get(key) : undefined;
    if (!from) throw new Error(`the payload names an array in ${JSON.stringify(key)}, which is not at hand`);
    return copyOut(from, { type: type as TypedName, offset: offset as number, length: length as number }, `the array in ${key}`);
  };
  const root = (json ?? {}) as { t?: unknown; v?: unknown };
  const table = Array.isArray(root.t) ? root.t : [];
  let depth = 0;
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(walk);
    const o = v as Record<string, unknown>;
    if ('$s' in o) {
      const i = Number(o.$s);
      if (!(i >= 0 && i < table.length) || depth > 64) throw new Error(`the payload names shared value ${String(o.$s)}, which it does not hold`);
      depth++;
      try {
        return walk(table[i]); // a fresh object for every place that names it, as in process
      } finally {
        depth--;
      }
    }
    if ('$n' in o) return Object.hasOwn(SPECIAL, String(o.$n)) ? SPECIAL[String(o.$n)] : NaN;
    if ('$u' in o) return undefined;
    // an array sent once for several items is decoded once per item: each gets its own copy, as in process
    if ('$a' in o) return arrayAt(Number(o.$a));
    if ('$b' in o) return arrayIn(o.$b);
    if ('$ref' in o) {
      const r = resolve(o.$ref);
      if (r === undefined) throw new Error(`the payload refers to ${JSON.stringify(o.$ref)}, which is not known here`);
      return r;
    }
    const src = '$o' in o ? (o.$o as Record<string, unknown>) : o;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(src)) {
      const d = walk(x);
      // defineProperty: a key "__proto__" is a key like any other, never the object's prototype
      if (d !== undefined) Object.defineProperty(out, k, { value: d, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return walk(root.v);
}

/** The keys of the other blobs an encoded value reads arrays from. */
export function blobsNamed(json: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(walk);
    const o = v as Record<string, unknown>;
    if ('$b' in o && Array.isArray(o.$b) && typeof o.$b[0] === 'string') out.add(o.$b[0]);
    else for (const x of Object.values(o)) walk(x);
  };
  walk(json);
  return out;
}

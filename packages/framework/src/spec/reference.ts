/**
 * The option tables of docs/spec.md, generated from the spec schema so the reference cannot drift from what is
 * validated. `weightshare schema --markdown` prints them; a test checks docs/spec.md contains the current tables.
 */
import type { JsonSchema } from '../plugin/types.js';

const SECTIONS: [string, string][] = [
  ['data', 'source'],
  ['split', 'method'],
  ['relation', 'method'],
  ['init', 'method'],
  ['stages.propagate', 'method'],
  ['stages.fuse', 'method'],
  ['stages.optimize', 'method'],
];

function at(schema: JsonSchema, path: string): JsonSchema {
  let s = schema;
  for (const k of path.split('.')) s = (s.properties as Record<string, JsonSchema>)[k]!;
  return s;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.type === 'array') return `list of ${typeOf((s.items as JsonSchema) ?? {})}`;
  const t = Array.isArray(s.type) ? (s.type as string[]).join(' or ') : String(s.type ?? 'any');
  const range: string[] = [];
  if (s.minimum !== undefined) range.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) range.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) range.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) range.push(`< ${s.exclusiveMaximum}`);
  return range.length ? `${t} (${range.join(', ')})` : t;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(props: Record<string, JsonSchema>, required: readonly string[]): string[] {
  const names = Object.keys(props);
  if (!names.length) return ['(no options)', ''];
  const out = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const n of names) {
    const p = props[n]!;
    const def = p.default !== undefined ? `\`${JSON.stringify(p.default)}\`` : required.includes(n) ? '**required**' : '—';
    out.push(`| \`${n}\` | ${cell(typeOf(p))} | ${def} | ${cell(String(p.description ?? ''))} |`);
  }
  out.push('');
  return out;
}

/** Markdown tables of every method object's choices and their options. */
export function specReferenceMarkdown(schema: JsonSchema): string {
  const out: string[] = [];
  for (const [path, key] of SECTIONS) {
    const s = at(schema, path);
    const props = s.properties as Record<string, JsonSchema>;
    out.push(`### \`${path}\``, '', String(s.description ?? ''), '');
    const common = Object.fromEntries(Object.entries(props).filter(([k]) => k !== key));
    if (Object.keys(common).length) out.push(`Keys for every \`${key}\`:`, '', ...table(common, []));
    for (const branch of (s.allOf as JsonSchema[]) ?? []) {
      const name = ((branch.if as JsonSchema).properties as Record<string, { const: string }>)[key]!.const;
      const then = branch.then as JsonSchema;
      const desc = String(props[key]!.description ?? '')
        .split('\n')
        .find((l) => l.startsWith(`${name}: `))
        ?.slice(name.length + 2);
      out.push(`#### \`${key}: ${name}\``, '', desc ?? '', '', ...table((then.properties as Record<string, JsonSchema>) ?? {}, (then.required as string[]) ?? []));
    }
  }
  return out.join('\n');
}

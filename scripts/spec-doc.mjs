// Regenerates the method and option tables of docs/spec.md (between the generated markers) from the built-in
// plugins' schema: `npm run spec-doc`. A test fails when they are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { buildSpecSchema, PluginRegistry, specReferenceMarkdown } from '@weightshare/framework';
import { builtinPlugins, loadBuiltins } from '../packages/cli/dist/plugins.js';

await loadBuiltins();

const file = new URL('../docs/spec.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const [head, rest] = doc.split('<!-- generated:start -->\n');
const tail = rest.split('\n<!-- generated:end -->')[1];
const tables = specReferenceMarkdown(buildSpecSchema(new PluginRegistry(builtinPlugins))).trim();
writeFileSync(file, `${head}<!-- generated:start -->\n${tables}\n<!-- generated:end -->${tail}`);

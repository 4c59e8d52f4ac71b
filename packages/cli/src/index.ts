import { loadBuiltins } from './main.js';

// as a library, the built-in plugins are there as soon as the module is
await loadBuiltins();
export { main, builtinPlugins, loadBuiltins } from './main.js';
export { formatSummary } from './format.js';

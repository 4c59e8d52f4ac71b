export { main, builtinPlugins } from './main.js';
export { formatSummary } from './format.js';

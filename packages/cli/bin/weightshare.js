#!/usr/bin/env node
// The `weightshare` command. A committed shim (not build output) so that npm can link it before `prepare` builds
// dist/ on a fresh `npm ci`.
// A closed pipe (`weightshare plugins | head`) is not an error.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });

let main;
try {
  ({ main } = await import('../dist/main.js'));
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/main.js')) {
    process.stderr.write('error INTERNAL: weightshare is not built yet. Run "npm run build" (npm ci does it for you).\n');
    process.exit(1);
  }
  throw e;
}
process.exitCode = await main(process.argv.slice(2));

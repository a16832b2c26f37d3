// Bundles the Node side (CLI, web server, worker, benchmark) into out/node with esbuild.
// Native modules stay external and load from node_modules.
import { build } from 'esbuild';

const started = Date.now();
await build({
  entryPoints: {
    cli: 'src-main/cli/index.ts',
    worker: 'src-main/engine/workers/worker.ts',
    bench: 'scripts/bench/index.ts',
    's3-profile': 'scripts/bench/s3-profile.ts',
  },
  outdir: 'out/node',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['better-sqlite3', 'zstd-napi', 'electron', '@aws-sdk/*', 'ws', 'bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
});
console.log(`built out/node in ${Date.now() - started} ms`);

// electron-vite: main (the Electron entry and the engine's worker thread, emitted side by
// side as out/main/index.js and out/main/worker.js because engine/workers/pool.ts loads
// join(__dirname, 'worker.js')), the sandboxed preload, and the React renderer.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'electron-vite';
import { resolve } from 'node:path';

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      externalizeDeps: true,
      rollupOptions: {
        input: { index: resolve(__dirname, 'src-main/index.ts'), worker: resolve(__dirname, 'src-main/engine/workers/worker.ts') },
        output: { entryFileNames: '[name].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      externalizeDeps: true,
      rollupOptions: { input: { index: resolve(__dirname, 'src-main/preload.ts') }, output: { format: 'cjs', entryFileNames: '[name].js' } },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src-renderer'),
    base: './',
    plugins: [react()],
    build: {
      outDir: 'out/renderer',
      minify: true,
      sourcemap: false,
      chunkSizeWarningLimit: 1500,
      rollupOptions: { input: resolve(__dirname, 'src-renderer/index.html') },
    },
  },
});

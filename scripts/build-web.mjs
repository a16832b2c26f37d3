// Builds the renderer (src-renderer) with Vite into out/renderer for web mode; the Electron
// build (electron-vite) writes the same folder. Relative asset paths serve both file:// and /.
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';
import { build } from 'vite';

const root = resolve(import.meta.dirname, '..');
const started = Date.now();
await build({
  root: resolve(root, 'src-renderer'),
  base: './',
  plugins: [react()],
  logLevel: 'warn',
  build: { outDir: resolve(root, 'out/renderer'), emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1500 },
});
console.log(`built out/renderer in ${Date.now() - started} ms`);

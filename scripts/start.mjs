// `npm start`: the desktop app when Electron's binary is installed, otherwise web mode
// (`blockvault serve`), which prints the URL to open. Builds what is missing or stale first.
// Arguments pass through, e.g. `npm start -- --repo /srv/backups/repo`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);

function newest(dir) {
  let time = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stats = statSync(path);
    time = Math.max(time, stats.isDirectory() ? newest(path) : stats.mtimeMs);
  }
  return time;
}

/** True when `output` is missing or older than any file under the source folders. */
function stale(output, sources) {
  if (!existsSync(output)) return true;
  const built = statSync(output).mtimeMs;
  return sources.some((dir) => newest(join(root, dir)) > built);
}

function run(command, commandArgs) {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function electronBinary() {
  try {
    const path = createRequire(import.meta.url)('electron');
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

function forward(child) {
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

const electron = electronBinary();
if (electron) {
  if (stale(join(root, 'out', 'main', 'index.js'), ['src-main', 'src-shared', 'src-renderer'])) run(process.execPath, [join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build']);
  forward(spawn(electron, [root, ...args], { cwd: root, stdio: 'inherit' }));
} else {
  console.log('Electron\'s binary is not installed here: starting web mode instead.');
  if (stale(join(root, 'out', 'node', 'cli.js'), ['src-main', 'src-shared'])) run(process.execPath, [join(root, 'scripts', 'build-node.mjs')]);
  if (stale(join(root, 'out', 'renderer', 'index.html'), ['src-renderer', 'src-shared'])) run(process.execPath, [join(root, 'scripts', 'build-web.mjs')]);
  forward(spawn(process.execPath, [join(root, 'bin', 'blockvault.js'), 'serve', ...args], { cwd: root, stdio: 'inherit' }));
}

// End-to-end harness: builds the renderer when it is missing or older than its sources,
// starts `blockvault serve` (the built CLI) on a free port, and drives Debian's Chromium
// through playwright-core. Screenshots go to test-output/screenshots/.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'bin', 'blockvault.js');
export const SCREENSHOTS = join(ROOT, 'test-output', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stats = statSync(path);
    newest = Math.max(newest, stats.isDirectory() ? newestMtime(path) : stats.mtimeMs);
  }
  return newest;
}

/** Builds out/renderer unless it is newer than every renderer and shared source file. */
export function ensureRendererBuilt(): void {
  const index = join(ROOT, 'out', 'renderer', 'index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'src-renderer')), newestMtime(join(ROOT, 'src-shared')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-web.mjs')], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('building the renderer failed');
}

export interface Served {
  url: string;
  origin: string;
  token: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `blockvault serve --port 0` and resolves with the URL it prints. */
export function serve(args: string[], env: Record<string, string>): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`serve did not print its URL in 15 s\n${stdout}\n${stderr}`)), 15_000);
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /(http:\/\/127\.0\.0\.1:\d+\/[?#]token=([0-9a-f]+))/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      const url = match[1];
      resolve({
        url,
        origin: new URL(url).origin,
        token: match[2],
        process: child,
        stop: () => new Promise<void>((done) => {
          if (child.exitCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
      });
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}\n${stdout}\n${stderr}`)); });
  });
}

/** Chromium with a fresh profile folder, at 1280x800 unless told otherwise. */
export async function launch(profile: string, options: { viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (.ci/run does) or set CHROMIUM_PATH`);
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: options.viewport ?? { width: 1280, height: 800 },
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** What most e2e files start with: web mode serving, Chromium on it, the page connected. */
export interface OpenedApp {
  server: Served;
  context: BrowserContext;
  page: Page;
}

/**
 * Starts web mode (`serve` with these arguments and environment), opens Chromium with a fresh
 * profile on its URL (the token once; the page keeps it for the session) and waits until the
 * page is connected. Page errors are printed.
 */
export async function openApp(serveArgs: string[], env: Record<string, string>, profile: string, options: Parameters<typeof launch>[1] = {}): Promise<OpenedApp> {
  const server = await serve(serveArgs, env);
  const context = await launch(profile, options);
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error.message));
  await page.goto(server.url);
  await page.locator('.conn-open').waitFor();
  return { server, context, page };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core (node_modules/axe-core, injected through the DevTools protocol, which the
 * page's CSP does not govern) on the page; writes the full result to
 * test-output/axe/NAME.json and returns the serious and critical violations.
 */
export async function axeCheck(page: Page, name: string): Promise<AxeViolation[]> {
  const source = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(`${source}\n;0`);
  const result = (await page.evaluate(`window.axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\\s+/g, ' ')) })))`)) as AxeViolation[];
  const dir = join(ROOT, 'test-output', 'axe');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

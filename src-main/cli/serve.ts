// `blockvault serve`: web mode. Starts the services and the web server on 127.0.0.1 and
// prints the URL with its token; runs until interrupted, then cancels running jobs.
import { createServices, type Services } from '../services';
import { startWebServer } from '../web/server';
import { UsageError, type Command } from './commands';

/**
 * Opens `--repo`; an encrypted one with BLOCKVAULT_PASSPHRASE. Without it the server still
 * starts: the repository is listed first among the recent ones and the browser asks for
 * the passphrase when it is opened.
 */
async function openInitial(services: Services, path: string, note: (line: string) => void): Promise<void> {
  const passphrase = process.env.BLOCKVAULT_PASSPHRASE;
  try {
    await services.api.openRepository(passphrase === undefined ? { path } : { path, passphrase });
  } catch (error) {
    if ((error as { code?: string }).code !== 'WRONG_KEY' || passphrase !== undefined) throw error;
    services.context.config.addRecent(path, true);
    note(`${path} is encrypted: open it from the Repository screen, which asks for its passphrase (or set BLOCKVAULT_PASSPHRASE)`);
  }
}

export const serveCommand: Command = {
  usage: 'serve [--repo PATH] [--port N]',
  summary: 'web mode: serve the GUI and its API on 127.0.0.1 (the URL with its access token is printed)',
  options: { port: { type: 'string', short: 'p' } },
  args: [0, 0],
  async run(ctx) {
    const portText = typeof ctx.values.port === 'string' ? ctx.values.port : '0';
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got "${portText}"`);
    // Web mode runs the policies of the repositories it opens, unless a daemon serves them.
    const services = createServices({ mode: 'web', schedule: true, note: (line) => ctx.err(line) });
    try {
      const repoPath = (typeof ctx.values.repo === 'string' ? ctx.values.repo : undefined) ?? process.env.BLOCKVAULT_REPO;
      if (repoPath) await openInitial(services, repoPath.startsWith('/') ? repoPath : `${process.cwd()}/${repoPath}`, (line) => ctx.err(line));
      const server = await startWebServer({ services, port });
      ctx.out(`Blockvault web mode: ${server.url}`);
      ctx.err('Open the URL above in a browser on this machine; press Ctrl-C to stop.');
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await server.close();
    } finally {
      await services.close();
    }
    return 0;
  },
};

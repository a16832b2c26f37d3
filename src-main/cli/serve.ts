// `blockvault serve`: web mode. Starts the services and the web server on 127.0.0.1 and
// prints the URL with its token; runs until interrupted, then cancels running jobs.
import { createServices } from '../services';
import { startWebServer } from '../web/server';
import { UsageError, type Command } from './commands';

export const serveCommand: Command = {
  usage: 'serve [--repo PATH] [--port N]',
  summary: 'web mode: serve the GUI and its API on 127.0.0.1 (the URL with its access token is printed)',
  options: { port: { type: 'string', short: 'p' } },
  args: [0, 0],
  async run(ctx) {
    const portText = typeof ctx.values.port === 'string' ? ctx.values.port : '0';
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got "${portText}"`);
    const services = createServices({ mode: 'web' });
    try {
      const repoPath = (typeof ctx.values.repo === 'string' ? ctx.values.repo : undefined) ?? process.env.BLOCKVAULT_REPO;
      if (repoPath) await services.api.openRepository({ path: repoPath.startsWith('/') ? repoPath : `${process.cwd()}/${repoPath}` });
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

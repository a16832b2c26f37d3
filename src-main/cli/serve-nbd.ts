// `blockvault serve-nbd UID`: exports a version over NBD (read-only, every block verified as it
// is read; --cow keeps writes in an overlay) until interrupted; prints the URL first, then
// the commands that attach it. Runs through the services' startServingNbd/stopServingNbd.
import { resolve } from 'node:path';
import { UsageError, type Command } from './commands';

export const serveNbdCommand: Command = {
  usage: 'serve-nbd UID [--socket PATH | --port N] [--cow]',
  summary: 'serve a version over NBD on a Unix socket or 127.0.0.1 (default port 10809; read-only unless --cow) until interrupted',
  options: { socket: { type: 'string' }, port: { type: 'string', short: 'p' }, cow: { type: 'boolean' } },
  args: [1, 1],
  async run(ctx) {
    const socket = typeof ctx.values.socket === 'string' ? resolve(ctx.values.socket) : undefined;
    const portText = typeof ctx.values.port === 'string' ? ctx.values.port : undefined;
    if (socket !== undefined && portText !== undefined) throw new UsageError('give --socket or --port, not both');
    const port = portText === undefined ? 10809 : Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got "${portText}"`);
    const api = await ctx.api();
    const cow = ctx.values.cow === true;
    const serving = await api.startServingNbd(socket !== undefined ? { uid: ctx.positionals[0]!, socket, cow } : { uid: ctx.positionals[0]!, port, cow });
    ctx.out(serving.url);
    ctx.err(`serving version ${serving.uid}${cow ? ' (writes go to a temporary overlay)' : ' read-only'}; attach with one of:`);
    for (const line of serving.attach) ctx.err(`  ${line}`);
    ctx.err('press Ctrl-C to stop');
    await new Promise<void>((done) => {
      if (ctx.signal.aborted) done();
      ctx.signal.addEventListener('abort', () => done(), { once: true });
    });
    const stopped = await api.stopServingNbd({ id: serving.id });
    if (stopped.lastError) ctx.err(`last error served to a client: ${stopped.lastError}`);
    ctx.err(`stopped; ${stopped.blocksVerified} blocks read and verified${cow ? `, ${stopped.changedBlocks} blocks changed in the overlay (discarded)` : ''}`);
  },
};

// `blockvault serve-nbd UID`: exports a version over NBD (read-only, every block verified as it
// is read; --cow keeps writes in an overlay file, --save-as keeps the changed disk as a new
// version when serving ends) until interrupted; prints the URL first, then the commands that
// attach it, and with --save-as the new version's UID last. Runs through the services'
// startServingNbd/stopServingNbd.
import { resolve } from 'node:path';
import { UsageError, type Command } from './commands';

export const serveNbdCommand: Command = {
  usage: 'serve-nbd UID [--socket PATH | --port N] [--cow [--save-as NAME]]',
  summary: 'serve a version over NBD on a Unix socket or 127.0.0.1 (default port 10809; read-only unless --cow; --save-as NAME keeps the changed disk as a new version when stopped) until interrupted',
  options: { socket: { type: 'string' }, port: { type: 'string', short: 'p' }, cow: { type: 'boolean' }, 'save-as': { type: 'string' } },
  args: [1, 1],
  finishesAfterInterrupt: true,
  async run(ctx) {
    const socket = typeof ctx.values.socket === 'string' ? resolve(ctx.values.socket) : undefined;
    const portText = typeof ctx.values.port === 'string' ? ctx.values.port : undefined;
    if (socket !== undefined && portText !== undefined) throw new UsageError('give --socket or --port, not both');
    const port = portText === undefined ? 10809 : Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got "${portText}"`);
    const cow = ctx.values.cow === true;
    const saveAs = typeof ctx.values['save-as'] === 'string' ? ctx.values['save-as'] : undefined;
    if (saveAs !== undefined && !cow) throw new UsageError('--save-as needs --cow: only writes to the overlay make a changed disk to save');
    const api = await ctx.api();
    const uid = ctx.positionals[0]!;
    const serving = await api.startServingNbd(socket !== undefined ? { uid, socket, cow, saveAs } : { uid, port, cow, saveAs });
    ctx.out(serving.url);
    ctx.err(`serving version ${serving.uid}${cow ? ` (writes go to the overlay ${serving.overlay})` : ' read-only'}; attach with one of:`);
    for (const line of serving.attach) ctx.err(`  ${line}`);
    ctx.err(saveAs !== undefined ? `press Ctrl-C to stop and save the changed disk as a new version named ${saveAs}` : 'press Ctrl-C to stop');
    await new Promise<void>((done) => {
      if (ctx.signal.aborted) done();
      ctx.signal.addEventListener('abort', () => done(), { once: true });
    });
    if (saveAs !== undefined) ctx.err(`stopped serving; saving ${serving.uid} with its changes as ${saveAs}`);
    const stopped = await api.stopServingNbd({ id: serving.id });
    if (stopped.lastError) ctx.err(`last error served to a client: ${stopped.lastError}`);
    const overlay = !cow ? '' : stopped.saved ? `, ${stopped.changedBlocks} blocks changed in the overlay (saved)` : `, ${stopped.changedBlocks} blocks changed in the overlay (discarded)`;
    ctx.err(`stopped; ${stopped.blocksVerified} blocks read and verified${overlay}`);
    if (stopped.saved) {
      ctx.err(`saved as version ${stopped.saved.uid} (name ${saveAs}, base ${serving.uid}; job ${stopped.saved.job})`);
      ctx.out(stopped.saved.uid);
    }
  },
};

// Serving versions over NBD (instant access): start, list and stop servings of the current
// repository's versions. A serving lives in this process until stopped or until the services
// close; the GUI shows its URL and the commands that attach it. A copy-on-write serving with
// `saveAs` is saved when it stops (by stopServingNbd, or when the services close): a backup
// job makes its changed disk a new version on top of the served one.
import { randomBytes } from 'node:crypto';
import type { Api } from '../../src-shared/api/contract';
import { humanBytes, humanDuration } from '../../src-shared/api/format';
import type { NbdServing } from '../../src-shared/api/types';
import { EngineError } from '../engine/errors';
import { saveServing, serveVersion, type Serving } from '../engine/nbd/serve-version';
import type { ServiceContext } from './context';

type NbdApi = Pick<Api, 'startServingNbd' | 'stopServingNbd' | 'listServingsNbd'>;

const MAX_SERVINGS = 16;

interface Entry {
  serving: Serving;
  cow: boolean;
  saveAs: string | null;
  started: number;
}

export function nbdServices(ctx: ServiceContext): NbdApi {
  const servings = new Map<string, Entry>();
  const view = (id: string): NbdServing => {
    const entry = servings.get(id);
    if (!entry) throw new EngineError('NOT_FOUND', `no NBD serving ${id}`);
    const { serving, cow, saveAs, started } = entry;
    return {
      id, uid: serving.uid, url: serving.url, attach: serving.attach, cow, started,
      connections: serving.server.connectionCount, blocksVerified: serving.backend.blocksVerified, changedBlocks: serving.backend.changedBlocks,
      lastError: serving.server.lastError?.message ?? null, overlay: serving.backend.overlayPath, saveAs,
    };
  };

  /** The save job of a stopping serving: waits for it; its failure is this call's error. */
  const save = async (entry: Entry, name: string): Promise<{ uid: string; job: string }> => {
    const repo = ctx.requireRepo();
    const { serving } = entry;
    const job = ctx.jobs.submit({
      kind: 'backup',
      title: `Save the changes to ${serving.uid.slice(0, 8)} served over NBD as ${name}`,
      params: { source: `serve-nbd ${serving.uid} --cow`, name, snapshot: null, tags: [], from: serving.uid, hints: null, uid: null, saveAs: name, changedBlocks: serving.backend.changedBlocks },
      run: async ({ signal, onProgress, log }) => {
        log(`saving the served disk of version ${serving.uid} as ${name}: ${serving.backend.changedBlocks} changed blocks from the overlay, every other block from ${serving.uid}`);
        const result = await saveServing(repo, serving, { name, signal, onProgress });
        const s = result.stats;
        log(`version ${result.uid}: ${s.blocksWritten} new, ${s.blocksDedup} deduplicated, ${s.blocksSparse} sparse, ${s.blocksFromBase} from base; stored ${humanBytes(s.bytesStored)} in ${humanDuration(s.durationMs / 1000)}`);
        ctx.events.emit('versionsChanged', { reason: 'backup', uids: [result.uid] });
        return { kind: 'backup', value: result };
      },
    });
    const ended = await ctx.jobs.wait(job.id);
    if (ended.state === 'succeeded' && ended.result?.kind === 'backup') return { uid: ended.result.value.uid, job: job.id };
    const error = ended.error ?? { code: 'INTERNAL' as const, message: `job ${job.id} ${ended.state}` };
    throw new EngineError(error.code, `the changes to version ${serving.uid} were not saved as ${name} (job ${job.id}): ${error.message}; version ${serving.uid} is unchanged`);
  };

  /** Stops a serving, saving it first when it has a saveAs; the overlay is removed either way. */
  const stop = async (id: string): Promise<NbdServing> => {
    const result = view(id);
    const entry = servings.get(id)!;
    servings.delete(id);
    try {
      if (entry.saveAs !== null) result.saved = await save(entry, entry.saveAs);
    } finally {
      await entry.serving.stop();
    }
    return { ...result, connections: 0, overlay: null };
  };

  ctx.closers.push(async () => {
    await Promise.all([...servings.keys()].map((id) => stop(id).catch(() => undefined)));
  });
  return {
    async startServingNbd({ uid, socket, port, cow, saveAs }) {
      const repo = ctx.requireRepo();
      if (servings.size >= MAX_SERVINGS) throw new EngineError('INVALID_ARGUMENT', `already serving ${servings.size} versions; stop one first`);
      if (socket !== undefined) ctx.checkOutsideRepository(socket, 'socket');
      const serving = await serveVersion(repo, uid, { listen: socket !== undefined ? { socket } : { port: port ?? 0 }, cow, saveAs });
      const id = randomBytes(8).toString('hex');
      servings.set(id, { serving, cow: cow === true, saveAs: saveAs ?? null, started: Date.now() });
      return view(id);
    },
    async stopServingNbd({ id }) {
      return stop(id);
    },
    async listServingsNbd() {
      return [...servings.keys()].map(view);
    },
  };
}

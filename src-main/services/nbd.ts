// Serving versions over NBD (instant access): start, list and stop servings of the current
// repository's versions. A serving lives in this process until stopped or until the services
// close; the GUI shows its URL and the commands that attach it.
import { randomBytes } from 'node:crypto';
import type { Api } from '../../src-shared/api/contract';
import type { NbdServing } from '../../src-shared/api/types';
import { EngineError } from '../engine/errors';
import { serveVersion, type Serving } from '../engine/nbd/serve-version';
import type { ServiceContext } from './context';

type NbdApi = Pick<Api, 'startServingNbd' | 'stopServingNbd' | 'listServingsNbd'>;

const MAX_SERVINGS = 16;

export function nbdServices(ctx: ServiceContext): NbdApi {
  const servings = new Map<string, { serving: Serving; cow: boolean; started: number }>();
  const view = (id: string): NbdServing => {
    const entry = servings.get(id);
    if (!entry) throw new EngineError('NOT_FOUND', `no NBD serving ${id}`);
    const { serving, cow, started } = entry;
    return {
      id, uid: serving.uid, url: serving.url, attach: serving.attach, cow, started,
      connections: serving.server.connectionCount, blocksVerified: serving.backend.blocksVerified, changedBlocks: serving.backend.changedBlocks,
      lastError: serving.server.lastError?.message ?? null,
    };
  };
  ctx.closers.push(async () => {
    await Promise.all([...servings.values()].map((entry) => entry.serving.stop()));
    servings.clear();
  });
  return {
    async startServingNbd({ uid, socket, port, cow }) {
      const repo = ctx.requireRepo();
      if (servings.size >= MAX_SERVINGS) throw new EngineError('INVALID_ARGUMENT', `already serving ${servings.size} versions; stop one first`);
      if (socket !== undefined) ctx.checkOutsideRepository(socket, 'socket');
      const serving = await serveVersion(repo, uid, { listen: socket !== undefined ? { socket } : { port: port ?? 0 }, cow });
      const id = randomBytes(8).toString('hex');
      servings.set(id, { serving, cow: cow === true, started: Date.now() });
      return view(id);
    },
    async stopServingNbd({ id }) {
      const result = view(id);
      await servings.get(id)!.serving.stop();
      servings.delete(id);
      return { ...result, connections: 0 };
    },
    async listServingsNbd() {
      return [...servings.keys()].map(view);
    },
  };
}

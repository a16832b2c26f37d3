// Services: the one implementation of the contract (src-shared/api/contract.ts) over the
// engine and the job manager. Electron IPC, the web server and the CLI call these; none of
// them holds logic of its own. `dispatch` is the boundary: it validates the arguments of an
// untrusted call with the method's schema and turns every outcome into a Result.
import type { Api } from '../../src-shared/api/contract';
import { isApiMethod, METHOD_NAMES } from '../../src-shared/api/contract';
import type { Result } from '../../src-shared/api/errors';
import { validateArgs } from '../../src-shared/api/schemas';
import { EngineError, serializeError } from '../engine/errors';
import { AppConfig, defaultConfigDir } from './config';
import { ServiceContext, type ServiceOptions } from './context';
import { EventHub } from './events';
import { copyServices } from './copy';
import { browseServices } from './browse';
import { historyServices } from './history';
import { jobServices } from './jobs';
import { policyServices } from './policies';
import { Scheduler } from './scheduler';
import { migrateServices } from './migrate';
import { nbdServices } from './nbd';
import { repositoryServices } from './repository';
import { systemServices } from './system';
import { versionServices } from './versions';

export type { Dialogs, ServiceOptions } from './context';
// The error vocabulary every client of the services speaks (the CLI throws and prints these).
export { EngineError, serializeError, toEngineError } from '../engine/errors';
export { recoverRepository, restoreWithoutDatabase, type Credentials as StoreCredentials } from './recover';

export interface Services {
  api: Api;
  context: ServiceContext;
  events: EventHub;
  /** the policies' scheduler, when the services run one (options.schedule) */
  scheduler: Scheduler | null;
  /** Cancels running jobs, waits for them and closes the repository. */
  close(): Promise<void>;
}

export function createServices(options: ServiceOptions): Services {
  const events = new EventHub();
  const context = new ServiceContext(options, events, new AppConfig(options.configDir ?? defaultConfigDir()));
  // Spelled out as an object of type Api: a method the contract declares and no service
  // implements is a type error here.
  const scheduler = options.schedule ? new Scheduler(context, { mode: options.mode, clock: options.clock, note: options.note }) : null;
  if (scheduler) {
    // Every repository opened is served, unless another process (a daemon) serves it already.
    events.on((name, payload) => {
      if (name !== 'repositoryChanged' || !payload) return;
      const path = (payload as { path: string }).path;
      try {
        scheduler.attach(path);
      } catch (error) {
        options.note?.(`${path}: not scheduling here: ${(error as Error).message}`);
      }
    });
    context.closing.add((path) => scheduler.detach(path));
  }
  const api: Api = {
    ...systemServices(context),
    ...repositoryServices(context),
    ...versionServices(context),
    ...jobServices(context),
    ...historyServices(context),
    ...browseServices(context),
    ...migrateServices(context),
    ...copyServices(context),
    ...nbdServices(context),
    ...policyServices(context, (path) => scheduler?.refresh(path)),
  };
  return {
    api,
    context,
    events,
    scheduler,
    close: async () => {
      scheduler?.stop();
      await context.close();
    },
  };
}

/** Validates and runs one call from a transport; never throws. */
export async function dispatch(api: Api, method: unknown, args: unknown): Promise<Result<unknown>> {
  if (!isApiMethod(method)) {
    return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `unknown method ${JSON.stringify(String(method).slice(0, 64))}` } };
  }
  const validated = validateArgs(method, args);
  if (!validated.ok) return { ok: false, error: { code: 'INVALID_ARGUMENT', message: validated.message } };
  try {
    const call = api[method] as (args: unknown) => Promise<unknown>;
    return { ok: true, value: await call(validated.value) };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  }
}

/**
 * The API for an in-process client (the CLI, the daemon): every call validated with the
 * method's schema, as a transport would; errors are thrown (with their stack) rather than
 * returned as Results.
 */
export function validatedApi(api: Api): Api {
  const wrapped = {} as Record<string, (args: unknown) => Promise<unknown>>;
  for (const method of METHOD_NAMES) {
    const call = api[method] as (args: unknown) => Promise<unknown>;
    wrapped[method] = async (args: unknown) => {
      const validated = validateArgs(method, args);
      if (!validated.ok) throw new EngineError('INVALID_ARGUMENT', validated.message);
      return call(validated.value);
    };
  }
  return wrapped as unknown as Api;
}

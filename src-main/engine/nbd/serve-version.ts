// Serving a version over NBD (instant access): a VersionExport behind an NbdServer on a Unix
// socket or 127.0.0.1, with the commands that attach it. The CLI's serve-nbd and the services
// (the GUI's "Serve over NBD") both start and stop servings through here.
import { formatNbdUrl } from './address';
import { NbdServer, type Listen } from './server';
import { VersionExport } from './version-export';
import type { Repository } from '../repository';

export interface ServeVersionOptions {
  /** a Unix socket path, or a TCP port on 127.0.0.1 (0: any free port) */
  listen: Listen;
  /** writes go to an in-memory overlay instead of being refused */
  cow?: boolean;
  exportName?: string;
}

export interface Serving {
  uid: string;
  url: string;
  /** ways to attach the export (for people: printed by the CLI, shown by the GUI) */
  attach: string[];
  readonly backend: VersionExport;
  readonly server: NbdServer;
  stop(): Promise<void>;
}

export async function serveVersion(repo: Repository, uid: string, options: ServeVersionOptions): Promise<Serving> {
  const backend = VersionExport.open(repo, uid, { cow: options.cow });
  const server = await NbdServer.listen(options.listen, options.exportName ?? backend.uid, backend);
  const url = formatNbdUrl(server.address);
  const endpoint = server.address.endpoint;
  const clientArgs = endpoint.kind === 'unix' ? `-unix ${endpoint.path}` : `${endpoint.host} ${endpoint.port}`;
  const attach = [
    `qemu-img info ${url}`,
    `nbdinfo --map ${url}`,
    `qemu-nbd --connect=/dev/nbd0 ${endpoint.kind === 'unix' ? `--socket=${endpoint.path}` : `--port=${endpoint.port} 127.0.0.1`} --export-name=${server.address.exportName}${options.cow ? '' : ' --read-only'}`,
    `nbd-client ${clientArgs} /dev/nbd0 -N ${server.address.exportName}`,
    `nbdfuse ${options.cow ? '' : '-r '}/tmp/mnt/${backend.uid} --uri ${url}`,
  ];
  return { uid: backend.uid, url, attach, backend, server, stop: () => server.close() };
}

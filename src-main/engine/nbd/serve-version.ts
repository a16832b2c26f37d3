// Serving a version over NBD (instant access): a VersionExport behind an NbdServer on a Unix
// socket or 127.0.0.1, with the commands that attach it. The CLI's serve-nbd and the services
// (the GUI's "Serve over NBD") both start and stop servings through here.
import { formatNbdUrl, type NbdEndpoint } from './address';
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
  const attach = attachCommands(url, server.address.endpoint, server.address.exportName, backend.uid, options.cow === true);
  return { uid: backend.uid, url, attach, backend, server, stop: () => server.close() };
}

/** A word for a POSIX shell: as it is when it has no special characters, else in single quotes. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_\/.:,=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Commands that attach a served export, ready to paste into a shell (the URL is quoted: its
 * `?` is a glob character): inspect it, copy it to a file, map its data, mount it as a file
 * with FUSE, or connect it as a kernel block device where the nbd module exists.
 */
export function attachCommands(url: string, endpoint: NbdEndpoint, exportName: string, uid: string, cow: boolean): string[] {
  const u = shellWord(url);
  const mountpoint = shellWord(`/tmp/mnt/${uid}`);
  const nbdClientAddress = endpoint.kind === 'unix' ? `-unix ${shellWord(endpoint.path)}` : `${endpoint.host} ${endpoint.port}`;
  return [
    `qemu-img info ${u}`,
    `qemu-img convert -p -O raw ${u} ${shellWord(`${uid}.raw`)}`,
    `nbdinfo --map ${u}`,
    `mkdir -p ${mountpoint} && nbdfuse ${cow ? '' : '-r '}${mountpoint} ${u} &`,
    `qemu-nbd --connect=/dev/nbd0 --format=raw${cow ? '' : ' --read-only'} ${u}`,
    `nbd-client ${nbdClientAddress} /dev/nbd0 -N ${shellWord(exportName)}${cow ? '' : ' -readonly'}`,
  ];
}

// Migration service: `startMigrate` reads and checks another tool's metadata (backy2 dumps,
// Benji exports) at once, so a malformed file, a clashing UID or another block size fails the
// call and changes nothing; then a job reads, checks and stores the data (engine/migrate).
import { readFileSync } from 'node:fs';
import type { Api } from '../../src-shared/api/contract';
import { humanBytes } from '../../src-shared/api/format';
import { EngineError } from '../engine/errors';
import { Backy2DataFolder, escapeField, parseBacky2Dump, parseBacky2Listing, type Backy2Version } from '../engine/migrate/backy2';
import { BenjiDataFolder, parseBenjiExport } from '../engine/migrate/benji';
import { checkMigration, migrateVersions, type LegacyDataReader, type LegacyVersion } from '../engine/migrate/legacy';
import type { ServiceContext } from './context';
import { inspectPath } from './system';

/** Metadata files are read whole; backy2 dumps are about 200 bytes per block. */
const MAX_METADATA_BYTES = 4 * 1024 ** 3;

function readMetadata(file: string): string {
  const info = inspectPath(file);
  if (info.kind !== 'file') throw new EngineError('NOT_FOUND', `${file} is not a file`);
  if (info.size > MAX_METADATA_BYTES) throw new EngineError('INVALID_ARGUMENT', `${file} is larger than ${humanBytes(MAX_METADATA_BYTES)}`);
  return readFileSync(file, 'utf8');
}

export function migrateServices(ctx: ServiceContext): Pick<Api, 'startMigrate'> {
  return {
    async startMigrate({ tool, dumps, data, listing, hash }) {
      const repo = ctx.requireRepo();
      if (inspectPath(data).kind !== 'directory') throw new EngineError('NOT_FOUND', `${tool} data folder ${data} is not a folder`);
      ctx.checkOutsideRepository(data, 'data folder');
      let versions: LegacyVersion[] = dumps.flatMap((file) => (tool === 'benji' ? parseBenjiExport(readMetadata(file), file) : parseBacky2Dump(readMetadata(file), file)));
      if (listing) {
        const tags = parseBacky2Listing(readMetadata(listing));
        versions = versions.map((v) => ({ ...v, tags: [...new Set([...(tags.get(v.legacyUid) ?? []).map(escapeField), ...v.tags])].sort() }));
      }
      const reader: LegacyDataReader = tool === 'benji' ? new BenjiDataFolder(data, hash) : new Backy2DataFolder(data, hash ?? 'sha512');
      checkMigration(repo, versions, tool);
      const expiring = versions.filter((v) => (v as Backy2Version).expire).length;
      const bytes = versions.reduce((sum, v) => sum + v.sizeBytes, 0);
      return ctx.jobs.submit({
        kind: 'migrate',
        title: `Migrate ${versions.length} ${tool} version(s) from ${data}`,
        params: { tool, dumps, data, listing: listing ?? null, versions: versions.length },
        run: async ({ signal, onProgress, log }) => {
          log(`${versions.length} ${tool} version(s), ${humanBytes(bytes)}, data in ${data}`);
          try {
            const results = await migrateVersions(repo, {
              versions, reader, tool, signal, onProgress,
              onVersion: (v, i, count) => log(`version ${v.uid} (${v.name}), ${i + 1} of ${count}`),
            });
            for (const r of results) {
              const failed = r.problems.length + r.blocksFailedEarlier;
              log(`${r.uid}: ${r.outcome}, ${r.status}${failed ? `, ${failed} block(s) failed` : ''}`, failed ? 'warn' : 'info');
              for (const p of r.problems.slice(0, 20)) log(`  block ${p.idx}: ${p.kind}: ${p.detail}`, 'warn');
            }
            return { kind: 'migrate', value: { tool, versions: results, expiring } };
          } finally {
            ctx.events.emit('versionsChanged', { reason: 'migrate', uids: versions.map((v) => v.uid) });
          }
        },
      });
    },
  };
}

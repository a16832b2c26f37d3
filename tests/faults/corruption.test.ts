// Fault suite, corruption: objects flipped, truncated, deleted and swapped are all found by a
// deep scrub and mapped to exactly the versions that reference them; bit flips in the blocks
// table (as values and as raw pages) and anywhere in metadata.sqlite never let restore or a
// deep scrub exit 0 with a wrong image: each either still gives the right bytes or refuses
// with a coded error and no stack trace.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { cpSync, existsSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, blockDigests, cli, initRepo, objectNames, objectPath, sha256File, tempDir, writeBlocks } from '../helpers';
import { random, recordFigure, runSeed, timePart } from './figures';

interface Report { uid: string; problems: Array<{ idx: number; object: string | null; kind: string }>; invalidatedVersions: string[] }

const PART = 'corruption';

describe('fault suite: corruption', () => {
  timePart(PART);
  const dir = tempDir('bv-faults-corruption-');
  const golden = join(dir, 'golden');
  const images = new Map<string, { path: string; sha256: string }>();
  const uses = new Map<string, Set<string>>(); // object -> versions referencing it
  const seed = runSeed(PART);
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];

  before(async () => {
    const repo = await initRepo(dir, [], 'golden');
    assert.equal(repo, golden);
    // Shared, exclusive, repeated and sparse blocks, and a short last block.
    const layouts: Array<[string, number[], number]> = [
      ['a', [1, 2, 0, 3, 4, 5, 6, 7, 8, 0, 9, 10], 0],
      ['b', [11, 1, 2, 0, 12, 13, 14, 0, 15], 5000],
      ['c', [20, 20, 21, 20, 0, 0, 22, 1], 0],
      ['d', [30, 31, 32, 33, 34, 2, 35], 777],
    ];
    for (const [name, seeds, tail] of layouts) {
      const path = join(dir, `${name}.img`);
      writeBlocks(path, seeds.map((s) => (s ? s + 1000 : 0)), undefined, tail);
      const uid = await backupCli(repo, path, name);
      images.set(uid, { path, sha256: await sha256File(path) });
      for (const digest of blockDigests(repo, uid)) {
        if (!digest) continue;
        if (!uses.has(digest)) uses.set(digest, new Set());
        uses.get(digest)!.add(uid);
      }
    }
  });

  function trialRepo(name: string): string {
    const repo = join(dir, name);
    rmSync(repo, { recursive: true, force: true });
    cpSync(golden, repo, { recursive: true });
    return repo;
  }

  async function deepScrub(repo: string): Promise<{ code: number; reports: Report[]; stderr: string }> {
    const result = await cli(['--repo', repo, 'scrub', '--all', '--deep', '--json']);
    let reports: Report[] = [];
    if (result.stdout.trim()) reports = JSON.parse(result.stdout) as Report[];
    return { code: result.code, reports, stderr: result.stderr };
  }

  function assertCleanRefusal(what: string, result: { code: number; stderr: string }): void {
    assert.match(result.stderr, /error \[[A-Z_]+\]: \S/, `${what}: refused without a coded error: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+/, `${what}: stack trace without -v: ${result.stderr}`);
  }

  it('finds every flipped, truncated, deleted and swapped object and maps it to the right versions', async () => {
    const objects = [...uses.keys()].sort();
    assert.equal(objectNames(golden).length, objects.length);
    let injected = 0;
    let found = 0;
    let versionsRight = 0;
    const trials = 12;
    for (let trial = 0; trial < trials; trial++) {
      const repo = trialRepo('objects');
      const damaged = new Set<string>();
      const count = 1 + Math.floor(rnd() * 3);
      for (let i = 0; i < count; i++) {
        const kind = pick(['flip', 'truncate', 'delete', 'swap'] as const);
        const object = pick(objects);
        if (damaged.has(object)) continue;
        const path = objectPath(repo, object);
        const size = statSync(path).size;
        if (kind === 'flip') {
          const data = readFileSync(path);
          data[Math.floor(rnd() * size)] ^= 1 << Math.floor(rnd() * 8);
          writeFileSync(path, data);
        } else if (kind === 'truncate') {
          truncateSync(path, Math.floor(rnd() * size));
        } else if (kind === 'delete') {
          unlinkSync(path);
        } else {
          const other = pick(objects.filter((o) => o !== object && !damaged.has(o)));
          const otherPath = objectPath(repo, other);
          const mine = readFileSync(path);
          writeFileSync(path, readFileSync(otherPath));
          writeFileSync(otherPath, mine);
          damaged.add(other);
        }
        damaged.add(object);
      }
      injected += damaged.size;
      const { code, reports, stderr } = await deepScrub(repo);
      assert.equal(code, 20, `trial ${trial}: deep scrub exit ${code}: ${stderr}`);
      const reported = new Set(reports.flatMap((r) => r.problems.map((p) => p.object)).filter((o): o is string => o !== null));
      for (const object of damaged) if (reported.has(object)) found++;
      assert.deepEqual([...reported].sort(), [...damaged].sort(), `trial ${trial} (seed ${seed}): scrub reported other objects than were damaged`);
      const expectedVersions = new Set([...damaged].flatMap((o) => [...uses.get(o)!]));
      const badVersions = new Set(reports.filter((r) => r.problems.length > 0).map((r) => r.uid));
      const invalidated = new Set(reports.flatMap((r) => r.invalidatedVersions));
      assert.deepEqual([...badVersions].sort(), [...expectedVersions].sort(), `trial ${trial}: versions with problems`);
      assert.deepEqual([...invalidated].sort(), [...expectedVersions].sort(), `trial ${trial}: versions marked invalid`);
      versionsRight++;
    }
    recordFigure(PART, 'object faults found by deep scrub', `${found}/${injected}`, '100%');
    recordFigure(PART, 'trials mapped to exactly the right versions', `${versionsRight}/${trials}`, '100%');
    assert.equal(found, injected);
  });

  /** Restores every version and deep-scrubs: counts outcomes, fails on any wrong image. */
  async function judge(repo: string, what: string, tally: Map<string, number>): Promise<void> {
    const bump = (key: string): void => { tally.set(key, (tally.get(key) ?? 0) + 1); };
    const scrub = await deepScrub(repo);
    if (scrub.code !== 0 && scrub.code !== 20) assertCleanRefusal(`${what}: scrub`, scrub);
    const scrubbedOk = new Set(scrub.code === 0 ? scrub.reports.map((r) => r.uid) : []);
    for (const [uid, image] of images) {
      const target = join(dir, 'restored.img');
      rmSync(target, { force: true });
      const result = await cli(['--repo', repo, 'restore', uid, target]);
      if (result.code === 0) {
        const actual = await sha256File(target);
        assert.equal(actual, image.sha256, `${what}: restore of ${uid} exited 0 with a wrong image (seed ${seed})`);
        assert.equal(statSync(target).size, statSync(image.path).size);
        bump('restored exact');
      } else {
        assertCleanRefusal(`${what}: restore of ${uid}`, result);
        assert.ok(!existsSync(target), `${what}: a refused restore left ${target}`);
        assert.ok(!scrubbedOk.has(uid), `${what}: deep scrub passed ${uid} but restore refused it: ${result.stderr}`);
        bump(`refused [${/error \[([A-Z_]+)\]/.exec(result.stderr)![1]}]`);
      }
    }
  }

  it('bit flips in block rows never give a wrong image', async () => {
    const tally = new Map<string, number>();
    let changed = 0;
    for (let trial = 0; trial < 24; trial++) {
      const repo = trialRepo('rows');
      const db = new Database(join(repo, 'metadata.sqlite'));
      const rows = db.prepare('SELECT version_id, idx, object_id FROM blocks').all() as Array<{ version_id: number; idx: number; object_id: number | null }>;
      const row = pick(rows);
      const column = pick(['idx', 'object_id', 'object_id', 'version_id'] as const);
      const bit = 1 << Math.floor(rnd() * (column === 'object_id' ? 6 : 4));
      try {
        const next = column === 'object_id' && row.object_id === null ? bit : (row[column] as number) ^ bit;
        changed += db.prepare(`UPDATE blocks SET ${column} = ? WHERE version_id = ? AND idx = ?`).run(next, row.version_id, row.idx).changes;
      } catch {
        // the flip collides with another row's key: SQLite refused it, nothing changed
      } finally {
        db.close();
      }
      await judge(repo, `trial ${trial} (${column} ^ ${bit} at version #${row.version_id} block ${row.idx})`, tally);
    }
    recordFigure(PART, 'block-row flips applied', changed);
    recordFigure(PART, 'block-row flips: restores', [...tally].map(([k, v]) => `${k} ${v}`).join(', '), 'no wrong image');
    assert.ok(changed >= 8, `only ${changed} flips applied`);
    assert.ok((tally.get('restored exact') ?? 0) > 0 && [...tally.keys()].some((k) => k.startsWith('refused')));
  });

  /** Flips one random bit of a random byte in the given pages (all pages when none given). */
  function flipPageBit(repo: string, pages: number[] | null): string {
    const file = join(repo, 'metadata.sqlite');
    const data = readFileSync(file);
    const pageSize = data.readUInt16BE(16) === 1 ? 65536 : data.readUInt16BE(16);
    const page = pages ? pick(pages) : 1 + Math.floor(rnd() * (data.length / pageSize));
    const offset = (page - 1) * pageSize + Math.floor(rnd() * pageSize);
    const bit = Math.floor(rnd() * 8);
    data[offset] ^= 1 << bit;
    writeFileSync(file, data);
    return `page ${page} byte ${offset} bit ${bit}`;
  }

  it('bit flips in the pages of the blocks table never give a wrong image', async () => {
    const db = new Database(join(golden, 'metadata.sqlite'), { readonly: true });
    const pages = (db.prepare("SELECT pageno FROM dbstat WHERE name = 'blocks'").all() as Array<{ pageno: number }>).map((r) => r.pageno);
    db.close();
    assert.ok(pages.length > 0);
    const tally = new Map<string, number>();
    for (let trial = 0; trial < 16; trial++) {
      const repo = trialRepo('pages');
      const where = flipPageBit(repo, pages);
      await judge(repo, `trial ${trial} (blocks ${where})`, tally);
    }
    recordFigure(PART, 'blocks-page flips: restores', [...tally].map(([k, v]) => `${k} ${v}`).join(', '), 'no wrong image');
  });

  it('bit flips anywhere in metadata.sqlite never give a wrong image', async () => {
    const tally = new Map<string, number>();
    for (let trial = 0; trial < 16; trial++) {
      const repo = trialRepo('file');
      const where = flipPageBit(repo, null);
      await judge(repo, `trial ${trial} (${where})`, tally);
    }
    recordFigure(PART, 'file flips: restores', [...tally].map(([k, v]) => `${k} ${v}`).join(', '), 'no wrong image');
  });
});

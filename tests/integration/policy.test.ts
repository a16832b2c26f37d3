// Policies and prune from the command line: add/edit/rm/ls with validation that changes
// nothing; prune --dry-run changes nothing; prune never removes protected or too-young
// versions and says why for each; policies travel with an export.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { PolicyInfo, PrunePlan } from '../../src-shared/api/policy';
import { backupCli, cli, initRepo, lsJson, ok, openDb, query, repoState, tempDir, writeBlocks } from '../helpers';

describe('policies and prune', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'disk.img');
  const uids: string[] = [];

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '3']);
    writeBlocks(image, [1, 2, 0, 3]);
    for (let i = 0; i < 6; i++) uids.push(await backupCli(repo, image, 'disk'));
    // Backdate: one version a day, the newest today (too young under a 3-day minimum age).
    const db = openDb(repo, false);
    uids.forEach((uid, i) => db.prepare('UPDATE versions SET date = ? WHERE uid = ?').run(Date.now() - (5 - i) * 86_400_000 - 60_000, uid));
    db.close();
  });

  const policies = async (): Promise<PolicyInfo[]> => JSON.parse(await ok(['--repo', repo, 'policy', 'ls', '--json'])) as PolicyInfo[];

  it('policy add, edit, ls and rm; bad input is refused and changes nothing', async () => {
    await ok(['--repo', repo, 'policy', 'add', 'disk', '--source', image, '--cron', '0 3 * * *', '--tz', 'Europe/Berlin', '-t', 'nightly', '--keep-daily', '2']);
    const [policy] = await policies();
    assert.equal(policy.kind, 'backup');
    assert.deepEqual(policy.schedule, { cron: '0 3 * * *', timeZone: 'Europe/Berlin' });
    assert.deepEqual(policy.retention, { keepDaily: 2 });
    assert.ok(policy.nextRun && Date.parse(policy.nextRun) > Date.now());
    const before = JSON.stringify(await policies());
    for (const [args, code] of [
      [['add', 'disk', '--source', image], /ALREADY_EXISTS/],
      [['add', 'other', '--source', image, '--cron', '0 3 * *'], /five fields/],
      [['add', 'other', '--source', image, '--every', '1h', '--tz', 'Mars/Base'], /time zone/],
      [['add', 'other'], /needs a source/],
      [['add', 'other', '--verify', '--keep-daily', '3'], /belong to backup policies/],
      [['add', 'other', '--source', join(repo, 'x.img')], /inside the repository/],
      [['edit', 'nobody', '--keep-daily', '1'], /NOT_FOUND/],
      [['rm', 'nobody'], /NOT_FOUND/],
    ] as const) {
      const result = await cli(['--repo', repo, 'policy', ...args]);
      assert.equal(result.code, 1, `policy ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, code);
    }
    assert.equal(JSON.stringify(await policies()), before, 'refused calls changed nothing');
    await ok(['--repo', repo, 'policy', 'edit', 'disk', '--keep-weekly', '1', '--on-failure', 'true']);
    const [edited] = await policies();
    assert.deepEqual(edited.retention, { keepDaily: 2, keepWeekly: 1 });
    assert.deepEqual(edited.notify, { onFailure: 'true' });
    await ok(['--repo', repo, 'policy', 'add', 'verify-all', '--verify', '--every', '1w', '-p', '10']);
    assert.deepEqual((await policies()).map((p) => `${p.kind}:${p.name}`).sort(), ['backup:disk', 'verify:verify-all']);
    await ok(['--repo', repo, 'policy', 'rm', 'verify-all']);
    assert.equal((await policies()).length, 1);
  });

  it('prune --dry-run changes nothing; prune keeps protected and too-young versions and says why', async () => {
    await ok(['--repo', repo, 'protect', uids[0]]);
    const before = repoState(repo);
    const plan = JSON.parse(await ok(['--repo', repo, 'prune', '--keep-last', '1', '--dry-run', '--json'])) as PrunePlan;
    assert.equal(repoState(repo), before, 'dry run changed nothing');
    const reason = (uid: string): string => plan.decisions.find((d) => d.uid === uid)!.reason;
    assert.equal(reason(uids[5]), 'kept: last #1');
    assert.equal(reason(uids[4]), 'kept: younger than the minimum age of 3 days');
    assert.equal(reason(uids[3]), 'kept: younger than the minimum age of 3 days');
    assert.equal(reason(uids[2]), 'removed: beyond keep-last 1');
    assert.equal(reason(uids[0]), 'kept: protected');
    const text = await ok(['--repo', repo, 'prune', '--keep-last', '1']);
    assert.match(text, /remove\s+beyond keep-last 1/);
    assert.deepEqual((await lsJson(repo)).map((v) => v.uid).sort(), [uids[0], uids[3], uids[4], uids[5]].sort());
    const [job] = query<{ kind: string; state: string }>(repo, 'SELECT kind, state FROM jobs ORDER BY created DESC LIMIT 1');
    assert.deepEqual(job, { kind: 'prune', state: 'succeeded' });
    // Without rules: the disk's policy (keep-daily 2, keep-weekly 1).
    const byPolicy = JSON.parse(await ok(['--repo', repo, 'prune', '--dry-run', '--json'])) as PrunePlan;
    assert.ok(byPolicy.decisions.every((d) => d.keep), JSON.stringify(byPolicy.decisions.map((d) => d.reason)));
    const none = await cli(['--repo', repo, 'prune', '-n', 'ghost']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no policy with retention rules/);
  });

  it('the disk\'s policy travels with an export of its versions', async () => {
    const file = join(dir, 'export.jsonl');
    const versions = (await lsJson(repo)).map((v) => v.uid);
    await ok(['--repo', repo, 'export', ...versions, '-f', file]);
    const other = await initRepo(dir, [], 'other');
    await ok(['--repo', other, 'import', '-f', file]);
    const imported = JSON.parse(await ok(['--repo', other, 'policy', 'ls', '--json'])) as PolicyInfo[];
    assert.equal(imported.length, 1);
    assert.equal(imported[0].name, 'disk');
    assert.deepEqual(imported[0].retention, { keepDaily: 2, keepWeekly: 1 });
  });
});

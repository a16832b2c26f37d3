// The store's slices with a fake client: loading, errors that keep their code, events that
// write through, late progress that must not undo a final state, and the version selectors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiEventName } from '../../../src-shared/api/contract';
import type { Job, RepositoryInfo } from '../../../src-shared/api/types';
import type { Version } from '../../../src-shared/model';
import { ApiError, type ApiClient, type ConnectionState } from '../../../src-renderer/api/client';
import { bindEvents, createAppStore } from '../../../src-renderer/store/create';
import { parseRoute, routeHash, type Route } from '../../../src-renderer/store/routes';
import { groupVersions, matchesFilter, orderJobs } from '../../../src-renderer/store/selectors';
import { EMPTY_FILTER } from '../../../src-renderer/store/slices';

const repository: RepositoryInfo = {
  path: '/srv/repo',
  store: { kind: 'folder', path: '/srv/repo' },
  settings: { id: 'r', formatVersion: 1, blockSize: 4194304, hash: 'sha256', compression: 'zstd:1', encrypted: false, minAgeDays: 6, cleanupGraceSeconds: 3600, created: '2024-01-01T00:00:00.000Z' },
  maxConcurrentJobs: 2,
};

function version(uid: string, name: string, date: string, extra: Partial<Version> = {}): Version {
  return { uid, name, snapshot: '', date, size: 1024, blockSize: 4194304, blocks: 1, valid: true, status: 'valid', protected: false, tags: [], baseUid: null, source: '/x', ...extra };
}

function job(id: string, state: Job['state'], extra: Partial<Job> = {}): Job {
  return { id, kind: 'backup', state, title: id, params: {}, progress: null, created: '2024-01-01T00:00:00.000Z', started: null, ended: null, result: null, error: null, logs: [], foreign: false, ...extra };
}

/** A fake client: methods answer from a table; events and connection changes are pushed by the test. */
function fakeClient(answers: Record<string, (args: unknown) => unknown>) {
  let emit: (name: ApiEventName, payload: unknown) => void = () => {};
  let connect: (state: ConnectionState) => void = () => {};
  const calls: string[] = [];
  const client = new Proxy({} as Record<string, unknown>, {
    get(_target, key: string) {
      if (key === 'onEvent') return (handler: typeof emit) => { emit = handler; return () => {}; };
      if (key === 'onConnection') return (listener: typeof connect) => { connect = listener; return () => {}; };
      return async (args: unknown) => {
        calls.push(key);
        const answer = answers[key];
        if (!answer) throw new ApiError('INTERNAL', `unexpected call ${key}`);
        return answer(args);
      };
    },
  }) as unknown as ApiClient;
  return { client, calls, emit: (name: ApiEventName, payload: unknown) => emit(name, payload), connect: (state: ConnectionState) => connect(state) };
}

const versions = [
  version('a1', 'alpha', '2024-03-01T10:00:00.000Z', { tags: ['daily'] }),
  version('a2', 'alpha', '2024-03-02T10:00:00.000Z', { status: 'invalid', valid: false, snapshot: 'snap' }),
  version('b1', 'beta', '2024-02-01T10:00:00.000Z', { protected: true, size: 4096 }),
];

test('loadSession fills the session, versions and jobs slices', async () => {
  const fake = fakeClient({
    getAppInfo: () => ({ version: '0.1.0', mode: 'web', nativeDialogs: false, platform: 'linux' }),
    getRepository: () => repository,
    listRecentRepositories: () => [{ path: '/srv/repo', lastOpened: '2024-01-01T00:00:00.000Z' }],
    getSummary: () => ({ versions: 3 }),
    listVersions: () => versions,
    listJobs: () => [job('j1', 'succeeded')],
  });
  const store = createAppStore(fake.client);
  await store.getState().loadSession();
  const state = store.getState();
  assert.equal(state.repository?.path, '/srv/repo');
  assert.equal(state.versions.length, 3);
  assert.equal(state.versionsLoaded, true);
  assert.equal(state.jobs.j1.state, 'succeeded');
  assert.equal(state.recent.length, 1);
});

test('a failed call becomes an error notice that keeps its code', async () => {
  const fake = fakeClient({ openRepository: () => { throw new ApiError('NOT_A_REPOSITORY', '/tmp is not a Blockvault repository'); } });
  const store = createAppStore(fake.client);
  assert.equal(await store.getState().openRepository('/tmp'), false);
  const [notice] = store.getState().notices;
  assert.equal(notice.kind, 'error');
  assert.equal(notice.code, 'NOT_A_REPOSITORY');
  assert.match(notice.context!, /Opening \/tmp/);
  store.getState().dismiss(notice.id);
  assert.equal(store.getState().notices.length, 0);
});

test('an encrypted repository asks for its passphrase: WRONG_KEY opens the dialog, a wrong one shows there, the right one opens', async () => {
  const secret = { ...repository, settings: { ...repository.settings, encrypted: true } };
  const seen: unknown[] = [];
  const fake = fakeClient({
    openRepository: (args) => {
      seen.push(args);
      const { passphrase } = args as { passphrase?: string };
      if (passphrase === undefined) throw new ApiError('WRONG_KEY', '/srv/repo is encrypted: enter its passphrase to open it');
      if (passphrase !== 'right passphrase') throw new ApiError('WRONG_KEY', 'wrong passphrase: no key of this repository opens with it');
      return secret;
    },
    listRecentRepositories: () => [{ path: '/srv/repo', lastOpened: '2024-01-01T00:00:00.000Z', encrypted: true }],
    getSummary: () => ({}),
    listVersions: () => [],
    listJobs: () => [],
  });
  const store = createAppStore(fake.client);
  assert.equal(await store.getState().openRepository('/srv/repo'), false);
  assert.deepEqual(store.getState().passphrasePrompt, { path: '/srv/repo', busy: false, error: null });
  assert.equal(store.getState().notices.length, 0, 'asking is not an error');
  assert.equal(await store.getState().openRepository('/srv/repo', 'wrong passphrase'), false);
  assert.equal(store.getState().passphrasePrompt?.error?.code, 'WRONG_KEY');
  assert.equal(store.getState().repository, null);
  assert.equal(await store.getState().openRepository('/srv/repo', 'right passphrase'), true);
  assert.equal(store.getState().passphrasePrompt, null);
  assert.equal(store.getState().repository?.settings.encrypted, true);
  assert.deepEqual(seen, [{ path: '/srv/repo' }, { path: '/srv/repo', passphrase: 'wrong passphrase' }, { path: '/srv/repo', passphrase: 'right passphrase' }]);
  assert.ok(store.getState().notices.every((n) => !n.message.includes('passphrase:') && !JSON.stringify(n).includes('right passphrase')));
  assert.ok(!JSON.stringify(store.getState()).includes('right passphrase'), 'the store keeps no passphrase');
  store.getState().askPassphrase('/srv/other');
  store.getState().cancelPassphrase();
  assert.equal(store.getState().passphrasePrompt, null);
});

test('an encrypted S3 repository: the passphrase dialog keeps how it is reached, and the open call sends it with the passphrase', async () => {
  const s3 = { endpoint: 'http://rgw.example:7480', pathStyle: true, credentialsFile: '/etc/blockvault/s3' };
  const path = 's3://backups/site-a';
  const opened = { ...repository, path, store: { kind: 's3' as const, endpoint: s3.endpoint, bucket: 'backups', prefix: 'site-a', region: 'us-east-1', pathStyle: true, metadataFile: '/home/u/.local/state/blockvault/repositories/r/metadata.sqlite' }, settings: { ...repository.settings, encrypted: true } };
  const seen: unknown[] = [];
  const fake = fakeClient({
    openRepository: (args) => {
      seen.push(args);
      if ((args as { passphrase?: string }).passphrase === undefined) throw new ApiError('WRONG_KEY', `${path} is encrypted: enter its passphrase to open it`);
      return opened;
    },
    listRecentRepositories: () => [{ path, lastOpened: '2024-01-01T00:00:00.000Z', encrypted: true, s3 }],
    getSummary: () => ({}),
    listVersions: () => [],
    listJobs: () => [],
  });
  const store = createAppStore(fake.client);
  assert.equal(await store.getState().openRepository(path, undefined, s3), false);
  assert.deepEqual(store.getState().passphrasePrompt, { path, s3, busy: false, error: null });
  const prompt = store.getState().passphrasePrompt!;
  assert.equal(await store.getState().openRepository(prompt.path, 'right passphrase', prompt.s3), true);
  assert.deepEqual(seen, [{ path, s3 }, { path, s3, passphrase: 'right passphrase' }]);
  assert.equal(store.getState().repository?.store.kind, 's3');
  assert.equal(store.getState().recent[0].s3?.credentialsFile, '/etc/blockvault/s3');
  // From the recent list: the dialog opens with the remembered connection.
  store.getState().askPassphrase(path, s3);
  assert.deepEqual(store.getState().passphrasePrompt?.s3, s3);
});

test('the desktop app asks for the passphrase of its last repository at start when it is encrypted', async () => {
  const answers = (mode: 'electron' | 'web') => fakeClient({
    getAppInfo: () => ({ version: '0.1.0', mode, nativeDialogs: mode === 'electron', platform: 'linux' }),
    getRepository: () => null,
    listRecentRepositories: () => [{ path: '/srv/secret', lastOpened: '2024-01-01T00:00:00.000Z', encrypted: true }],
    listJobs: () => [],
  });
  const desktop = createAppStore(answers('electron').client);
  await desktop.getState().loadSession();
  assert.equal(desktop.getState().passphrasePrompt?.path, '/srv/secret');
  const web = createAppStore(answers('web').client);
  await web.getState().loadSession();
  assert.equal(web.getState().passphrasePrompt, null, 'web mode opens what `serve --repo` opened and asks only when told to');
});

test('events write into the store; a late progress event does not undo a final state', async () => {
  const fake = fakeClient({ listVersions: () => versions, getSummary: () => ({}), listJobs: () => [] });
  const store = createAppStore(fake.client);
  bindEvents(store);
  fake.emit('jobChanged', job('j', 'running', { progress: { bytesDone: 5 } as Job['progress'] }));
  assert.equal(store.getState().jobs.j.state, 'running');
  fake.emit('jobChanged', job('j', 'succeeded'));
  fake.emit('jobChanged', job('j', 'running'));
  assert.equal(store.getState().jobs.j.state, 'succeeded');
  fake.emit('repositoryChanged', repository);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(store.getState().repository?.path, '/srv/repo');
  assert.equal(store.getState().versions.length, 3, 'a new repository loads its versions');
  fake.connect('open');
  assert.equal(store.getState().connection, 'open');
});

test('selection, sorting and filters', () => {
  const store = createAppStore(fakeClient({}).client);
  const s = store.getState();
  s.toggleSelected('a1');
  s.toggleSelected('b1');
  store.getState().toggleSelected('a1');
  assert.deepEqual(store.getState().selected, ['b1']);
  store.getState().setSort('size');
  assert.deepEqual(store.getState().sort, { key: 'size', descending: true });
  store.getState().setSort('size');
  assert.deepEqual(store.getState().sort, { key: 'size', descending: false });

  const byDate = groupVersions(versions, EMPTY_FILTER, { key: 'date', descending: true });
  assert.deepEqual(byDate.map((g) => g.name), ['alpha', 'beta']);
  assert.deepEqual(byDate[0].versions.map((v) => v.uid), ['a2', 'a1']);
  assert.equal(byDate[0].invalid, 1);
  assert.deepEqual(groupVersions(versions, { ...EMPTY_FILTER, status: 'invalid' }, { key: 'date', descending: true }).flatMap((g) => g.versions.map((v) => v.uid)), ['a2']);
  assert.equal(matchesFilter(versions[0], { ...EMPTY_FILTER, tag: 'daily' }), true);
  assert.equal(matchesFilter(versions[1], { ...EMPTY_FILTER, text: 'SNAP' }), true);
  assert.equal(matchesFilter(versions[2], { ...EMPTY_FILTER, protection: 'unprotected' }), false);
  assert.equal(matchesFilter(versions[2], { ...EMPTY_FILTER, from: '2024-02-02' }), false);
  assert.equal(matchesFilter(versions[2], { ...EMPTY_FILTER, to: '2024-02-01' }), true);
});

test('job order and routes', () => {
  const { active, finished } = orderJobs({ a: job('a', 'succeeded', { created: '2024-01-02' }), b: job('b', 'running'), c: job('c', 'failed', { created: '2024-01-03' }) });
  assert.deepEqual(active.map((j) => j.id), ['b']);
  assert.deepEqual(finished.map((j) => j.id), ['c', 'a']);
  const routes: Route[] = [{ view: 'versions' }, { view: 'version', uid: 'u1', compare: 'u2' }, { view: 'scrub', uids: ['a', 'b'], report: 'a' }, { view: 'jobs', job: 'j' }, { view: 'restore', uid: 'u' }];
  for (const route of routes) assert.deepEqual(parseRoute(routeHash(route)), route);
  assert.deepEqual(parseRoute('#/nonsense'), { view: 'repository' });
});

test('a lost connection: marked lost (through connecting), cut-off calls leave no notice, reopening resynchronises and drops stale running jobs', async () => {
  let listed: Job[] = [job('old', 'running')];
  const fake = fakeClient({
    getAppInfo: () => ({ version: '0.1.0', mode: 'web', nativeDialogs: false, platform: 'linux' }),
    getRepository: () => repository,
    listRecentRepositories: () => [],
    getSummary: () => ({ versions: 3 }),
    listVersions: () => versions,
    listJobs: () => listed,
  });
  const store = createAppStore(fake.client);
  bindEvents(store);
  fake.connect('open');
  await store.getState().loadSession();
  assert.equal(store.getState().jobs.old.state, 'running');
  fake.connect('closed');
  assert.equal(store.getState().connectionLost, true);
  store.getState().reportError(new ApiError('IO_ERROR', 'the connection to the Blockvault server was lost'), 'Loading jobs');
  assert.equal(store.getState().notices.length, 0, 'the banner says it, not a pile of notices');
  fake.connect('connecting');
  assert.equal(store.getState().connectionLost, true, 'still lost while reconnecting');
  listed = [job('new', 'succeeded')];
  const before = fake.calls.filter((c) => c === 'listJobs').length;
  fake.connect('open');
  assert.equal(store.getState().connectionLost, false);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(fake.calls.filter((c) => c === 'listJobs').length, before + 1, 'jobs are loaded again after reconnecting');
  assert.ok(fake.calls.filter((c) => c === 'listVersions').length >= 2, 'versions are loaded again');
  assert.deepEqual(Object.keys(store.getState().jobs), ['new'], 'a running job the server no longer lists is not kept');
});

// Fault suite, bad input: a corpus of malformed CLI arguments, export files, hints files, API
// calls (through the services' dispatch, as every transport calls them) and WebSocket traffic
// to web mode. Each is rejected with a clear error that carries a code (an error code, the
// usage exit status, or a WebSocket close code), never with a stack trace without -v, and a
// snapshot of the metadata and every file of the store taken before and after proves that
// nothing changed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { dispatch, createServices, type Services } from '../../src-main/services';
import { serve, type Served } from '../e2e/harness';
import { BS, backupCli, cli, initRepo, ok, repoState, tempDir, writeBlocks } from '../helpers';
import { recordFigure, timePart } from './figures';

const PART = 'bad-input';
const STACK = /\n\s+at .+:\d+:\d+/;

/** Metadata rows and a hash of every file of the repository except the database itself. */
function snapshot(repo: string): string {
  const files: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, `${rel}${entry.name}/`);
      else if (!entry.name.startsWith('metadata.sqlite')) files.push(`${rel}${entry.name}:${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    }
  };
  walk(repo, '');
  return `${repoState(repo)}\n${files.sort().join('\n')}`;
}

describe('fault suite: bad input', { timeout: 600_000 }, () => {
  timePart(PART);
  const dir = tempDir('bv-faults-input-');
  let repo: string;
  let uid: string;
  let exportText: string;
  const image = join(dir, 'a.img');
  const tally = new Map<string, { tried: number; clean: number }>();
  const failures: string[] = [];

  function count(kind: string, clean: boolean, what: string, detail: string): void {
    const entry = tally.get(kind) ?? { tried: 0, clean: 0 };
    entry.tried++;
    if (clean) entry.clean++;
    else failures.push(`${kind}: ${what}: ${detail}`);
    tally.set(kind, entry);
  }

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '0']);
    writeBlocks(image, [1, 2, 0, 3, 4, 5, 6, 7]);
    uid = await backupCli(repo, image, 'disk', ['-t', 'daily']);
    const file = join(dir, 'good.export');
    await ok(['--repo', repo, 'export', uid, '-f', file]);
    exportText = readFileSync(file, 'utf8');
  });

  /** Runs the CLI; a clean rejection exits non-zero with a coded error or a usage message, no stack, no change. */
  async function rejectCli(kind: string, args: string[], input?: string): Promise<void> {
    const before = snapshot(repo);
    const result = await cli(args, { input });
    const coded = /error \[[A-Z_]+\]: \S/.test(result.stderr) || (result.code === 2 && /usage: blockvault/.test(result.stderr));
    const problems: string[] = [];
    if (result.code === 0) problems.push('accepted (exit 0)');
    if (!coded) problems.push(`no coded error: ${result.stderr.trim().slice(0, 300)}`);
    if (STACK.test(result.stderr)) problems.push('stack trace without -v');
    if (snapshot(repo) !== before) problems.push('the repository changed');
    count(kind, problems.length === 0, JSON.stringify(args).slice(0, 200), problems.join('; '));
  }

  it('malformed CLI arguments', async () => {
    const r = ['--repo', repo];
    const long = 'x'.repeat(5000);
    const corpus: string[][] = [
      ['no-such-command'], [...r, 'backup'], [...r, 'backup', image], [...r, 'backup', image, 'a', 'b'], [...r, 'backup', '--no-such-option', image, 'a'],
      [...r, 'backup', join(dir, 'missing.img'), 'a'], [...r, 'backup', dir, 'a'], [...r, 'backup', image, ''], [...r, 'backup', image, 'a\u0001b'], [...r, 'backup', image, 'a|b'],
      [...r, 'backup', image, 'a', '-t', 'x|y'], [...r, 'backup', image, 'a', '-t', ''], [...r, 'backup', image, 'a', '-s', 'a\nb'], [...r, 'backup', image, long],
      [...r, 'backup', image, 'a', '--from', 'not-a-uid'], [...r, 'backup', image, 'a', '--from', '00000000-0000-0000-0000-000000000000'],
      [...r, 'backup', image, 'a', '--hints', join(dir, 'missing.hints')], [...r, 'backup', image, 'a', '--from', uid, '--hints', join(dir, 'missing.hints')],
      [...r, 'backup', '/dev/null/x', 'a'], [...r, 'backup', 'nbd://', 'a'], [...r, 'backup', 'rbd:', 'a'], [...r, 'backup', 'qcow2:/nonexistent', 'a'],
      [...r, 'restore'], [...r, 'restore', uid], [...r, 'restore', 'not-a-uid', join(dir, 'x.img')], [...r, 'restore', '../../etc/passwd', join(dir, 'x.img')],
      [...r, 'restore', uid, image], [...r, 'restore', uid, dir], [...r, 'restore', uid, join(dir, 'no', 'such', 'dir', 'x.img')], [...r, 'restore', uid, '/proc/version', '--force'],
      [...r, 'restore', uid, join(dir, 'x.img'), '--bogus'], [...r, 'restore', long, join(dir, 'x.img')],
      [...r, 'scrub'], [...r, 'scrub', 'not-a-uid'], [...r, 'scrub', uid, '-p', '0'], [...r, 'scrub', uid, '-p', '101'], [...r, 'scrub', uid, '-p', 'abc'], [...r, 'scrub', uid, '-p', '-5'],
      [...r, 'scrub', uid, '-p', '50.5'], [...r, 'scrub', uid, '--source', join(dir, 'missing.img')], [...r, 'scrub', uid, '--deep', '--deep=1'],
      [...r, 'scrub-report', 'not-a-uid'], [...r, 'scrub-report'], [...r, 'show', 'nope'], [...r, 'show'], [...r, 'rm'], [...r, 'rm', 'not-a-uid'], [...r, 'rm', uid, 'not-a-uid'],
      [...r, 'protect'], [...r, 'protect', 'nope'], [...r, 'unprotect', 'nope'], [...r, 'tag', uid], [...r, 'tag', 'nope', 't'], [...r, 'tag', uid, 'a,b'], [...r, 'tag', uid, 'a\u0007'],
      [...r, 'tag', uid, ''], [...r, 'untag', uid, 'never-had-it'], [...r, 'untag', 'nope', 'daily'],
      [...r, 'cleanup', '--grace-seconds', '-1'], [...r, 'cleanup', '--grace-seconds', 'abc'], [...r, 'cleanup', 'extra'], [...r, 'cleanup', '--grace-seconds', '99999999999999'],
      [...r, 'export', uid], [...r, 'export', 'nope', '-f', join(dir, 'x.export')], [...r, 'export', uid, '-f', image], [...r, 'export', uid, '-f', join(dir, 'no', 'dir', 'x')],
      [...r, 'import'], [...r, 'import', '-f', join(dir, 'missing.export')], [...r, 'import', '-f', dir],
      [...r, 'du', 'nope'], [...r, 'diff', uid], [...r, 'diff', uid, 'nope'], [...r, 'block-map', 'nope'], [...r, 'stats', '-l', '0'], [...r, 'stats', '-l', 'many'],
      [...r, 'key', 'list'], [...r, 'key', 'add'], [...r, 'key', 'remove'], [...r, 'key', 'frobnicate'],
      ['--repo', join(dir, 'no-repo-here'), 'ls'], ['--repo', image, 'ls'], ['--repo', '', 'ls'], ['--repo', dir, 'ls'],
      ['init', repo], ['init', image], ['init', join(dir, 'n1'), '--block-size', 'huge'], ['init', join(dir, 'n2'), '--block-size', '3K'], ['init', join(dir, 'n3'), '--block-size', '0'],
      ['init', join(dir, 'n4'), '--block-size', '-64K'], ['init', join(dir, 'n5'), '--block-size', '128M'], ['init', join(dir, 'n6'), '--compression', 'lz4'], ['init', join(dir, 'n7'), '--compression', 'zstd:99'],
      ['init', join(dir, 'n8'), '--min-age-days', '-1'], ['init', join(dir, 'n9'), '--grace-seconds', 'soon'],
      ['recover', join(dir, 'no-repo-here')], ['recover', image], [...r, 'restore', 'nope', join(dir, 'x.img'), '--without-database'],
    ];
    for (const args of corpus) await rejectCli('CLI arguments', args);
  });

  it('malformed export files', async () => {
    const lines = exportText.split('\n');
    const variants: string[] = ['', '\n', 'not json\n', '{}\n', '[]\n', '\u0000\u0001\u0002', exportText.slice(0, -1), exportText.replace(/"formatVersion":1/, '"formatVersion":0'),
      exportText.replace(/"formatVersion":1/, '"formatVersion":-1'), exportText.replace(/"formatVersion":1/, '"formatVersion":null'), lines.slice(1).join('\n'), [lines[0], ...lines.slice(2)].join('\n'),
      `${lines[0]}\n${lines[0]}\n`, exportText.replace(/"size":\d+/, '"size":-1'), exportText.replace(/"size":\d+/, '"size":1e400'), exportText.replace(/"blockSize":\d+/g, '"blockSize":4096'),
      exportText.replace(/"uid":"[^"]+"/g, '"uid":"../../x"'), exportText.toUpperCase(), Buffer.from(exportText).toString('base64'), exportText.repeat(2)];
    for (let cut = 1; cut < 10; cut++) variants.push(exportText.slice(0, Math.floor((exportText.length * cut) / 10)));
    for (let flip = 0; flip < 12; flip++) {
      const bytes = Buffer.from(exportText);
      bytes[Math.floor((bytes.length * (flip + 0.5)) / 12)] ^= 0x04;
      variants.push(bytes.toString('latin1'));
    }
    // The version is still in the repository: even an intact copy of its export is refused (it exists).
    variants.push(exportText);
    for (const [i, text] of variants.entries()) {
      const file = join(dir, `bad-${i}.export`);
      writeFileSync(file, text, 'latin1');
      await rejectCli('export files', ['--repo', repo, 'import', '-f', file]);
    }
  });

  it('malformed hints files', async () => {
    const size = statSync(image).size;
    const variants: string[] = ['', 'null', '{}', '"x"', '[1]', '[null]', '[{}]', '[{"offset":0}]', '[{"offset":-1,"length":1,"exists":true}]', '[{"offset":0,"length":-1,"exists":true}]',
      '[{"offset":"0","length":1,"exists":true}]', '[{"offset":0,"length":1,"exists":"maybe"}]', '[{"offset":0.5,"length":1,"exists":true}]', '[{"offset":1e300,"length":1,"exists":true}]',
      `[{"offset":${size},"length":${BS},"exists":true}]`, `[{"offset":0,"length":${size * 4},"exists":true}]`, '[{"offset":9007199254740993,"length":1,"exists":true}]',
      '[', '[{"offset":0,"length":1,"exists":true},', 'SECRET-CONTENT-THAT-MUST-NOT-BE-ECHOED', '\u0000\u0000', '[{"offset":0,"length":1,"exists":true}]'.repeat(2),
      JSON.stringify(Array.from({ length: 3 }, () => ({ offset: -BS, length: BS, exists: false }))), '[{"offset":0,"length":1,"exists":true,"extra":{"__proto__":{"x":1}}}]'.replace('true,', 'null,')];
    for (const [i, text] of variants.entries()) {
      const file = join(dir, `bad-${i}.hints`);
      writeFileSync(file, text);
      await rejectCli('hints files', ['--repo', repo, 'backup', image, 'disk', '--from', uid, '--hints', file]);
    }
    const echoed = await cli(['--repo', repo, 'backup', image, 'disk', '--from', uid, '--hints', join(dir, `bad-${variants.indexOf('SECRET-CONTENT-THAT-MUST-NOT-BE-ECHOED')}.hints`)]);
    count('hints files', !echoed.stderr.includes('SECRET'), 'an unparsable hints file', 'its content is echoed in the error');
  });

  it('malformed API calls through the services dispatch', async () => {
    const services: Services = createServices({ mode: 'cli', configDir: join(dir, 'config') });
    try {
      const opened = await dispatch(services.api, 'openRepository', { path: repo });
      assert.equal(opened.ok, true, JSON.stringify(opened));
      const calls: Array<[unknown, unknown]> = [
        ['noSuchMethod', {}], ['__proto__', {}], ['constructor', {}], ['toString', {}], [42, {}], [null, null], [undefined, undefined], ['', {}], ['listVersions', 'x'], ['listVersions', 7],
        ['listVersions', []], ['listVersions', { name: 5 }], ['listVersions', { tag: { $ne: 1 } }], ['getVersion', {}], ['getVersion', { uid: 5 }], ['getVersion', { uid: 'x'.repeat(100_000) }],
        ['getVersion', { uid: 'nope' }], ['setProtected', { uids: 'x', value: true }], ['setProtected', { uids: [uid], value: 'yes' }], ['setProtected', { uids: ['nope'], value: true }],
        ['addTag', { uids: [uid], tag: 'a,b' }], ['addTag', { uids: [uid], tag: '' }], ['addTag', { uids: [uid], tag: 'x'.repeat(5000) }], ['addTag', { uids: [uid], tag: 'a\u0000' }],
        ['addTag', { uids: [], tag: 't' }], ['removeTag', { uids: [uid], tag: 5 }], ['removeVersions', { uids: ['nope'] }], ['removeVersions', { uids: [uid, 'nope'], force: true }],
        ['removeVersions', { uids: null }], ['startBackup', {}], ['startBackup', { source: 5, name: 'a' }], ['startBackup', { source: 'relative.img', name: 'a' }],
        ['startBackup', { source: `${dir}/../../etc/passwd`, name: 'a' }], ['startBackup', { source: image, name: '' }], ['startBackup', { source: image, name: 'a|b' }],
        ['startBackup', { source: image, name: 'a', from: 'nope' }], ['startBackup', { source: image, name: 'a', tags: 'daily' }], ['startBackup', { source: image, name: 'a', hints: 5 }],
        ['startRestore', {}], ['startRestore', { uid, target: 'relative.img' }], ['startRestore', { uid, target: `${dir}/../escape.img` }], ['startRestore', { uid, target: image }],
        ['startRestore', { uid: 'nope', target: join(dir, 'r.img') }], ['startRestore', { uid, target: 5 }], ['startScrub', { uids: [], mode: 'deep' }], ['startScrub', { uids: [uid], mode: 'paranoid' }],
        ['startScrub', { uids: [uid], percent: 0 }], ['startScrub', { uids: [uid], percent: 1000 }], ['startScrub', { uids: [uid], percent: 'all' }], ['startCleanup', { graceSeconds: -1 }],
        ['startCleanup', { full: 'yes' }], ['cancelJob', { id: 'nope' }], ['cancelJob', {}], ['getScrubReport', { uid: 'nope' }], ['createRepository', { path: 'relative' }],
        ['createRepository', { path: repo }], ['createRepository', { path: join(dir, 'n'), blockSize: 3 }], ['openRepository', { path: join(dir, 'missing') }], ['addKey', { passphrase: 'x' }],
        ['removeKey', { id: 'nope' }], ['updateSettings', { minAgeDays: -1 }], ['updateSettings', { cleanupGraceSeconds: 'x' }], ['getBlockMap', { uid: 'nope' }], ['diff', { left: uid, right: 'nope' }],
      ];
      for (const [method, args] of calls) {
        const before = snapshot(repo);
        let result: Awaited<ReturnType<typeof dispatch>>;
        try {
          result = await dispatch(services.api, method, args);
        } catch (error) {
          count('API calls', false, String(method), `dispatch threw instead of answering: ${(error as Error).message}`);
          continue;
        }
        const problems: string[] = [];
        if (result.ok) problems.push('accepted');
        else {
          if (!/^[A-Z_]+$/.test(result.error.code)) problems.push(`no code: ${JSON.stringify(result.error)}`);
          if (STACK.test(result.error.message)) problems.push('stack trace in the message');
          if (result.error.code === 'INTERNAL') problems.push(`INTERNAL: ${result.error.message}`);
        }
        if (snapshot(repo) !== before) problems.push('the repository changed');
        count('API calls', problems.length === 0, `${String(method)} ${JSON.stringify(args)?.slice(0, 120)}`, problems.join('; '));
      }
    } finally {
      await services.close();
    }
  });

  describe('WebSocket traffic to web mode', () => {
    let server: Served;
    before(async () => { server = await serve(['--repo', repo], { XDG_CONFIG_HOME: join(dir, 'ws-config') }); });
    after(async () => { await server?.stop(); });

    function connectWs(token: string | null): Promise<WebSocket> {
      const ws = new WebSocket(`${server.origin.replace('http', 'ws')}/api`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
      return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject); ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }))); });
    }

    /** Sends one frame; resolves with the reply's result, or the close code when the server closed the connection. */
    function exchange(ws: WebSocket, frame: string | Buffer, binary = false): Promise<{ result?: { ok: boolean; error?: { code: string; message: string } }; closed?: number }> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({}), 10_000);
        ws.once('message', (data) => { clearTimeout(timer); resolve({ result: (JSON.parse(String(data)) as { result: { ok: boolean } }).result }); });
        ws.once('close', (code) => { clearTimeout(timer); resolve({ closed: code }); });
        ws.send(frame, { binary });
      });
    }

    it('bad frames, bad requests and missing tokens', async () => {
      for (const token of [null, 'wrong', '', 'x'.repeat(10_000)]) {
        const before = snapshot(repo);
        try {
          const ws = await connectWs(token);
          ws.close();
          count('WebSocket frames', false, `token ${JSON.stringify(token?.slice(0, 10))}`, 'connected without the right token');
        } catch (error) {
          const status = (error as { status?: number }).status;
          count('WebSocket frames', status === 401 || status === 403, `token ${JSON.stringify(token?.slice(0, 10))}`, `refused without an HTTP 401/403: ${(error as Error).message}`);
        }
        assert.equal(snapshot(repo), before);
      }
      const requests: unknown[] = [
        { id: 1, method: 'noSuchMethod', args: {} }, { id: 2, method: 'listVersions', args: 'x' }, { id: 3, method: 'getVersion', args: { uid: 5 } },
        { id: 4, method: 'startRestore', args: { uid, target: '/etc/../tmp/../../x' } }, { id: 5, method: 'startBackup', args: { source: '/dev/zero', name: '' } },
        { id: 6, method: 'removeVersions', args: { uids: ['nope'] } }, { id: 7, method: 'addTag', args: { uids: [uid], tag: 'x'.repeat(100_000) } }, { id: 8, method: '__proto__', args: {} },
        { id: 9, method: 'startScrub', args: { uids: [uid], percent: -1 } }, { id: 10, method: 'createRepository', args: { path: '../x' } }, { id: 11, method: 'setProtected', args: null },
        { id: 12, method: null, args: null }, { id: 13, method: 'startCleanup', args: { graceSeconds: 'now' } }, { id: 14, method: 'openRepository', args: { path: 5 } },
      ];
      const frames: Array<[string | Buffer, boolean]> = [
        ...requests.map((r): [string, boolean] => [JSON.stringify(r), false]),
        ['not json', false], ['{"id":"x","method":"listVersions"}', false], ['[]', false], ['null', false], ['{"id":1.5,"method":"listVersions","args":{}}', false],
        [Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), false], [Buffer.from(JSON.stringify({ id: 1, method: 'listVersions', args: {} })), true], ['x'.repeat(3 * 1024 * 1024), false], ['{"id":1,', false],
      ];
      for (const [frame, binary] of frames) {
        const before = snapshot(repo);
        let ws: WebSocket;
        try {
          ws = await connectWs(server.token);
        } catch (error) {
          count('WebSocket frames', false, String(frame).slice(0, 60), `the server no longer accepts connections: ${(error as Error).message}`);
          continue;
        }
        const reply = await exchange(ws, frame, binary);
        ws.terminate();
        const problems: string[] = [];
        if (reply.result) {
          if (reply.result.ok) problems.push('accepted');
          else if (!/^[A-Z_]+$/.test(reply.result.error?.code ?? '') || reply.result.error?.code === 'INTERNAL') problems.push(`unclear error ${JSON.stringify(reply.result.error)}`);
          else if (STACK.test(reply.result.error?.message ?? '')) problems.push('stack trace in the message');
        } else if (reply.closed === undefined) problems.push('no answer within 10 s');
        else if (![1003, 1007, 1008, 1009].includes(reply.closed)) problems.push(`closed with ${reply.closed}, not a protocol close code`);
        if (snapshot(repo) !== before) problems.push('the repository changed');
        count('WebSocket frames', problems.length === 0, String(frame).slice(0, 80), problems.join('; '));
      }
      // The server lives on: a good call still works.
      const ws = await connectWs(server.token);
      const good = await exchange(ws, JSON.stringify({ id: 99, method: 'listVersions', args: {} }));
      ws.close();
      assert.equal(good.result?.ok, true, 'the server answers good calls after the bad ones');
    });
  });

  after(() => {
    let tried = 0;
    let clean = 0;
    for (const [kind, entry] of [...tally].sort()) {
      recordFigure(PART, `${kind}: rejected cleanly / tried`, `${entry.clean}/${entry.tried}`);
      tried += entry.tried;
      clean += entry.clean;
    }
    recordFigure(PART, 'all: rejected cleanly / tried', `${clean}/${tried}`, `${tried}/${tried}, >= 200 tried`);
    if (failures.length) process.stderr.write(`bad input not rejected cleanly:\n${failures.join('\n')}\n`);
  });

  it('every input was rejected cleanly and at least 200 were tried', () => {
    // Runs last (node:test runs a suite's tests in order).
    const tried = [...tally.values()].reduce((n, e) => n + e.tried, 0);
    assert.ok(existsSync(repo));
    assert.deepEqual(failures, []);
    assert.ok(tried >= 200, `only ${tried} inputs tried`);
  });
});

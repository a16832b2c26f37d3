// "Test connection" (testS3Connection) through the services, against real endpoints: a port
// nothing listens on, a name that does not resolve, https:// to RGW's plain-HTTP port, a local
// TLS server with a self-signed certificate, a server that never answers, RGW with a wrong
// secret, a missing bucket and a missing credentials file each fail with their own kind and
// code; a good location says whether its prefix is empty, holds a repository or something
// else. Creating an S3 repository through the services: its info and summary name the store
// (kind, endpoint, bucket, prefix), the recent list remembers how it was reached, and no
// secret reaches the settings file, a result or an event; the API refuses a secret key field.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { RecentRepository, RepositoryInfo, S3ConnectionTest } from '../../src-shared/api/types';
import { createServices, type Services } from '../../src-main/services';
import { probeS3 } from '../../src-main/engine/store/probe';
import { gatedPaths } from '../../src-main/security';
import { adminClient, createBucket, RGW_ENDPOINT, randomBucket, removeBucket, s3Spec } from '../ceph/rgw';
import { caller } from '../unit/main/services/caller';
import { tempDir } from '../helpers';

const SECRET = 'testsecret';

function listen(server: Server | TlsServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A port that was free a moment ago (nothing listens there now). */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Test connection (testS3Connection) and S3 repositories through the services', () => {
  const dir = tempDir();
  let services: Services;
  let bucket: string;
  let goodCredentials: string;
  let badCredentials: string;
  const events: string[] = [];
  const sockets = new Set<Socket>();
  let silent: Server;
  let silentPort: number;
  let tls: TlsServer;
  let tlsPort: number;
  const { call, refusedWith } = caller(() => services);
  const saved = { ...process.env };

  before(async () => {
    bucket = await createBucket();
    goodCredentials = join(dir, 'credentials');
    writeFileSync(goodCredentials, `[default]\naws_access_key_id = test\naws_secret_access_key = ${SECRET}\n`, { mode: 0o600 });
    badCredentials = join(dir, 'bad-credentials');
    writeFileSync(badCredentials, 'aws_access_key_id = test\naws_secret_access_key = not-the-secret\n', { mode: 0o600 });
    // Credentials come only from the files the calls name; the state folder is this test's own.
    Object.assign(process.env, { XDG_STATE_HOME: join(dir, 'state'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', BLOCKVAULT_S3_CREDENTIALS: '', BLOCKVAULT_S3_ENDPOINT: '' });
    services = createServices({ mode: 'web', configDir: join(dir, 'config') });
    services.events.on((name, payload) => events.push(`${name} ${JSON.stringify(payload)}`));
    // Accepts connections and never answers.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    silentPort = await listen(silent);
    // A TLS server whose certificate nobody trusts (made by openssl for this test).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    tls = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (socket) => socket.end());
    tls.on('tlsClientError', () => {});
    tlsPort = await listen(tls);
  });
  after(async () => {
    services.close();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    await new Promise<void>((resolve) => tls.close(() => resolve()));
    await removeBucket(bucket);
    process.env = saved;
  });

  const test = (path: string, endpoint: string, credentialsFile = goodCredentials): Promise<S3ConnectionTest> =>
    call<S3ConnectionTest>('testS3Connection', { path, s3: { endpoint, pathStyle: true, credentialsFile } });

  const failed = (result: S3ConnectionTest, failure: string, code: string, message: RegExp): void => {
    assert.equal(result.ok, false, JSON.stringify(result));
    if (result.ok) return;
    assert.equal(result.failure, failure, result.message);
    assert.equal(result.code, code, result.message);
    assert.match(result.message, message);
    assert.doesNotMatch(result.message, new RegExp(SECRET));
  };

  it('a port nothing listens on: refused', async () => {
    const result = await test(`s3://${bucket}/a`, `http://127.0.0.1:${await closedPort()}`);
    failed(result, 'refused', 'IO_ERROR', /refused the connection.*\(ECONNREFUSED\)/);
  });

  it('a host name that does not resolve: dns', async () => {
    const result = await test(`s3://${bucket}/a`, 'http://nonexistent.invalid:7480');
    failed(result, 'dns', 'IO_ERROR', /host name of nonexistent\.invalid:7480 does not resolve \(DNS\).*\((ENOTFOUND|EAI_AGAIN)\)/);
  });

  it('https:// to a port that speaks plain HTTP (RGW): tls', async () => {
    const result = await test(`s3://${bucket}/a`, RGW_ENDPOINT.replace('http:', 'https:'));
    failed(result, 'tls', 'IO_ERROR', /TLS handshake with 127\.0\.0\.1:7480 failed: that port speaks plain HTTP \(use http:\/\/\)/);
  });

  it('a TLS server with a self-signed certificate: tls', async () => {
    const result = await test(`s3://${bucket}/a`, `https://127.0.0.1:${tlsPort}`);
    failed(result, 'tls', 'IO_ERROR', /its certificate is not trusted.*SELF_SIGNED/);
  });

  it('a server that accepts and never answers: timeout, within the test timeout', async () => {
    const result = await probeS3(s3Spec(bucket, { endpoint: `http://127.0.0.1:${silentPort}` }), { timeoutMs: 1000 });
    failed(result, 'timeout', 'IO_ERROR', /did not answer in time/);
    // through the services, with BLOCKVAULT_S3_TIMEOUT as the request timeout
    process.env.BLOCKVAULT_S3_TIMEOUT = '1';
    try {
      failed(await test(`s3://${bucket}/a`, `http://127.0.0.1:${silentPort}`), 'timeout', 'IO_ERROR', /did not answer in time/);
    } finally {
      delete process.env.BLOCKVAULT_S3_TIMEOUT;
    }
  });

  it('RGW with a wrong secret: unauthorized (403)', async () => {
    const result = await test(`s3://${bucket}/a`, RGW_ENDPOINT, badCredentials);
    failed(result, 'unauthorized', 'UNAUTHORIZED', /access denied \(403\): the secret key does not match the access key \(403 SignatureDoesNotMatch\)/);
    assert.doesNotMatch(result.ok ? '' : `${result.message} ${result.detail}`, /not-the-secret/);
    const unknownKey = join(dir, 'unknown-key');
    writeFileSync(unknownKey, 'aws_access_key_id = nobody\naws_secret_access_key = whatever\n', { mode: 0o600 });
    failed(await test(`s3://${bucket}/a`, RGW_ENDPOINT, unknownKey), 'unauthorized', 'UNAUTHORIZED', /does not know this access key \(403 InvalidAccessKeyId\)/);
  });

  it('a bucket that does not exist: no-bucket', async () => {
    const missing = randomBucket('bv-missing');
    const result = await test(`s3://${missing}/a`, RGW_ENDPOINT);
    failed(result, 'no-bucket', 'NOT_FOUND', new RegExp(`the bucket "${missing}" does not exist at 127\\.0\\.0\\.1:7480`));
  });

  it('a credentials file that is not there: credentials, before any request', async () => {
    const result = await test(`s3://${bucket}/a`, RGW_ENDPOINT, join(dir, 'no-such-file'));
    failed(result, 'credentials', 'INVALID_ARGUMENT', /no credentials could be read.*no-such-file/);
  });

  it('the API takes no secret key: a field for one is refused, and so are bad locations', async () => {
    for (const method of ['testS3Connection', 'createRepository', 'openRepository'] as const) {
      const message = await refusedWith('INVALID_ARGUMENT', method, { path: `s3://${bucket}/a`, s3: { endpoint: RGW_ENDPOINT, secretAccessKey: SECRET } });
      assert.match(message, /unknown field|unrecognized/i);
    }
    // The desktop app asks the admin before the main process reads a credentials file a renderer names.
    for (const method of ['testS3Connection', 'createRepository', 'openRepository']) {
      assert.deepEqual(gatedPaths(method, { path: `s3://${bucket}/a`, s3: { credentialsFile: '/home/u/.aws/credentials' } }), [{ path: '/home/u/.aws/credentials', access: 'read' }]);
    }
    assert.deepEqual(gatedPaths('startCopy', { all: true, to: `s3://${bucket}/b`, toS3: { credentialsFile: '/home/u/.aws/credentials' } }), [{ path: '/home/u/.aws/credentials', access: 'read' }]);
    await refusedWith('INVALID_ARGUMENT', 'testS3Connection', { path: '/srv/folder' });
    await refusedWith('INVALID_ARGUMENT', 'testS3Connection', { path: 's3://Bad_Bucket/a' });
    await refusedWith('INVALID_ARGUMENT', 'testS3Connection', { path: `s3://${bucket}/a`, s3: { endpoint: 'ftp://127.0.0.1' } });
  });

  it('a good location: empty, then a repository after create, or something else', async () => {
    const empty = await test(`s3://${bucket}/site/a`, RGW_ENDPOINT);
    assert.equal(empty.ok, true, JSON.stringify(empty));
    assert.equal(empty.ok && empty.contents, 'empty');
    assert.equal(empty.ok && empty.location, `s3://${bucket}/site/a`);

    const s3 = { endpoint: RGW_ENDPOINT, region: 'us-east-1', pathStyle: true, credentialsFile: goodCredentials };
    const info = await call<RepositoryInfo>('createRepository', { path: `s3://${bucket}/site/a`, s3, blockSize: 65536 });
    assert.deepEqual(info.store, { kind: 's3', endpoint: RGW_ENDPOINT, bucket, prefix: 'site/a', region: 'us-east-1', pathStyle: true, metadataFile: join(dir, 'state', 'blockvault', 'repositories', info.settings.id, 'metadata.sqlite') });
    assert.deepEqual((await call<RepositoryInfo>('getRepository', {})).store, info.store);

    const found = await test(`s3://${bucket}/site/a`, RGW_ENDPOINT);
    assert.equal(found.ok && found.contents, 'repository', JSON.stringify(found));
    assert.deepEqual(found.ok && found.repository, { id: info.settings.id, encrypted: false });

    const client = adminClient();
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'other/notes.txt', Body: 'hello' }));
    } finally {
      client.destroy();
    }
    const other = await test(`s3://${bucket}/other`, RGW_ENDPOINT);
    assert.equal(other.ok && other.contents, 'other', JSON.stringify(other));
    assert.equal(other.ok && other.example, 'notes.txt');
  });

  it('the recent list remembers how an S3 repository is reached, and opens it again from that; no secret anywhere', async () => {
    const recent = await call<RecentRepository[]>('listRecentRepositories', {});
    assert.deepEqual(recent[0].path, `s3://${bucket}/site/a`);
    assert.deepEqual(recent[0].s3, { endpoint: RGW_ENDPOINT, region: 'us-east-1', pathStyle: true, credentialsFile: goodCredentials });
    await call('closeRepository', {});
    const reopened = await call<RepositoryInfo>('openRepository', { path: recent[0].path, s3: recent[0].s3 });
    assert.equal(reopened.store.kind, 's3');
    const settingsFile = readFileSync(join(dir, 'config', 'settings.json'), 'utf8');
    assert.match(settingsFile, /credentials/);
    assert.doesNotMatch(settingsFile, new RegExp(SECRET));
    assert.ok(events.length > 0);
    for (const event of events) assert.doesNotMatch(event, new RegExp(SECRET));
    // A summary names the store too.
    const summary = await call<{ path: string }>('getSummary', {});
    assert.equal(summary.path, `s3://${bucket}/site/a`);
  });
});

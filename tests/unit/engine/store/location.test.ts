// Repository locations and S3 options: s3:// parsing, flags over environment, credentials
// files (sections, missing keys), and bad input refused with INVALID_ARGUMENT.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EngineError } from '../../../../src-main/engine/errors';
import { parseLocation, s3OptionsFromEnvironment, s3Spec } from '../../../../src-main/engine/store/location';
import { parseCredentialsFile } from '../../../../src-main/engine/store/s3-credentials';
import { tempDir } from '../../../helpers';

const invalid = (run: () => unknown): void => {
  assert.throws(run, (e: unknown) => e instanceof EngineError && e.code === 'INVALID_ARGUMENT');
};

describe('repository locations', () => {
  it('parses folders and s3://BUCKET/PREFIX', () => {
    assert.deepEqual(parseLocation('/srv/repo'), { kind: 'folder', path: '/srv/repo' });
    assert.deepEqual(parseLocation('s3://backups/site-a/vms/'), { kind: 's3', bucket: 'backups', prefix: 'site-a/vms' });
    assert.deepEqual(parseLocation('s3://backups'), { kind: 's3', bucket: 'backups', prefix: '' });
    for (const bad of ['s3://', 's3://B/x', 's3://ab/x', 's3://bucket/Upper', 's3://bucket/a//b', 's3://bucket/a b']) invalid(() => parseLocation(bad));
  });

  it('takes flags first, then the environment', () => {
    const env = { AWS_ENDPOINT_URL: 'http://env:1', AWS_REGION: 'eu-1', BLOCKVAULT_S3_PATH_STYLE: '1', AWS_PROFILE: 'p', BLOCKVAULT_S3_CONCURRENCY: '4' };
    assert.deepEqual(s3OptionsFromEnvironment({ endpoint: 'http://flag:2' }, env), {
      endpoint: 'http://flag:2', region: 'eu-1', pathStyle: true, credentialsFile: undefined, profile: 'p', concurrency: 4, timeoutSeconds: undefined,
    });
    assert.equal(s3OptionsFromEnvironment({}, { BLOCKVAULT_S3_ENDPOINT: 'http://a:1', AWS_ENDPOINT_URL: 'http://b:1' }).endpoint, 'http://a:1');
    assert.equal(s3OptionsFromEnvironment({}, {}).pathStyle, false);
    invalid(() => s3OptionsFromEnvironment({}, { BLOCKVAULT_S3_TIMEOUT: 'soon' }));
  });

  it('builds a spec with credentials from a file and refuses bad endpoints', async () => {
    const dir = tempDir();
    const file = join(dir, 'creds');
    writeFileSync(file, '# site A\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\n');
    const spec = await s3Spec({ kind: 's3', bucket: 'backups', prefix: 'a' }, { endpoint: 'http://127.0.0.1:7480', credentialsFile: file, pathStyle: true });
    assert.deepEqual(spec.credentials, { accessKeyId: 'AKIA1', secretAccessKey: 's3cr3t' });
    assert.equal(spec.concurrency, 16);
    assert.equal(spec.timeoutMs, 30_000);
    for (const endpoint of ['ftp://x', 'not a url', 'http://user:pw@host']) {
      await assert.rejects(s3Spec({ kind: 's3', bucket: 'backups', prefix: '' }, { endpoint, credentialsFile: file }), (e: unknown) => e instanceof EngineError && e.code === 'INVALID_ARGUMENT');
    }
    await assert.rejects(s3Spec({ kind: 's3', bucket: 'backups', prefix: '' }, { credentialsFile: join(dir, 'missing') }), /cannot read the S3 credentials file/);
  });

  it('reads credentials files by section and refuses incomplete ones', () => {
    const text = '[default]\naws_access_key_id=A\naws_secret_access_key=B\n[profile site]\naws_access_key_id = C\naws_secret_access_key = D\naws_session_token = T\n';
    assert.deepEqual(parseCredentialsFile(text, 'f'), { accessKeyId: 'A', secretAccessKey: 'B' });
    assert.deepEqual(parseCredentialsFile(text, 'f', 'site'), { accessKeyId: 'C', secretAccessKey: 'D', sessionToken: 'T' });
    assert.deepEqual(parseCredentialsFile('[only]\naws_access_key_id=E\naws_secret_access_key=F\n', 'f'), { accessKeyId: 'E', secretAccessKey: 'F' });
    assert.deepEqual(parseCredentialsFile('access_key = G\nsecret_key = H\n', 'f'), { accessKeyId: 'G', secretAccessKey: 'H' });
    invalid(() => parseCredentialsFile('[default]\naws_access_key_id=A\n', 'f'));
    invalid(() => parseCredentialsFile(text, 'f', 'nope'));
  });
});

// The S3 location fields' helpers (components/s3-location.ts): what each field refuses, the
// API arguments they make (never a secret; empty fields left out), and the fields back from a
// recent repository's location and connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_S3_LOCATION, s3ConnectionOf, s3LocationOf, s3LocationProblems, s3LocationReady, s3LocationValue } from '../../../src-renderer/components/s3-location';

const good = { ...EMPTY_S3_LOCATION, endpoint: 'http://rgw.example:7480', bucket: 'backups', prefix: '/site-a/', region: 'us-east-1', credentials: 'file' as const, credentialsFile: '/etc/blockvault/s3' };

test('fields a server would refuse are named, each with its rule', () => {
  assert.deepEqual(s3LocationProblems(good), {});
  assert.equal(s3LocationReady(good), true);
  assert.equal(s3LocationReady(EMPTY_S3_LOCATION), false, 'a bucket is required');
  const bad = s3LocationProblems({ ...good, endpoint: 'ftp://x', bucket: 'Bad_Bucket', prefix: 'Up/Case', region: 'US East', credentialsFile: 'relative' });
  assert.deepEqual(Object.keys(bad).sort(), ['bucket', 'credentialsFile', 'endpoint', 'prefix', 'region']);
  assert.match(s3LocationProblems({ ...good, endpoint: 'http://user:pw@rgw' }).endpoint!, /must not carry credentials/);
  assert.match(s3LocationProblems({ ...good, credentials: 'profile', profile: 'has space' }).profile!, /profile name/);
  assert.equal(s3LocationProblems({ ...good, credentials: 'environment', credentialsFile: '' }).credentialsFile, undefined, 'an unused source is not checked');
});

test('the API arguments: s3://BUCKET/PREFIX and a connection without empty fields or secrets', () => {
  assert.equal(s3LocationOf(good), 's3://backups/site-a');
  assert.deepEqual(s3ConnectionOf(good), { endpoint: 'http://rgw.example:7480', region: 'us-east-1', pathStyle: true, credentialsFile: '/etc/blockvault/s3' });
  assert.deepEqual(s3ConnectionOf({ ...good, endpoint: ' ', region: '', credentials: 'profile', profile: 'backup' }), { pathStyle: true, profile: 'backup' });
  assert.deepEqual(s3ConnectionOf({ ...good, credentials: 'environment' }), { endpoint: 'http://rgw.example:7480', region: 'us-east-1', pathStyle: true });
});

test('the fields back from a remembered location and connection', () => {
  const value = s3LocationValue('s3://backups/site-a', s3ConnectionOf(good));
  assert.deepEqual(value, { ...good, prefix: 'site-a', profile: '' });
  assert.equal(s3LocationValue('s3://b/x', { profile: 'p' }).credentials, 'profile');
  assert.equal(s3LocationValue('s3://b/x', {}).credentials, 'environment');
});

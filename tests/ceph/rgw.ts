// Test access to the shared one-node Ceph's RGW: starts it (idempotent, never stops it),
// creates buckets with random names and removes them (objects and unfinished uploads first).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import type { S3Spec } from '../../src-main/engine/store/s3';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const RGW_ENDPOINT = 'http://127.0.0.1:7480';
export const RGW_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'testsecret' };

let started = false;
/** Starts the shared cluster if it is not running (idempotent). */
export function ensureCeph(): void {
  if (started) return;
  execFileSync('bash', [join(__dirname, 'micro-ceph.sh'), 'start'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 180_000 });
  started = true;
}

export function adminClient(): S3Client {
  return new S3Client({
    endpoint: RGW_ENDPOINT, region: 'us-east-1', forcePathStyle: true, credentials: RGW_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function randomBucket(prefix = 'bv-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export async function createBucket(name = randomBucket()): Promise<string> {
  ensureCeph();
  const client = adminClient();
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
  return name;
}

/** Removes every object, every unfinished upload and the bucket. */
export async function removeBucket(name: string): Promise<void> {
  const client = adminClient();
  try {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: name }));
      const keys = (page.Contents ?? []).map((item) => ({ Key: item.Key! }));
      if (keys.length === 0) break;
      await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys } }));
    }
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: name }));
    for (const upload of uploads.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: upload.Key!, UploadId: upload.UploadId! }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}

export function s3Spec(bucket: string, options: Partial<S3Spec> = {}): S3Spec {
  return {
    kind: 's3', bucket, prefix: 'repo', endpoint: RGW_ENDPOINT, region: 'us-east-1', pathStyle: true,
    credentials: RGW_CREDENTIALS, concurrency: 16, timeoutMs: 30_000, ...options,
  };
}

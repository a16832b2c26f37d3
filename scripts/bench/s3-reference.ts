// The S3 reference of the benchmark: how fast the SDK alone moves the objects a backup stored,
// with the same concurrency and the same client settings as the engine's S3 store, so the
// engine's S3 figures can be read as a share of what the endpoint and the SDK allow.
//   download: GET every object of the repository (bodies read whole, then dropped)
//   upload:   PUT as many buffers of the same sizes to a scratch prefix (then deleted);
//             the bytes come from one random buffer: RGW neither dedupes nor compresses.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Spec } from '../../src-main/engine/store/s3';
import { runBounded } from '../../src-main/engine/pipeline/bounded';

export interface SdkRun { seconds: number; objects: number; bytes: number }

function client(spec: S3Spec): S3Client {
  return new S3Client({
    region: spec.region, endpoint: spec.endpoint, forcePathStyle: spec.pathStyle, credentials: spec.credentials, maxAttempts: 3,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', expectContinueHeader: false,
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: spec.concurrency } },
  });
}

/** Creates or deletes the bench's bucket (the benches that make their own bucket). */
export async function adminBucket(spec: S3Spec, create: boolean): Promise<void> {
  const admin = new S3Client({ region: spec.region, endpoint: spec.endpoint, forcePathStyle: spec.pathStyle, credentials: spec.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  try {
    await admin.send(create ? new CreateBucketCommand({ Bucket: spec.bucket }) : new DeleteBucketCommand({ Bucket: spec.bucket }));
  } finally {
    admin.destroy();
  }
}

/** Keys and sizes of every object under `prefix`/objects/. */
export async function listObjects(spec: S3Spec): Promise<Array<{ key: string; size: number }>> {
  const s3 = client(spec);
  const out: Array<{ key: string; size: number }> = [];
  let ContinuationToken: string | undefined;
  try {
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: spec.bucket, Prefix: `${spec.prefix}/objects/`, ContinuationToken }));
      for (const item of page.Contents ?? []) out.push({ key: item.Key!, size: item.Size ?? 0 });
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  } finally {
    s3.destroy();
  }
  return out;
}

export async function sdkDownload(spec: S3Spec, objects: Array<{ key: string; size: number }>): Promise<SdkRun> {
  const s3 = client(spec);
  let bytes = 0;
  const started = performance.now();
  try {
    await runBounded(objects, spec.concurrency, undefined, async ({ key }) => {
      const answer = await s3.send(new GetObjectCommand({ Bucket: spec.bucket, Key: key }));
      const chunks: Buffer[] = [];
      for await (const chunk of answer.Body as Readable) chunks.push(chunk as Buffer);
      bytes += Buffer.concat(chunks).length;
    });
  } finally {
    s3.destroy();
  }
  return { seconds: (performance.now() - started) / 1000, objects: objects.length, bytes };
}

export async function sdkUpload(spec: S3Spec, objects: Array<{ key: string; size: number }>, scratchPrefix: string): Promise<SdkRun> {
  const s3 = client(spec);
  const source = randomBytes(Math.max(0, ...objects.map((o) => o.size)));
  let bytes = 0;
  const keys = objects.map((o, i) => ({ key: `${scratchPrefix}/${String(i).padStart(8, '0')}`, size: o.size }));
  const started = performance.now();
  try {
    await runBounded(keys, spec.concurrency, undefined, async ({ key, size }) => {
      await s3.send(new PutObjectCommand({ Bucket: spec.bucket, Key: key, Body: source.subarray(0, size), ContentLength: size }));
      bytes += size;
    });
    const seconds = (performance.now() - started) / 1000;
    await runBounded(keys, spec.concurrency, undefined, async ({ key }) => { await s3.send(new DeleteObjectCommand({ Bucket: spec.bucket, Key: key })); });
    return { seconds, objects: keys.length, bytes };
  } finally {
    s3.destroy();
  }
}

// The S3 store passes the store conformance suite against the real RGW, directly and through
// the fault proxy failing about 5 % of requests (500, 503 SlowDown, resets mid-body, stalls
// past the timeout): every operation still succeeds with the same bytes. Each test gets its
// own prefix in one bucket with a random name, removed afterwards.
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { openStore } from '../../../src-main/engine/store/index';
import { startFaultProxy, type FaultProxy } from '../../ceph/fault-proxy';
import { createBucket, removeBucket, s3Spec } from '../../ceph/rgw';
import { describeStoreConformance } from './conformance';

let bucket = '';
let proxy: FaultProxy;
before(async () => {
  bucket = await createBucket();
  proxy = await startFaultProxy({ rate: 0.05 });
});
after(async () => {
  await proxy.close();
  await removeBucket(bucket);
});

const prefix = (): string => `conformance/${randomBytes(4).toString('hex')}`;
// The store's own test removes what it wrote; the bucket goes at the end with whatever is left.
const nothing = async (): Promise<void> => undefined;

describeStoreConformance('s3 on RGW', async () => ({ store: openStore(s3Spec(bucket, { prefix: prefix() })), dispose: nothing }));
describeStoreConformance('s3 through the fault proxy', async () => ({
  store: openStore(s3Spec(bucket, { prefix: prefix(), endpoint: proxy.url, timeoutMs: 3000 })),
  dispose: nothing,
}));

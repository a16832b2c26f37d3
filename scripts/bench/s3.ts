// `npm run bench -- --store s3`: a fresh backup and a verified restore of the bench image in an
// S3 repository (the local RGW by default: BLOCKVAULT_S3_ENDPOINT or http://127.0.0.1:7480,
// path-style, credentials from the environment or RGW's test user), and as the reference the
// SDK alone putting and getting the same objects with the same concurrency (s3-reference.ts).
// Ratios: SDK seconds / engine seconds (1.0 = the engine moves data as fast as the SDK alone).
import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { backup } from '../../src-main/engine/pipeline/backup';
import { restore } from '../../src-main/engine/pipeline/restore';
import { Repository } from '../../src-main/engine/repository';
import { s3OptionsFromEnvironment, s3Spec } from '../../src-main/engine/store/location';
import type { Check } from './report';
import { withS3Cpu, type S3Cpu } from './s3-cpu';
import { adminBucket, listObjects, sdkDownload, sdkUpload } from './s3-reference';
import { fail, log, rate, round, sha256File } from './tools';

export interface S3BenchInput {
  image: string;
  sha256: string;
  size: number;
  work: string;
  workers?: number;
}

export async function runS3Bench(input: S3BenchInput): Promise<{ report: Record<string, unknown>; checks: Check[]; table: string }> {
  process.env.XDG_STATE_HOME = join(input.work, 'state');
  mkdirSync(process.env.XDG_STATE_HOME, { recursive: true });
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret' });
  const options = s3OptionsFromEnvironment({ endpoint: process.env.BLOCKVAULT_S3_ENDPOINT ? undefined : 'http://127.0.0.1:7480', pathStyle: true });
  const bucket = `bv-bench-${randomBytes(5).toString('hex')}`;
  const spec = await s3Spec({ kind: 's3', bucket, prefix: 'repo' }, options);
  await adminBucket(spec, true);
  const checks: Check[] = [];
  const report: Record<string, unknown> = { endpoint: spec.endpoint, bucket, concurrency: spec.concurrency };
  const repo = await Repository.initS3(spec, { blockSize: 4 * 1024 * 1024, compression: 'zstd:1' });
  try {
    log('engine: fresh backup to S3');
    const { value: fresh, cpu: backupCpu } = await withS3Cpu(() => backup(repo, { source: input.image, name: 'bench', workers: input.workers }));
    const backupSeconds = backupCpu.seconds;
    const target = join(input.work, 'restored-s3.raw');
    log('engine: restore from S3 to a new file');
    const { value: restored, cpu: restoreCpu } = await withS3Cpu(() => restore(repo, { uid: fresh.uid, target, workers: input.workers }));
    const restoreSeconds = restoreCpu.seconds;
    const sha = sha256File(target);
    if (sha !== input.sha256) fail(`restore from S3 has sha256 ${sha}, the image ${input.sha256}`);
    unlinkSync(target);

    const objects = await listObjects(spec);
    log(`reference: the SDK alone puts ${objects.length} objects of the same sizes, ${spec.concurrency} in flight`);
    const { value: up, cpu: upCpu } = await withS3Cpu(() => sdkUpload(spec, objects, 'sdk-reference'));
    log(`reference: the SDK alone gets the ${objects.length} objects, ${spec.concurrency} in flight`);
    const { value: down, cpu: downCpu } = await withS3Cpu(() => sdkDownload(spec, objects));
    const cpuOf = (c: S3Cpu): Omit<S3Cpu, 'seconds'> => ({ ownCpuSeconds: c.ownCpuSeconds, cephCpuSeconds: c.cephCpuSeconds, otherCpuPct: c.otherCpuPct, idleCpuSeconds: c.idleCpuSeconds });

    report.engine = {
      freshBackup: { seconds: round(backupSeconds, 3), mbps: round(rate(input.size, backupSeconds), 0), objects: fresh.stats.blocksWritten, bytesStored: fresh.stats.bytesStored, ...cpuOf(backupCpu) },
      restore: { seconds: round(restoreSeconds, 3), mbps: round(rate(input.size, restoreSeconds), 0), blocksVerified: restored.blocksVerified, sha256Checked: true, ...cpuOf(restoreCpu) },
    };
    report.sdkReference = {
      upload: { seconds: round(up.seconds, 3), objects: up.objects, bytes: up.bytes, objectMbps: round(rate(up.bytes, up.seconds), 0), ...cpuOf(upCpu) },
      download: { seconds: round(down.seconds, 3), objects: down.objects, bytes: down.bytes, objectMbps: round(rate(down.bytes, down.seconds), 0), ...cpuOf(downCpu) },
      note: 'the SDK alone, same client settings and concurrency, the same number of objects of the same sizes (upload: random bytes; download: the repository\'s objects)',
    };
    checks.push({ name: 'S3 fresh backup vs the SDK uploading its objects', value: up.seconds / backupSeconds, target: 0.8, unit: 'x' });
    checks.push({ name: 'S3 verified restore vs the SDK downloading its objects', value: down.seconds / restoreSeconds, target: 0.8, unit: 'x' });
    const cpuRatio = (sdk: S3Cpu, engine: S3Cpu): number => (sdk.ownCpuSeconds + sdk.cephCpuSeconds) / Math.max(0.01, engine.ownCpuSeconds + engine.cephCpuSeconds);
    const cpuColumns = (c: S3Cpu): string => `${c.ownCpuSeconds.toFixed(2).padStart(6)} ${c.cephCpuSeconds.toFixed(2).padStart(6)} ${`${c.otherCpuPct} %`.padStart(7)}`;
    const lines = [
      '',
      `S3 (${spec.endpoint}, ${spec.concurrency} requests in flight), ${(input.size / 1e6).toFixed(0)} MB image, ${objects.length} objects, ${(fresh.stats.bytesStored / 1e6).toFixed(0)} MB stored`,
      '                                                        CPU-s: ours   Ceph  other CPU',
      `  engine fresh backup   ${backupSeconds.toFixed(2)} s  ${rate(input.size, backupSeconds).toFixed(0).padStart(5)} MB/s of image    ${cpuColumns(backupCpu)}`,
      `  SDK put of objects    ${up.seconds.toFixed(2)} s  ${rate(up.bytes, up.seconds).toFixed(0).padStart(5)} MB/s of objects  ${cpuColumns(upCpu)}`,
      `  engine restore        ${restoreSeconds.toFixed(2)} s  ${rate(input.size, restoreSeconds).toFixed(0).padStart(5)} MB/s of image    ${cpuColumns(restoreCpu)} (sha256 checked)`,
      `  SDK get of objects    ${down.seconds.toFixed(2)} s  ${rate(down.bytes, down.seconds).toFixed(0).padStart(5)} MB/s of objects  ${cpuColumns(downCpu)}`,
      ...checks.map((c) => `  ${c.name}: ${c.value.toFixed(2)}x (target >= ${c.target}x) ${c.value >= c.target ? 'ok' : 'MISSED'}`),
      // RGW shares the cores: when they are busy throughout, wall time follows CPU-s (ours + Ceph's).
      `  CPU-s (ours + Ceph) of the SDK / of the engine: backup ${cpuRatio(upCpu, backupCpu).toFixed(2)}x, restore ${cpuRatio(downCpu, restoreCpu).toFixed(2)}x`,
      '',
    ];
    return { report, checks, table: lines.join('\n') };
  } finally {
    const store = repo.store;
    for await (const entry of store.list('')) await store.delete(entry.key);
    repo.close();
    await adminBucket(spec, false).catch((error: unknown) => log(`could not remove bucket ${bucket}: ${(error as Error).message}`));
  }
}

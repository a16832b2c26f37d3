import { WorkerPool } from '../../src-main/engine/workers/pool';
import { openSync } from 'node:fs';
async function main(): Promise<void> {
  const fd = openSync(process.argv[2], 'r');
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const pool = new WorkerPool({ blockSize: 4 << 20, compression: { algorithm: 'zstd', level: 1 } as any, slots: 3, syncEachObject: false, directObjects: true });
    await Promise.all([pool.run({ op: 'zero', fd: -1, position: 0, length: 0 }).catch(() => 0), pool.run({ op: 'zero', fd: -1, position: 0, length: 0 }).catch(() => 0)]);
    const t1 = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, k) => pool.run({ op: 'hashOnly', fd, offset: (k * 37 % 128) * (4 << 20), length: 4 << 20 })));
    const t2 = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, k) => pool.run({ op: 'hashOnly', fd, offset: (k * 37 % 128) * (4 << 20), length: 4 << 20 })));
    const t3 = performance.now();
    console.log('start', (t1 - t).toFixed(1), 'first 10 hashes', (t2 - t1).toFixed(1), 'next 10', (t3 - t2).toFixed(1));
    await pool.close();
  }
}
main();

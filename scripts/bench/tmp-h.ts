import { Repository } from '../../src-main/engine/repository';
import { backup } from '../../src-main/engine/pipeline/backup';
async function main(): Promise<void> {
  const dir = process.argv[2];
  const repo = Repository.open(dir + '/repo');
  const v = (repo.meta as any).db.prepare('select uid from versions order by id limit 1').get().uid;
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    const marks: string[] = [];
    const r = await backup(repo, { source: dir + '/image.raw', name: 'h', from: v, hints: dir + '/hints.json', onProgress: (p) => marks.push(`${p.phase}@${(performance.now() - t).toFixed(0)}`) });
    console.log(((performance.now() - t)).toFixed(1), 'ms', r.stats.blocksRead, r.stats.blocksWritten, marks.join(' '));
  }
  repo.close();
}
main();

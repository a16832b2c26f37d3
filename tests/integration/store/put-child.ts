// A child process for the conformance suite's interrupted put: opens the store from the spec
// in argv[2] (JSON), writes `bytes` bytes of 0x5a under key argv[3] again and again, and says
// "started" before the first put. The suite kills it with SIGKILL mid-write.
import { openStore } from '../../../src-main/engine/store/index';

async function main(): Promise<void> {
  const store = openStore(JSON.parse(process.argv[2]));
  const key = process.argv[3];
  const data = Buffer.alloc(Number(process.argv[4]), 0x5a);
  process.stdout.write('started\n');
  for (;;) await store.put(key, data);
}

void main();

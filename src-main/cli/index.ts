// Command-line entry point (bundled to out/node/cli.js, started by bin/blockvault.js).
import { runCli } from './main';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

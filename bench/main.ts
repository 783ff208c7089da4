import { HelpRequested, OptionsError, parseOptions } from './options.js';
import { printSummary, runBench } from './run.js';

/** `npm run bench -- --scenario steady --rate 500 --duration 30 --users 200` */
const log = (line: string) => process.stderr.write(`${line}\n`);

try {
  const options = parseOptions(process.argv.slice(2));
  const { report, files } = await runBench(options, log);
  printSummary(report, (line) => process.stdout.write(`${line}\n`));
  process.stdout.write(`\nresults: ${files.json}\n`);
  if (files.svg) process.stdout.write(`chart:   ${files.svg}${files.png ? `\n         ${files.png}` : ''}\n`);
  process.exit(0);
} catch (err) {
  if (err instanceof HelpRequested) {
    process.stdout.write(`${err.message}\n`);
    process.exit(0);
  }
  if (err instanceof OptionsError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

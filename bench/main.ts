import { HelpRequested, OptionsError, parseOptions } from './options.js';
import { printSummary, runBench } from './run.js';
import { printScaleSummary, runScale } from './scale.js';

/** `npm run bench -- --scenario steady --rate 500 --duration 30 --users 200` (`--scale 1,2`: bench/scale.ts) */
const log = (line: string) => process.stderr.write(`${line}\n`);

try {
  const options = parseOptions(process.argv.slice(2));
  if (options.scale.length > 0) {
    const { report, file } = await runScale(options, log);
    printScaleSummary(report, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`\nresults: ${file}\n`);
    for (const run of report.runs)
      process.stdout.write(
        `         ${run.files.json} (${run.instances} + ${run.instances})${run.files.svg ? `, chart ${run.files.svg}` : ''}\n`,
      );
    process.exit(0);
  }
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

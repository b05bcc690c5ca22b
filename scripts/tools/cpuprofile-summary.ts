// Prints the summary of V8 CPU profiles (.cpuprofile, from `node --cpu-prof`): the share of the
// time in (program), (garbage collector), (idle), native code and JavaScript, and the top functions
// by self time with file:line (scripts/bench/cpuprofile.ts).
//   node dist/scripts/tools/cpuprofile-summary.js [--top 25] FILE.cpuprofile...
import { commandLine, report, usageError } from '../../src/command-line.js';
import { formatSummary, summariseProfileFile } from '../bench/cpuprofile.js';
import { REPO_ROOT } from '../lab-impl/lab.js';

const { values, positionals } = commandLine(process.argv.slice(2), {
  command: 'cpuprofile-summary',
  usage: 'usage: cpuprofile-summary [--top 25] FILE.cpuprofile...\n',
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
if (positionals.length === 0) process.exit(report(usageError('cpuprofile-summary', 'no profile given')));
let failed = 0;
for (const file of positionals) {
  try {
    console.log(`${file}:\n${formatSummary(summariseProfileFile(file, REPO_ROOT), Number(values.top))}\n`);
  } catch (e) {
    failed++;
    console.error(`${file}: ${(e as Error).message}`);
  }
}
process.exit(failed === 0 ? 0 : 1);

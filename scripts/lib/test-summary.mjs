// Reads vitest's JSON report and prints the closing line CI reads: `tests: N passed, N failed`
// (and `, N skipped` when any test was skipped).
// A run that crashed before writing a report, or a file that failed to load, counts as a failure.
import { readFileSync } from 'node:fs';

const [file, rcText, staticPassed = '0', staticFailed = '0'] = process.argv.slice(2);
const rc = Number(rcText);
let passed = Number(staticPassed);
let failed = Number(staticFailed);
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // Suites that failed to load (syntax errors, failing hooks) have no tests counted as failed.
  for (const s of r.testResults ?? []) {
    if (s.status === 'failed' && (s.assertionResults ?? []).every((a) => a.status !== 'failed')) failed++;
  }
  if (r.numTotalTests === 0) failed++;
} catch {
  failed++;
}
if (rc !== 0 && failed === 0) failed = 1;
// A skipped test is said, never silent (a system test that is not run says so here too).
console.log(`tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);

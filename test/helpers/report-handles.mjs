// Preloaded (NODE_OPTIONS=--import) into a test child that its parent kills at a deadline: just
// before it, the child writes what keeps its event loop alive (a socket, a timer, a server left
// open) to stderr, so a run that never ends names its cause instead of only timing out. The timer
// is unref'd: it keeps nothing alive itself.
import process from 'node:process';
import { setTimeout } from 'node:timers';

const afterMs = Number(process.env.REPORT_HANDLES_AFTER_MS);
if (afterMs > 0) {
  setTimeout(() => {
    const counts = {};
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
    process.stderr.write(`still running after ${afterMs} ms (pid ${process.pid}): ${JSON.stringify(counts)}\n`);
  }, afterMs).unref();
}

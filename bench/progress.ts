import type { Tracker } from './tracker.js';

/** Once a second: closes the tracker's window and prints one line about it. */
export function startProgress(tracker: Tracker, print: boolean, label: () => string = () => ''): () => void {
  const timer = setInterval(() => {
    const w = tracker.closeWindow();
    if (!print) return;
    const p = (v: number | null) => (v === null ? '-' : v.toFixed(1));
    process.stderr.write(
      `[${w.t.toFixed(0).padStart(4)}s] ${label()}sent ${w.sent}/s  delivered ${w.delivered}/s  backlog ${w.backlog}  ` +
        `p50 ${p(w.p50)} p90 ${p(w.p90)} p99 ${p(w.p99)} ms  failed ${tracker.failed}  dup ${tracker.duplicatesAfterAck}\n`,
    );
  }, 1000);
  return () => clearInterval(timer);
}

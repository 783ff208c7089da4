/**
 * The `unpersisted:{u:<user>}:<id>` mark (shared/keys.ts): set by the consumer's commit for every
 * version it buffers (consumer/commit.lua), deleted by jobs once a persist batch has stored that
 * version (jobs/after-write.lua), read by the persist sweep to find a version whose persist job
 * never arrived (jobs/persist-sweep.ts) and by an ACK to leave its write to that job
 * (shared/buffer-ack.lua, which only asks whether it exists).
 *
 * Its value is `<commit epoch ms>:<version>`. The time ages it for the sweep; the version keeps an
 * older version's persist batch from clearing the mark of a newer one: an aggregate's v1 stored
 * after its v2 was committed leaves v2's mark, so if v2's own persist job is lost the sweep still
 * finds it. Marks written before the version was added hold only the time (or '1', before
 * that): any stored version clears them, as it always did.
 */

/** What consumer/commit.lua writes (and the sweep, when it hands a version to jobs again). */
export function unpersistedMark(atMs: number, version: number): string {
  return `${atMs}:${version}`;
}

export interface ParsedUnpersistedMark {
  /** The commit's epoch ms (1 for a '1' mark: too small to be a time, jobs/persist-sweep.ts markAgeMs). */
  atMs?: number;
  /** The buffered version it marks; undefined for a mark written before it held one. */
  version?: number;
}

export function parseUnpersistedMark(value: string): ParsedUnpersistedMark {
  const [at, version] = value.split(':', 2);
  const atMs = Number(at);
  const v = version === undefined ? NaN : Number(version);
  return {
    ...(at !== '' && Number.isFinite(atMs) ? { atMs } : {}),
    ...(Number.isInteger(v) && v > 0 ? { version: v } : {}),
  };
}

import type { Model } from 'mongoose';
import { PermanentError } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../shared/messages.js';
import { followersPage, type FollowDoc } from '../shared/models/follow.js';
import type { FanoutPage } from './fanout-message.js';
import type { Outcome } from './metrics.js';
import type { IncomingEvent, ParsedEvent } from './parse-event.js';
import { processEvents, type ProcessDeps } from './process-event.js';

/**
 * Fan-out of a POST to the actor's followers, one page at a time (docs/pipeline.md "Fan-out").
 *
 * The POST event only publishes page 0. Whoever runs page n reads at most `chunkSize`
 * notifiable followers after the page's cursor, publishes page n+1 (before working, so another
 * consumer can start it), then runs each follower through the same per-recipient path as a
 * direct event with the per-recipient eventId `${eventId}:${followerId}`: its eventId dedupe
 * mark makes a re-run page (a crash, a retry) notify nobody twice.
 *
 * Two marks per (eventId, page) keep a redelivered page from doing the whole chain again:
 * "page n published" (so page n's publisher publishes it once) and "page n done".
 *
 * The "published" mark also holds the cursor the page went out with (`after:<followerId>`), and
 * a re-run of page n reads its range from page n+1's mark instead of by `chunkSize`: page n
 * covers exactly (page.after, that cursor]. Read by limit again, a follow (or an unmute) added
 * inside page n's range since the first run would end the page before the cursor page n+1
 * starts after, and the followers in between would be in neither page.
 */
export interface FanoutDeps extends ProcessDeps {
  follows: Model<FollowDoc>;
  chunkSize: number;
}

export type PageOutcome = { status: 'done'; recipients: Partial<Record<Outcome, number>> } | { status: 'duplicate' };

/** The per-recipient event of a fan-out: the POST with one follower as its target. */
export function recipientEvent(page: FanoutPage, followerId: string): ParsedEvent {
  return {
    type: 'POST',
    actorId: page.actorId,
    postId: page.postId,
    targetId: followerId,
    eventId: `${page.eventId}:${followerId}`,
  };
}

/**
 * `requestId` (the HTTP request that posted the event) travels as the page message's
 * correlationId, not in its body: the body's schema is strict, and a consumer of the release
 * before would dead-letter a page carrying a field it does not know.
 */
async function publishPage(deps: FanoutDeps, page: FanoutPage, requestId: string | undefined): Promise<void> {
  const published = keys.fanoutPagePublished(page.eventId, page.page);
  if ((await deps.redis.exists(published)) === 1) return;
  await deps.channel.sendToQueue(deps.topology.fanoutQueue, encodeJson(page), {
    persistent: true,
    messageId: `${page.eventId}#${page.page}`,
    ...(requestId === undefined ? {} : { correlationId: requestId }),
    contentType: JSON_CONTENT_TYPE,
  });
  // After the confirm: a crash in between only risks a second copy of the page, which the
  // per-recipient dedupe and the "done" mark absorb; the reverse order could lose the page.
  await deps.redis.set(published, publishedMark(page.after), 'EX', deps.commit.eventWindowSeconds);
}

/**
 * The "published" mark's value: the cursor the page was published with, so a re-run of the page
 * before it ends its range where this one starts. Page 0 has no cursor (and no page before it).
 */
const CURSOR_MARK = 'after:';
function publishedMark(after: string | null): string {
  return after === null ? 'first' : `${CURSOR_MARK}${after}`;
}

/**
 * The cursor a "published" mark holds, or undefined when it holds none: no mark, page 0's, or
 * '1', written by the release before, which did not record cursors (the page is then read by
 * `chunkSize` as that release did).
 */
function cursorOfMark(mark: string | null): string | undefined {
  return mark !== null && mark.startsWith(CURSOR_MARK) && mark.length > CURSOR_MARK.length
    ? mark.slice(CURSOR_MARK.length)
    : undefined;
}

/** Starts the fan-out of a POST event: the caller acks the event once this resolves. */
export async function startFanout(
  deps: FanoutDeps,
  event: IncomingEvent,
  origin: { acceptedAtMs?: number; requestId?: string } = {},
): Promise<void> {
  if (event.actorId === undefined || event.postId === undefined)
    throw new PermanentError('a fan-out event needs actorId and postId');
  const { acceptedAtMs, requestId } = origin;
  await publishPage(
    deps,
    {
      eventId: event.eventId,
      actorId: event.actorId,
      postId: event.postId,
      page: 0,
      after: null,
      ...(acceptedAtMs === undefined ? {} : { acceptedAtMs }),
    },
    requestId,
  );
}

/** One page: resolving means it may be acked; any error means it may not (it is retried). */
export async function runFanoutPage(deps: FanoutDeps, page: FanoutPage, requestId?: string): Promise<PageOutcome> {
  const done = keys.fanoutPageDone(page.eventId, page.page);
  if ((await deps.redis.exists(done)) === 1) return { status: 'duplicate' };

  const after = page.after ?? undefined;
  // A re-run (a retry, a redelivery) after page n+1 went out: this page ends where page n+1
  // starts, not after `chunkSize` rows (see the comment at the top), and n+1 is not published again.
  const next = cursorOfMark(await deps.redis.get(keys.fanoutPagePublished(page.eventId, page.page + 1)));
  let rows;
  if (next !== undefined) {
    rows = await followersPage(deps.follows, page.actorId, { after, through: next, notifiable: true });
  } else {
    rows = await followersPage(deps.follows, page.actorId, { after, limit: deps.chunkSize, notifiable: true });
    const last = rows.at(-1);
    if (rows.length === deps.chunkSize && last !== undefined) {
      await publishPage(deps, { ...page, page: page.page + 1, after: last.followerId }, requestId);
    }
  }

  // The whole page is one batch: one pipeline of script calls, one persist message per flush.
  const outcomes = await processEvents(
    deps,
    rows.map((row) => ({
      event: recipientEvent(page, row.followerId),
      ...(page.acceptedAtMs === undefined ? {} : { acceptedAtMs: page.acceptedAtMs }),
      ...(requestId === undefined ? {} : { requestId }),
    })),
  );
  const failed = outcomes.find((o): o is Error => o instanceof Error);
  if (failed) throw failed;
  await deps.redis.set(done, '1', 'EX', deps.commit.eventWindowSeconds);

  const recipients: Partial<Record<Outcome, number>> = {};
  for (const outcome of outcomes as Outcome[]) recipients[outcome] = (recipients[outcome] ?? 0) + 1;
  return { status: 'done', recipients };
}

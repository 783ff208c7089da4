import mongoose from 'mongoose';
import { followModel } from '../../shared/models/follow.js';
import { notificationModel } from '../../shared/models/notification.js';
import { ClientFleet } from '../clients.js';
import { bulkWrites, serviceWarnings, sleep, type Harness, type ScenarioResult } from '../harness.js';
import { OperationMeter } from '../operations.js';

/** Follow edges per insertMany. */
const FOLLOW_BATCH = 1000;
/** MongoDB is asked once a second how many of the post's notifications are stored. */
const PERSIST_POLL_MS = 1000;

const seconds = (ms: number | null) => (ms === null ? null : Math.round(ms / 10) / 100);

/**
 * One POST by an author with N followers (`--followers`), M of them connected with token AUTH
 * (`--connected`): the time from the POST's 202 until every connected follower received it,
 * and until all N notifications are stored in MongoDB (one count query per second), with the
 * followers who got nothing (lost) and the extra copies (duplicates) on both paths.
 */
export async function fanout(h: Harness): Promise<ScenarioResult> {
  const { options: o, stack } = h;
  const n = o.followers;
  const author = stack.userIds[0] ?? 'bu0';
  const followers = Array.from({ length: n }, (_, i) => `bf${i}`);
  // Spread over the follower order, so the connected ones sit on every page of the fan-out.
  const stride = n / o.connected;
  const online = Array.from({ length: o.connected }, (_, i) => followers[Math.floor(i * stride)]!);
  const postId = `${h.tracker.runTag}-fanout`;

  const connection = await mongoose.createConnection(stack.config.mongo.url).asPromise();
  // Its own fleet without the tracker (which matches one event to one recipient): every frame
  // is counted per follower here, and ACKed like any client does.
  const fleet = new ClientFleet(
    stack.services['ws-server'].port,
    stack.jwtSecret,
    undefined,
    stack.config.ws.maxAckBatch,
  );
  const receipts = new Map<string, number>();
  const seen = { received: 0, allAt: null as number | null };
  fleet.onNotification = (userId, _id, objectId) => {
    if (objectId !== postId) return;
    const before = receipts.get(userId) ?? 0;
    receipts.set(userId, before + 1);
    if (before === 0 && ++seen.received === o.connected) seen.allAt = performance.now();
  };
  try {
    h.log(`fanout: ${n} follow edges of ${author} (insertMany, ${FOLLOW_BATCH} per batch)`);
    const Follow = followModel(connection);
    const createdAt = new Date();
    for (let i = 0; i < n; i += FOLLOW_BATCH) {
      await Follow.insertMany(
        followers
          .slice(i, i + FOLLOW_BATCH)
          .map((followerId) => ({ followerId, followeeId: author, muted: false, createdAt })),
      );
    }
    h.log(`fanout: ${o.connected} followers connect (token AUTH)`);
    await fleet.connectAll(online);

    const meter = await OperationMeter.start(h);
    const writesBefore = await bulkWrites(h);
    h.log(`fanout: ${author} posts ${postId}`);
    const res = await fetch(`http://127.0.0.1:${stack.services.producer.port}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(stack.intakeKey === undefined ? {} : { authorization: `ApiKey ${stack.intakeKey}` }),
      },
      body: JSON.stringify({ type: 'POST', actorId: author, postId, eventId: postId }),
    });
    if (res.status !== 202) throw new Error(`POST /events answered ${res.status}: ${await res.text()}`);
    const acceptedAt = performance.now();

    // Delivery: until every connected follower has it, or nothing new for --drain seconds.
    let last = seen.received;
    let quietSince = performance.now();
    while (seen.received < o.connected && performance.now() - quietSince < o.drainSeconds * 1000) {
      await sleep(50);
      if (seen.received !== last) {
        last = seen.received;
        quietSince = performance.now();
      }
    }
    const received = seen.received;
    const deliveredMs = seen.allAt === null ? null : seen.allAt - acceptedAt;
    h.log(
      `fanout: ${received}/${o.connected} connected followers received it${deliveredMs === null ? '' : ` in ${seconds(deliveredMs)} s`}`,
    );

    // Persistence: one count per second until all N are stored, or the count has not moved for
    // --persist-wait seconds once PERSIST_DELAY_MS is over.
    const Notification = notificationModel(connection);
    const filter = { type: 'POST', objectId: postId };
    let stored = 0;
    let storedMs: number | null = null;
    let lastStored = -1;
    let movedAt = performance.now();
    for (;;) {
      stored = await Notification.countDocuments(filter);
      const now = performance.now();
      if (o.progress) h.log(`persist: ${stored}/${n} stored`);
      if (stored >= n) {
        storedMs = now - acceptedAt;
        break;
      }
      if (stored !== lastStored) {
        lastStored = stored;
        movedAt = now;
      }
      if (now - acceptedAt > o.persistDelayMs && now - movedAt > o.persistWaitSeconds * 1000) break;
      await sleep(PERSIST_POLL_MS);
    }
    // One aggregate at the end: how many followers have the post stored how many times. One
    // `$sum` per `$group`: FerretDB 1.24 computes only the first accumulator of a `$group`.
    const histogram = await Notification.aggregate<{ _id: number; users: number }>([
      { $match: filter },
      { $group: { _id: '$userId', copies: { $sum: 1 } } },
      { $group: { _id: '$copies', users: { $sum: 1 } } },
    ]);
    await sleep(1000);
    const writesAfter = await bulkWrites(h);
    const { services, operations } = await meter.stop(n, 'follower notification');

    let duplicates = 0;
    for (const count of receipts.values()) duplicates += count - 1;
    const users = histogram.reduce((sum, row) => sum + row.users, 0);
    const docs = histogram.reduce((sum, row) => sum + row._id * row.users, 0);
    return {
      baselineMessages: 0,
      result: {
        followers: n,
        connected: o.connected,
        connectedReceived: received,
        /** Connected followers who never received the post: must be 0. */
        lost: o.connected - received,
        /** Frames beyond the first for one follower (before or after its ACK): must be 0. */
        duplicates,
        acceptedToAllConnectedReceivedSeconds: seconds(deliveredMs),
        acceptedToAllPersistedSeconds: seconds(storedMs),
        persistence: {
          expected: n,
          complete: users >= n,
          stored: docs,
          distinctRecipients: users,
          /** Followers with no stored notification for the post: must be 0. */
          missing: n - users,
          /** Stored documents beyond one per follower: must be 0. */
          duplicates: docs - users,
          /** N / (202 → all stored − PERSIST_DELAY_MS): overlaps the fan-out itself on large runs. */
          storedPerSecondAfterDelay:
            storedMs === null || storedMs <= o.persistDelayMs
              ? null
              : Math.round((n / (storedMs - o.persistDelayMs)) * 1000 * 10) / 10,
          persistDelayMs: o.persistDelayMs,
        },
        mongoBulkWrites: {
          persist: writesAfter.persist - writesBefore.persist,
          acks: writesAfter.acks - writesBefore.acks,
        },
        fleetErrors: { closedByServer: fleet.closedByServer, errorFrames: fleet.errors },
        operations,
        services,
        serviceWarnings: serviceWarnings(h),
      },
    };
  } finally {
    await fleet.close();
    await connection.close();
  }
}

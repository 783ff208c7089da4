import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';

/**
 * Which opening of a ChannelWrapper's channel delivered a message.
 *
 * amqp-connection-manager acks and nacks on whichever channel is open *now*. After a reconnect (a
 * broker node lost: RABBITMQ_URL moves on to the next node within a second) that is a new channel
 * whose delivery tags start again at 1, while the handlers of messages delivered on the old one
 * are still finishing (their persist batch was queued while disconnected and is confirmed on the
 * new channel). Their ack then names a tag the new channel never used, and the broker closes it
 * (406 PRECONDITION_FAILED "unknown delivery tag"; everything it held comes again, and the next
 * channel meets the same fate), or one it did use, and acks a *different* message, which leaves
 * its queue whatever becomes of it. Seen by the cluster suite (test/cluster, docs/reliability.md)
 * when the killed node held a consumer's connection.
 *
 * A message delivered on a channel that has closed since went back to its queue when that channel
 * closed; its redelivery settles it. shared/amqp/envelope.ts checks `deliveredOnOpenChannel`
 * before it acks, nacks or republishes anything.
 */
interface Openings {
  /** Counts the channel's openings: amqp-connection-manager runs setups on every (re)connect, before it re-subscribes the consumers. */
  current: number;
  of: WeakMap<ConsumeMessage, number>;
}

const tracked = new WeakMap<ChannelWrapper, Openings>();

async function track(channel: ChannelWrapper): Promise<Openings> {
  let openings = tracked.get(channel);
  if (!openings) {
    const created: Openings = { current: 0, of: new WeakMap() };
    tracked.set(channel, created);
    openings = created;
    // Synchronous, and a setup of its own: the wrapper starts every setup one microtask after it
    // makes the new channel the one it acks on, all in one pass, so this runs before any other
    // setup's round trip is answered. Only an ack queued as a microtask in that same turn could
    // fall between the two, and the envelope's acks come from I/O callbacks (a Redis reply, a
    // confirm), never from there. jobs' batch consumer counts its channel's openings the same way
    // (jobs/batch-consumer.ts).
    await channel.addSetup(() => {
      created.current += 1;
    });
  }
  return openings;
}

/** `channel.consume`, noting which opening of the channel delivered each message. */
export async function consumeTracked(
  channel: ChannelWrapper,
  queue: string,
  onMessage: (msg: ConsumeMessage) => unknown,
  options: Parameters<ChannelWrapper['consume']>[2],
): Promise<void> {
  const openings = await track(channel);
  await channel.consume(
    queue,
    (msg) => {
      openings.of.set(msg, openings.current);
      return onMessage(msg);
    },
    options,
  );
}

/** False for a message delivered on an opening of `channel` that has closed since (true when the channel is not tracked). */
export function deliveredOnOpenChannel(channel: ChannelWrapper, msg: ConsumeMessage): boolean {
  const openings = tracked.get(channel);
  const opening = openings?.of.get(msg);
  return opening === undefined || opening === openings!.current;
}

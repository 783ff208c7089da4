import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel } from 'amqplib';
import type { Config } from '../config.js';
import { DependencyUnavailableError, PermanentError, errorMessage } from '../errors.js';
import { withTimeout } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { describeUrl, stripCredentials } from '../redact.js';
import { coalesceWrites, socketOf } from './coalesce-writes.js';
import { createTopology, declareTopology, type Topology } from './topology.js';

/**
 * The broker refused to declare the topology as this release declares it (406
 * PRECONDITION_FAILED): a queue of the same name exists with other arguments. No retry changes
 * that, so start-up fails at once, naming the queue and the argument.
 */
export class TopologyRefusedError extends PermanentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TopologyRefusedError';
  }
}

/** How long close() waits for the broker to answer each channel's and the connection's close. */
const AMQP_CLOSE_GRACE_MS = 2000;

/** AMQP's reply code for a declaration whose arguments differ from the existing entity's. */
const PRECONDITION_FAILED = 406;

/**
 * A refused declaration: 406 is also the broker's answer to an ack of a delivery tag the channel
 * never used, which closes the channel under a setup too, and says nothing about the topology.
 */
function isPreconditionFailed(err: unknown): boolean {
  return (
    (err as { code?: unknown } | undefined)?.code === PRECONDITION_FAILED &&
    !/unknown delivery tag/i.test(errorMessage(err))
  );
}

export interface AmqpClient {
  readonly topology: Topology;
  /**
   * A confirm channel that re-runs the topology and then `setup` on every reconnect; consumers
   * registered through `ChannelWrapper.consume` are re-subscribed by amqp-connection-manager.
   */
  createChannel(name: string, setup?: (channel: ConfirmChannel) => Promise<void>): Promise<ChannelWrapper>;
  isConnected(): boolean;
  close(): Promise<void>;
}

/**
 * The URLs in the order this process tries them: the configured list rotated by a random offset,
 * so the instances of a service spread their connections over a cluster's nodes instead of all
 * crowding the first one. amqp-connection-manager connects to one and, when that connection is
 * lost or refused, tries the next after a second (round robin), which is the fail-over when a
 * node dies. Any node of a cluster serves any queue: the broker forwards to the queue's leader.
 */
export function connectionOrder(urls: readonly string[], random = Math.random): string[] {
  const offset = Math.floor(random() * urls.length);
  return [...urls.slice(offset), ...urls.slice(0, offset)];
}

/**
 * Connects to RabbitMQ and declares the topology. If no node can be reached within
 * CONNECT_TIMEOUT_MS the promise rejects with a message that names the variable and the hosts,
 * so a wrong RABBITMQ_URL stops start-up instead of looping silently. After start-up,
 * amqp-connection-manager reconnects on its own (to the next node of RABBITMQ_URL, if it lists
 * several) and readiness reports the gap.
 */
export async function connectAmqp(
  config: Pick<Config, 'rabbitmq' | 'pipeline' | 'persist' | 'connectTimeoutMs'>,
  logger: Logger,
): Promise<AmqpClient> {
  const urls = connectionOrder(config.rabbitmq.urls);
  const target = urls.map(describeUrl).join(',');
  const topology = createTopology(config);
  const log = logger.child({ component: 'amqp' });
  let lastFailure = 'no answer yet';

  const manager: AmqpConnectionManager = amqp.connect(urls, {
    heartbeatIntervalInSeconds: config.rabbitmq.heartbeatSeconds,
    reconnectTimeInSeconds: 1,
    connectionOptions: { timeout: config.connectTimeoutMs },
  });
  manager.on('connect', ({ connection, url }) => {
    const socket = socketOf(connection);
    if (socket) coalesceWrites(socket);
    else log.warn('amqplib connection without its socket at connection.stream: frames are written one by one');
    log.info({ target: typeof url === 'string' ? describeUrl(url) : target }, 'rabbitmq connected');
  });
  manager.on('disconnect', ({ err }) =>
    log.warn({ target, err: stripCredentials(errorMessage(err)) }, 'rabbitmq disconnected'),
  );
  manager.on('connectFailed', ({ err }) => {
    lastFailure = stripCredentials(errorMessage(err));
    log.debug({ target, err: lastFailure }, 'rabbitmq connect failed');
  });

  const channels: ChannelWrapper[] = [];
  const createChannel = async (
    name: string,
    setup?: (channel: ConfirmChannel) => Promise<void>,
  ): Promise<ChannelWrapper> => {
    const wrapper = manager.createChannel({
      name,
      confirm: true,
      publishTimeout: config.rabbitmq.publishConfirmTimeoutMs,
      setup: async (channel: ConfirmChannel) => {
        await declareTopology(channel, topology);
        if (setup) await setup(channel);
      },
    });
    // A setup that fails (the channel closed under it, the broker refused a declaration) is
    // reported as an 'error' event; without a listener that event throws inside
    // amqp-connection-manager's promise chain and surfaces as an unhandled rejection, which
    // ends the process. The wrapper tries again on the next reconnect. A refusal of the
    // topology's arguments (406) will not pass on a retry: it fails this call at once, with the
    // broker's reason (which names the queue and the argument), instead of a timeout that says
    // "cannot reach".
    let refuse: (err: Error) => void = () => undefined;
    const refused = new Promise<never>((_, reject) => (refuse = reject));
    refused.catch(() => undefined);
    wrapper.on('error', (err: unknown) => {
      const reason = stripCredentials(errorMessage(err));
      lastFailure = `channel ${name}: ${reason}`;
      if (!isPreconditionFailed(err)) {
        log.warn({ channel: name, err: reason }, 'amqp channel setup failed');
        return;
      }
      log.error({ channel: name, err: reason }, 'rabbitmq refused the topology: a queue exists with other arguments');
      refuse(
        new TopologyRefusedError(
          `RABBITMQ_URL: RabbitMQ at ${target} refused a declaration of channel ${name} (${reason}). A queue of ` +
            'that name exists with other arguments (declared by hand, by a release with other settings, or ' +
            'with the vhost\'s default queue type): see docs/deploy.md, "A queue that exists with other arguments"',
          { cause: err },
        ),
      );
    });
    channels.push(wrapper);
    try {
      await withTimeout(
        Promise.race([wrapper.waitForConnect(), refused]),
        config.connectTimeoutMs,
        () =>
          new DependencyUnavailableError(
            `RABBITMQ_URL: cannot reach RabbitMQ at ${target} within ${config.connectTimeoutMs} ms (${lastFailure})`,
          ),
      );
    } catch (err) {
      // close() may have taken the list meanwhile: remove only what is still there.
      const at = channels.indexOf(wrapper);
      if (at >= 0) channels.splice(at, 1);
      await wrapper.close().catch(() => undefined);
      throw err;
    }
    return wrapper;
  };

  try {
    await createChannel('topology');
  } catch (err) {
    await manager.close().catch(() => undefined);
    throw err;
  }

  return {
    topology,
    createChannel,
    isConnected: () => manager.isConnected(),
    close: async () => {
      // Each step is bounded: a channel close waits for the broker's CloseOk, and amqplib's
      // connection close for its own, with no deadline; a broker that stopped answering (a stalled
      // network, a node frozen mid-failover) would hold close() and so the service's shutdown
      // forever. Past the grace the socket is destroyed: whatever was unconfirmed is redelivered
      // to another consumer or answered as not confirmed, as after any lost connection.
      const model = manager.connection;
      const socket = model === undefined ? undefined : socketOf(model);
      const bounded = (step: Promise<unknown>) =>
        withTimeout(step, AMQP_CLOSE_GRACE_MS, () => new Error('amqp close timed out')).then(
          () => true,
          () => false,
        );
      const closed = await bounded(Promise.all(channels.splice(0).map((c) => c.close().catch(() => undefined))));
      if (!closed || !(await bounded(manager.close()))) {
        log.warn({ target }, 'rabbitmq did not answer the close in time; connection dropped');
        socket?.destroy();
        // The manager is closed for good once close() was called: no reconnect follows.
        await bounded(manager.close());
      }
    },
  };
}

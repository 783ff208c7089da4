import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics.js';

export type CloseReason =
  'auth' | 'token-expired' | 'flood' | 'slow-consumer' | 'too-many-sockets' | 'heartbeat' | 'shutdown' | 'unavailable';

/** `loads`: the instance's MongoDB reads off the socket path (shared/background.ts), read at each scrape. */
export function createWsMetrics(registry: Registry, loads: { readonly size: number }) {
  return {
    connectedSockets: new Gauge({
      name: 'ws_connected_sockets',
      help: 'Open WebSocket connections',
      registers: [registry],
    }),
    authenticatedUsers: new Gauge({
      name: 'ws_authenticated_users',
      help: 'Distinct users with at least one authenticated socket on this instance',
      registers: [registry],
    }),
    sent: new Counter({
      name: 'ws_notifications_sent_total',
      help: 'NOTIFICATION frames sent, redeliveries included',
      registers: [registry],
    }),
    redelivered: new Counter({
      name: 'ws_notifications_redelivered_total',
      help: 'NOTIFICATION frames re-sent after ACK_TIMEOUT_MS without an ack',
      registers: [registry],
    }),
    acked: new Counter({
      name: 'ws_notifications_acked_total',
      help: 'Notifications newly acked by clients',
      registers: [registry],
    }),
    staleVersionAcks: new Counter({
      name: 'ws_acks_stale_version_total',
      help: 'Acked ids whose buffered version was newer than the one acked (a grown aggregate): left pending, the newer version sent',
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: 'ws_ack_latency_seconds',
      help: 'From first send on a socket to its ack',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    closed: new Counter({
      name: 'ws_closed_by_server_total',
      help: 'Sockets the server closed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    readsPaused: new Counter({
      name: 'ws_reads_paused_total',
      help: 'Sockets not read for a while because the instance was handling as many frames as it takes at once',
      registers: [registry],
    }),
    acceptErrors: new Counter({
      name: 'ws_accept_errors_total',
      help: 'Connections the server could not accept, by error code (EMFILE: the file-descriptor limit; max_connections: WS_MAX_CONNECTIONS)',
      labelNames: ['code'],
      registers: [registry],
    }),
    idleConnectionsClosed: new Counter({
      name: 'ws_idle_connections_closed_total',
      help: 'Idle keep-alive HTTP connections closed because the open connections neared WS_MAX_CONNECTIONS (WebSockets are never closed this way)',
      registers: [registry],
    }),
    authStage: new Histogram({
      name: 'ws_auth_stage_seconds',
      help: 'AUTH by stage: frame (socket open to AUTH frame read), verified (token checked), ready (replay read, AUTH_OK sent)',
      labelNames: ['stage'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    catchUps: new Counter({
      name: 'ws_replay_catchups_total',
      help: 'MongoDB halves of AUTH replays run after AUTH_OK, by outcome (done, retry: MongoDB failed or was slow, tried again later)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    storeFallbacks: new Counter({
      name: 'ws_store_fallbacks_total',
      help: 'Socket-path reads that went on without MongoDB (Redis had no copy and MongoDB did not answer within MONGO_FALLBACK_WAIT_MS), by what',
      labelNames: ['read'],
      registers: [registry],
    }),
    backgroundLoads: new Gauge({
      name: 'ws_background_loads',
      help: 'MongoDB reads off the socket path (unread counts, preferences, replay catch-ups, ACK checks) running or waiting; past 10,000 waiting new ones are refused',
      registers: [registry],
      collect() {
        this.set(loads.size);
      },
    }),
    sendBufferPeak: new Gauge({
      name: 'ws_send_buffer_peak_bytes',
      help: 'Largest per-socket send buffer seen after a send (bounded by WS_MAX_BUFFERED_BYTES)',
      registers: [registry],
    }),
    wakesReceived: new Counter({
      name: 'ws_wakes_received_total',
      help: 'Wakes this instance heard, by outcome (handled: the user has a socket here; dropped: no longer, the route was stale)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    routeLapsed: new Counter({
      name: 'ws_route_lapsed_total',
      help: 'Users whose wake route registration a refresh round found lapsed; their sockets were resynced from the buffer',
      registers: [registry],
    }),
    routeRefreshFailures: new Counter({
      name: 'ws_route_refresh_failures_total',
      help: 'Wake route refreshes (one per user and round) that failed; retried next round',
      registers: [registry],
    }),
    /** The value behind sendBufferPeak, kept here so a send does not read the registry. */
    sendBufferPeakValue: 0,
  };
}
export type WsMetrics = ReturnType<typeof createWsMetrics>;

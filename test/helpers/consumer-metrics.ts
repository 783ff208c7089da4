/**
 * consumer_events_processed_total over every outcome, from the consumer's /metrics: how many
 * event deliveries it settled (acked after their work, or retried/dead-lettered). A delivery on
 * a channel that closed meanwhile is not counted; its redelivery is.
 */
export async function eventsProcessed(consumerPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${consumerPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('consumer_events_processed_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

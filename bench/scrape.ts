/**
 * Reads a service's Prometheus /metrics and sums one metric's samples, optionally only those
 * whose labels contain `labelFilter` (e.g. `outcome="buffered"`).
 */
export async function scrapeSum(port: number, metric: string, labelFilter?: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics on port ${port}: HTTP ${res.status}`);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric) || (line[metric.length] !== '{' && line[metric.length] !== ' ')) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const STAGES = ['frame', 'verified', 'ready'] as const;

/**
 * Where the ws-server's AUTH time went (its ws_auth_stage_seconds histogram): socket open → AUTH
 * frame read (the client's and the event loop's share), token verified, replay read and AUTH_OK
 * sent. Means, and how many took longer than 1 s and 5 s (AUTH_TIMEOUT_MS by default).
 */
export interface StageStats {
  count: number;
  meanMs: number | null;
  over1s: number;
  over5s: number;
}

/** Only what happened after `before` was read (the histograms are cumulative). */
export function stagesSince(
  before: Record<string, StageStats>,
  after: Record<string, StageStats>,
): Record<string, StageStats> {
  const out: Record<string, StageStats> = {};
  for (const [stage, a] of Object.entries(after)) {
    const b = before[stage] ?? { count: 0, meanMs: null, over1s: 0, over5s: 0 };
    const count = a.count - b.count;
    const sumMs = (a.meanMs ?? 0) * a.count - (b.meanMs ?? 0) * b.count;
    out[stage] = {
      count,
      meanMs: count > 0 ? Math.round((sumMs / count) * 10) / 10 : null,
      over1s: a.over1s - b.over1s,
      over5s: a.over5s - b.over5s,
    };
  }
  return out;
}

export async function authStages(wsPort: number): Promise<Record<string, StageStats>> {
  const res = await fetch(`http://127.0.0.1:${wsPort}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics on port ${wsPort}: HTTP ${res.status}`);
  const lines = (await res.text()).split('\n').filter((l) => l.startsWith('ws_auth_stage_seconds_'));
  const value = (suffix: string, stage: string, le?: string) => {
    const line = lines.find(
      (l) =>
        l.startsWith(`ws_auth_stage_seconds_${suffix}{`) &&
        l.includes(`stage="${stage}"`) &&
        (le === undefined || l.includes(`le="${le}"`)),
    );
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const out: Record<string, StageStats> = {};
  for (const stage of STAGES) {
    const count = value('count', stage);
    const sum = value('sum', stage);
    out[stage] = {
      count,
      meanMs: count > 0 ? Math.round((sum / count) * 1000 * 10) / 10 : null,
      over1s: count - value('bucket', stage, '1'),
      over5s: count - value('bucket', stage, '5'),
    };
  }
  return out;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PreferenceCache } from '../../consumer/preference-cache.js';
import { DEFAULT_PREFERENCES, type Preferences } from '../../shared/preferences.js';

/** The store behind the cache (shared/preferences.ts's contract): what it was asked, and when it answers. */
class Store {
  readonly asked: string[][] = [];
  values = new Map<string, Preferences>();
  standIns = new Set<string>();
  /** Set to hold the next read until released. */
  gate: Promise<void> | undefined;

  async readManyWithStandIns(userIds: string[]) {
    this.asked.push([...userIds]);
    if (this.gate) await this.gate;
    const prefs = new Map(userIds.map((u) => [u, this.values.get(u) ?? DEFAULT_PREFERENCES]));
    return { prefs, standIns: new Set(userIds.filter((u) => this.standIns.has(u))) };
  }
}

const muted = (type: string): Preferences => ({ ...DEFAULT_PREFERENCES, mutedTypes: [type] });

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  const store = new Store();
  let now = 1_000_000;
  const lookups = { hit: 0, miss: 0 };
  const cache = new PreferenceCache(store, {
    ttlMs: options.ttlMs ?? 30_000,
    maxEntries: options.maxEntries ?? 100,
    onLookup: (outcome, count) => (lookups[outcome] += count),
    now: () => now,
  });
  cache.resume();
  return { store, cache, lookups, advance: (ms: number) => (now += ms) };
}

describe('the consumer’s preference cache', () => {
  it('reads a batch’s recipients once, then serves them from memory', async () => {
    const { store, cache, lookups } = setup();
    store.values.set('a', muted('LIKE'));
    const first = await cache.readMany(['a', 'b', 'a']);
    assert.deepEqual(store.asked, [['a', 'b']]);
    assert.deepEqual(first.get('a'), muted('LIKE'));
    const second = await cache.readMany(['a', 'b', 'c']);
    assert.deepEqual(store.asked, [['a', 'b'], ['c']], 'only the new recipient is read');
    assert.deepEqual(second.get('a'), muted('LIKE'));
    assert.deepEqual(lookups, { hit: 2, miss: 3 });
  });

  it('an announced write drops the user’s copy: the next read sees the new preferences', async () => {
    const { store, cache } = setup();
    await cache.readMany(['a']);
    store.values.set('a', muted('COMMENT'));
    assert.deepEqual((await cache.readMany(['a'])).get('a'), DEFAULT_PREFERENCES, 'not announced yet');
    cache.invalidate('a');
    assert.deepEqual((await cache.readMany(['a'])).get('a'), muted('COMMENT'));
  });

  it('a read in flight when any write is announced is used once but not kept', async () => {
    const { store, cache } = setup();
    let release!: () => void;
    store.gate = new Promise((resolve) => (release = resolve));
    const reading = cache.readMany(['a']); // may have fetched the copy the write replaces
    cache.invalidate('a');
    release();
    assert.deepEqual((await reading).get('a'), DEFAULT_PREFERENCES);
    store.gate = undefined;
    store.values.set('a', muted('LIKE'));
    assert.deepEqual((await cache.readMany(['a'])).get('a'), muted('LIKE'), 'read again, not served from memory');
    assert.equal(store.asked.length, 2);
  });

  it('serves and keeps nothing while suspended, and starts empty on resume', async () => {
    const { store, cache } = setup();
    await cache.readMany(['a']);
    cache.suspend(); // the subscription dropped: announcements may be missed
    store.values.set('a', muted('LIKE'));
    assert.deepEqual((await cache.readMany(['a'])).get('a'), muted('LIKE'));
    await cache.readMany(['a']);
    assert.equal(store.asked.length, 3, 'every read went to the store');
    assert.equal(cache.size, 0);
    cache.resume();
    await cache.readMany(['a']);
    await cache.readMany(['a']);
    assert.equal(store.asked.length, 4, 'cached again once resumed');
  });

  it('starts suspended: nothing is served before the subscription is live', async () => {
    const store = new Store();
    const cache = new PreferenceCache(store, { ttlMs: 30_000, maxEntries: 10 });
    await cache.readMany(['a']);
    await cache.readMany(['a']);
    assert.equal(store.asked.length, 2);
  });

  it('keeps a copy no longer than its TTL, and never the defaults standing in for a slow MongoDB', async () => {
    const { store, cache, advance } = setup({ ttlMs: 1000 });
    store.standIns.add('slow');
    await cache.readMany(['a', 'slow']);
    await cache.readMany(['a', 'slow']);
    assert.deepEqual(store.asked, [['a', 'slow'], ['slow']]);
    advance(1000);
    await cache.readMany(['a']);
    assert.deepEqual(store.asked.at(-1), ['a'], 'expired after ttlMs');
  });

  it('holds at most maxEntries users, dropping the least recently stored', async () => {
    const { store, cache } = setup({ maxEntries: 2 });
    await cache.readMany(['a', 'b']);
    await cache.readMany(['c']);
    assert.equal(cache.size, 2);
    await cache.readMany(['b', 'c']);
    assert.equal(store.asked.length, 2, 'b and c are held');
    await cache.readMany(['a']);
    assert.deepEqual(store.asked.at(-1), ['a'], 'a was dropped');
  });

  it('ttlMs 0 turns it off', async () => {
    const { store, cache } = setup({ ttlMs: 0 });
    await cache.readMany(['a']);
    await cache.readMany(['a']);
    assert.equal(store.asked.length, 2);
  });
});

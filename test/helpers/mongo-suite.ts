import { after, before } from 'node:test';
import type { Config } from '../../shared/config.js';
import { ensureIndexes, models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from './cleanup.js';
import { testLogger } from './logger.js';

/**
 * Call inside a describe(): connects to the test's database before its tests and builds the
 * declared indexes as the services do at start-up; closes and drops everything after. The
 * returned getter is valid from the first test on.
 */
export function useIndexedModels(config: Config): () => Models {
  let mongo: Connection | undefined;
  let m: Models | undefined;
  before(async () => {
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    await ensureIndexes(m);
  });
  after(async () => {
    await mongo?.close();
    await cleanupTestResources(config);
  });
  return () => {
    if (!m) throw new Error('useIndexedModels: used before its before() hook ran');
    return m;
  };
}

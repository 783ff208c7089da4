import { signUserToken } from '../shared/auth/jwt.js';
import { loadConfig } from '../shared/config.js';
import { errorMessage } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { ensureIndexes, models } from '../shared/models/index.js';
import { runAll } from '../shared/lifecycle.js';
import { connectMongo } from '../shared/mongo.js';
import { closeRedis, connectRedis } from '../shared/redis.js';
import { DEMO_USERS } from './data.js';
import { seedFollowGraph } from './follows.js';
import { seedDemoData } from './seed.js';

/** One-shot: writes the demo users and posts, then prints how to connect as each of them. */
try {
  const config = loadConfig();
  const logger = createLogger(config, 'seed');
  const mongo = await connectMongo(config, logger);
  const redis = await connectRedis(config, logger, 'seed').catch(async (err: unknown) => {
    await mongo.close();
    throw err;
  });
  try {
    const m = models(mongo);
    await ensureIndexes(m);
    const counts = await seedDemoData(m, redis);
    const graph = await seedFollowGraph(m);
    logger.info({ ...counts, ...graph }, 'demo data seeded');
  } finally {
    await runAll([() => mongo.close(), () => closeRedis(redis)]);
  }

  // PORT is set on a platform (Railway), where this runs inside the producer's container: it is
  // that container's port, not where users reach the services, so no local address is printed.
  const local = config.http.portOverride === undefined;
  const wsUrl = local ? `ws://localhost:${config.http.ports['ws-server']}` : 'wss://<your ws-server domain>';
  const producerUrl = local ? `http://localhost:${config.http.ports.producer}` : 'https://<your producer domain>';
  const lines = [
    '',
    `Demo users seeded. Producer: ${producerUrl}  WebSocket: ${wsUrl}`,
    `WS_AUTH_MODE=${config.auth.mode}${config.auth.mode === 'dev' ? ' (a bare {"type":"AUTH","userId":"user1"} is accepted)' : ''}`,
    // Never the key itself: this may run against a real deployment's configuration.
    config.intake.apiKeys.length > 0
      ? `Events: send Authorization: ApiKey <one of INTAKE_API_KEYS>${config.nodeEnv === 'production' ? '' : ' (npm run dev printed its development key)'}`
      : 'Events: INTAKE_API_KEYS is unset, so event intake is open (refused in production)',
  ];
  // Tokens can be minted here only when JWT_SECRET verifies them; an auth server's key signs its own.
  if (config.auth.token.key.kind !== 'secret') {
    lines.push(
      `Tokens are verified with ${config.auth.token.key.kind === 'jwks' ? 'JWT_JWKS_FILE' : 'JWT_PUBLIC_KEY'}: get one from your auth server.`,
    );
  } else lines.push('Connect with wscat, then paste the AUTH frame shown for the user:');
  for (const user of config.auth.token.key.kind === 'secret' ? DEMO_USERS : []) {
    const { maxLifetimeSeconds, issuer, audience } = config.auth.token;
    const token = await signUserToken(user._id, config.auth.jwtSecret, Math.min(24 * 3600, maxLifetimeSeconds), {
      issuer,
      audience,
    });
    lines.push(`  ${user._id} (${user.name})`, `    npx wscat -c ${wsUrl}`, `    {"type":"AUTH","token":"${token}"}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (err) {
  process.stderr.write(`seed failed: ${errorMessage(err)}\n`);
  process.exit(1);
}

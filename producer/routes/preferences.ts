import express, { Router } from 'express';
import type { TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import type { PreferenceStore } from '../../shared/preferences.js';
import type { PreferencesBody } from '../../shared/protocol/http.js';
import { authenticate, requireSameUser } from '../auth.js';
import { HttpError } from '../http-errors.js';
import { readPreferences, replacePreferences } from '../preferences.js';

const USER_ID = /^[\w.:@-]{1,200}$/;

export function preferencesRouter(deps: {
  config: Pick<Config, 'auth' | 'http'>;
  tokens: TokenVerifier;
  store: PreferenceStore;
}): Router {
  const router = Router();
  const auth = authenticate(deps.config, deps.tokens);
  const userIdOf = (raw: unknown): string => {
    if (typeof raw !== 'string' || !USER_ID.test(raw)) {
      throw new HttpError(400, 'validation_failed', 'invalid userId', {
        details: [{ field: 'userId', message: '"userId" must be 1-200 characters of A-Z a-z 0-9 _ . : @ -' }],
      });
    }
    return raw;
  };

  router.get('/users/:userId/preferences', auth, requireSameUser, async (req, res) => {
    res.json((await readPreferences(deps.store, userIdOf(req.params.userId))) satisfies PreferencesBody);
  });

  router.put(
    '/users/:userId/preferences',
    auth,
    requireSameUser,
    express.json({ limit: deps.config.http.maxBodyBytes }),
    async (req, res) => {
      if (!req.is('application/json'))
        throw new HttpError(415, 'unsupported_media_type', 'send Content-Type: application/json');
      res.json((await replacePreferences(deps.store, userIdOf(req.params.userId), req.body)) satisfies PreferencesBody);
    },
  );
  return router;
}

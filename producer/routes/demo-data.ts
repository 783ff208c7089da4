import { Router } from 'express';
import type { Models } from '../../shared/models/index.js';

/**
 * The seeded world is ten users and twenty posts, but these collections are shared with
 * whatever else writes users and posts: a list for picking ids never needs more than this, and
 * an unbounded read would grow with them until it missed its deadline on every call.
 */
export const DEMO_LIST_LIMIT = 200;

/** The seeded demo world, so Postman users can pick real ids for their events. */
export function demoDataRouter(models: Models): Router {
  const router = Router();
  router.get('/users', async (_req, res) => {
    const users = await models.User.find({}, { name: 1 }).sort({ _id: 1 }).limit(DEMO_LIST_LIMIT).lean();
    res.json({ users: users.map((u) => ({ id: u._id, name: u.name })) });
  });
  router.get('/posts', async (_req, res) => {
    const posts = await models.Post.find({}, { authorId: 1, title: 1 }).sort({ _id: 1 }).limit(DEMO_LIST_LIMIT).lean();
    res.json({ posts: posts.map((p) => ({ id: p._id, authorId: p.authorId, title: p.title })) });
  });
  return router;
}

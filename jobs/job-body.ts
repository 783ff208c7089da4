import Joi from 'joi';
import { PermanentError } from '../shared/errors.js';
import type { AckMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';

/**
 * What jobs accepts from its queues. A body that fails here can never be written, so it is a
 * PermanentError (dead-lettered with the details), never a retry.
 */

const id = () => Joi.string().min(1).max(200);

const notificationSchema = Joi.object<Notification>({
  id: id().required(),
  userId: id().required(),
  seq: Joi.number().integer().min(0).required(),
  type: Joi.string().min(1).max(64).required(),
  priority: Joi.number().integer().min(0).max(255).required(),
  actors: Joi.array().items(Joi.string()).required(),
  actorCount: Joi.number().integer().min(0).required(),
  objectId: Joi.string().allow(null).required(),
  message: Joi.string().min(1).required(),
  createdAt: Joi.string().isoDate().required(),
  version: Joi.number().integer().min(1).required(),
  eventIds: Joi.array().items(Joi.string()).required(),
}).unknown(true);

const ackSchema = Joi.object<AckMessage>({
  notificationId: id().required(),
  userId: id().required(),
  ackedAt: Joi.string().isoDate().required(),
}).unknown(true);

function parse<T>(content: Buffer, schema: Joi.ObjectSchema<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch {
    throw new PermanentError(`${what}: body is not JSON`);
  }
  const { value, error } = schema.validate(raw, { abortEarly: false, convert: false });
  if (error) throw new PermanentError(`${what}: ${error.details.map((d) => d.message).join('; ')}`);
  return value;
}

export const parsePersistJob = (content: Buffer): Notification => parse(content, notificationSchema, 'persist job');
export const parseAckMessage = (content: Buffer): AckMessage => parse(content, ackSchema, 'ack message');

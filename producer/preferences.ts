import type Joi from 'joi';
import { preferencesSchema, type PreferenceStore, type Preferences } from '../shared/preferences.js';
import { protoKeyProblem } from '../shared/schemas/proto-key.js';
import { fieldProblems } from '../shared/schemas/no-value-messages.js';
import { HttpError } from './http-errors.js';

/** GET/PUT /users/:userId/preferences: the whole document is replaced, validated first. */
export async function readPreferences(store: PreferenceStore, userId: string): Promise<Preferences> {
  return store.readOrLoad(userId);
}

export async function replacePreferences(store: PreferenceStore, userId: string, body: unknown): Promise<Preferences> {
  const protoKey = protoKeyProblem(body);
  const { value, error } = (preferencesSchema as Joi.ObjectSchema<Preferences>).validate(body ?? {});
  if (protoKey || error) {
    const details = protoKey ? [protoKey] : error ? fieldProblems(error) : [];
    throw new HttpError(400, 'validation_failed', 'invalid preferences', { details });
  }
  return store.write(userId, value);
}

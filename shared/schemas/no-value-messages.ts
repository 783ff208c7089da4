import type Joi from 'joi';
import { clipped } from '../client-text.js';
import type { FieldProblem } from './event.js';

/**
 * Joi's pattern messages quote the value ('"actorId" with value "…" fails to match …'). These
 * messages reach 400 answers, but also the consumer's log lines and dead-letter headers, which
 * must never carry a payload: the same messages without the value. Set once on a schema with
 * `.messages()` (passed to validate() they would be compiled again on every call).
 */
export const NO_VALUE_MESSAGES: Joi.LanguageMessages = {
  'string.pattern.base': '{{#label}} fails to match the required pattern: {{#regex}}',
  'string.pattern.name': '{{#label}} fails to match the {{#name}} pattern',
  'string.pattern.invert.base': '{{#label}} matches the inverted pattern: {{#regex}}',
  'string.pattern.invert.name': '{{#label}} matches the inverted {{#name}} pattern',
  // Joi's '"<key>" is not allowed' quotes a key the client chose, as long as the body allows:
  // the key is in `field`, cut (fieldProblems).
  'object.unknown': 'not a known field',
};

/**
 * A validation error as the answers' `details` (and the consumer's dead-letter reasons): each
 * problem's path, clipped (an unknown key is the client's text: shared/client-text.ts), and its
 * message.
 */
export function fieldProblems(error: Joi.ValidationError, wholeInput = '(body)'): FieldProblem[] {
  return error.details.map((d) => ({ field: clipped(d.path.join('.') || wholeInput), message: d.message }));
}

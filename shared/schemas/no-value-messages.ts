import type Joi from 'joi';

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
};

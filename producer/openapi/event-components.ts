import { EVENT_TYPES, eventSchemaOf, type EventType } from '../../shared/schemas/event.js';
import { joiToOpenApi, type JsonSchema } from './joi-to-openapi.js';

/** `LIKE` → `LikeEvent`: the OpenAPI component that documents one event type. */
export function eventComponentName(type: EventType): string {
  return `${type.charAt(0)}${type.slice(1).toLowerCase()}Event`;
}

/** Every event body's schema, `Event` (the union keyed by `type`) and `LegacyLike`; generated from Joi. */
export function eventComponents(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const type of EVENT_TYPES) out[eventComponentName(type)] = joiToOpenApi(eventSchemaOf(type));
  const ref = (type: EventType) => `#/components/schemas/${eventComponentName(type)}`;
  // POST /like (producer/routes/events.ts) fills in a missing type, then validates a LIKE.
  const like = out[eventComponentName('LIKE')]!;
  out.LegacyLike = {
    description: 'The legacy Postman body of POST /like: a LikeEvent whose `type` may be omitted.',
    ...like,
    required: (like.required as string[]).filter((key) => key !== 'type'),
  };
  out.Event = {
    oneOf: EVENT_TYPES.map((type) => ({ $ref: ref(type) })),
    discriminator: { propertyName: 'type', mapping: Object.fromEntries(EVENT_TYPES.map((t) => [t, ref(t)])) },
  };
  return out;
}

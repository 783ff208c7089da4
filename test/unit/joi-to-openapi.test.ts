import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { eventComponentName, eventComponents } from '../../producer/openapi/event-components.js';
import { EVENT_TYPES, validateEvent } from '../../shared/schemas/event.js';
import { createAjv } from '../helpers/ajv.js';
import { invalidOf, validOf, type Schema } from '../helpers/json-schema-arbitrary.js';

/*
 * The event schemas docs/openapi.yaml documents (generated from Joi, producer/openapi/) say yes
 * exactly when Joi does: the same verdict on values generated to pass and to fail, and on the
 * inputs Joi converts (trimmed text, a string amount, a third decimal, a lower-case currency).
 */
const components = eventComponents();
const ajv = createAjv();
for (const [name, schema] of Object.entries(components)) ajv.addSchema(schema, `#/components/schemas/${name}`);
const documented = (name: string) => ajv.getSchema(`#/components/schemas/${name}`)!;

const payment = { type: 'PAYMENT', targetId: 'user2', paymentId: 'pay-1' };
const order = { type: 'ORDER', targetId: 'user2', orderId: 'o-1' };
const EDGES: Array<Record<string, unknown>> = [
  ...[' ', '\u00a0', '\ufeff', '\u2028x\u2028', ' a ', '\ta\n', `  ${'a'.repeat(500)}  `, 'a'.repeat(501), ''].map(
    (text) => ({ ...order, text }),
  ),
  ...['12.5', 12.345, 0.001, 0.01, 9007199254740991, 9007199254740992, -1, 0].map((amount) => ({ ...payment, amount })),
  ...['eur', 'EUR', 'eu', 'euro', 'ıab', 'ßab', 'e1r', ' eur'].map((currency) => ({ ...payment, currency })),
  ...[' user1', 'user1 ', 'a'.repeat(128), 'a'.repeat(129), 'a b'].map((actorId) => ({ ...order, actorId })),
];

describe('the documented event schemas and Joi agree', () => {
  it('on edge values Joi would convert', () => {
    for (const input of EDGES) {
      const name = eventComponentName(input.type as (typeof EVENT_TYPES)[number]);
      assert.equal(documented(name)(input), validateEvent(input).ok, `${name} ${JSON.stringify(input)}`);
    }
  });

  for (const type of EVENT_TYPES) {
    it(`on generated ${type} events, valid and broken`, () => {
      const name = eventComponentName(type);
      const schema = components[name] as Schema;
      fc.assert(
        fc.property(fc.oneof(validOf(schema), invalidOf(schema)!), (input) => {
          assert.equal(documented(name)(input), validateEvent(input).ok, `${name} ${JSON.stringify(input)}`);
        }),
        { numRuns: 500 },
      );
    });
  }
});

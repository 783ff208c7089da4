import Joi from 'joi';

/**
 * The machinery of shared/config.ts: one `envVar(...)` declaration per environment variable,
 * carrying everything said about it (name, accepted values, default, meaning, readers, level),
 * and a reader that turns a tree of declarations into a typed tree of values. The docs
 * (README, docs/configuration.md, .env.example) are rendered from the same declarations by
 * scripts/env-docs.ts, so nothing about a variable is written twice.
 */

export const SERVICE_NAMES = ['producer', 'consumer', 'ws-server', 'jobs'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * essential: what a deployment decides (where the stores are, who may call, how tokens are
 * checked); tuning: limits and windows whose defaults are sized and measured, changed only with
 * a reason (docs/performance.md). The README lists the essential ones.
 */
export type Level = 'essential' | 'tuning';

/** A string parsed into a value: Joi validates (and converts) the text, `parse` shapes it. */
export interface Parser<T> {
  readonly schema: Joi.Schema;
  /** What the variable accepts, as the docs say it ("integer ≥ 1", "token | dev"). */
  readonly accepts: string;
  readonly parse: (validated: unknown) => T;
}

export interface VarMeta<T> {
  /** One or two sentences: what it does and what happens at the limit. Rendered in every doc. */
  readonly doc: string;
  /** The services whose behaviour it changes; 'every' when all four read it. */
  readonly services: 'every' | readonly ServiceName[];
  readonly level: Level;
  /** What to set in production; absent: the default is right there too. */
  readonly production?: string;
  /** The value when unset (typed: a number for a number); absent: the variable is optional. */
  readonly default?: T;
  /**
   * A second name read when this one is unset. Setting both to different values is refused.
   * `deprecated` (why the name was retired) makes it a name being phased out: its use logs a
   * warning at start-up (Config.warnings) and the docs list it apart.
   */
  readonly alias?: { readonly name: string; readonly deprecated?: string };
}

export interface EnvVar<T> extends Omit<VarMeta<T>, 'default'> {
  readonly kind: 'env-var';
  readonly name: string;
  readonly accepts: string;
  /** The default as the environment would spell it (docs, .env.example); undefined: none. */
  readonly defaultText: string | undefined;
  /** `raw` is the variable's text (undefined when unset); `label` names it in a problem. */
  readonly read: (raw: string | undefined, label: string) => { ok: true; value: T } | { ok: false; problem: string };
}

export function envVar<T>(
  name: string,
  parser: Parser<T>,
  meta: VarMeta<NoInfer<T>> & { default: NoInfer<T> },
): EnvVar<T>;
export function envVar<T>(name: string, parser: Parser<T>, meta: VarMeta<NoInfer<T>>): EnvVar<T | undefined>;
export function envVar<T>(name: string, parser: Parser<T>, meta: VarMeta<T>): EnvVar<T | undefined> {
  const { default: fallback, ...rest } = meta;
  return {
    ...rest,
    kind: 'env-var',
    name,
    accepts: parser.accepts,
    defaultText: fallback === undefined ? undefined : String(fallback),
    read(raw, label) {
      if (raw === undefined) return { ok: true, value: fallback };
      const { value, error } = parser.schema.label(label).validate(raw, { convert: true });
      if (error) return { ok: false, problem: `${label}: ${error.message}` };
      return { ok: true, value: parser.parse(value) };
    },
  };
}

// --- Parsers -------------------------------------------------------------------------------

const identity = <T>(value: unknown) => value as T;

export function integer(min: number, max?: number): Parser<number> {
  const schema = Joi.number().integer().min(min);
  return {
    schema: max === undefined ? schema : schema.max(max),
    accepts: max === undefined ? `integer ≥ ${min}` : `integer ${min}–${max}`,
    parse: identity<number>,
  };
}

/** A number from `min` to `max`, fractions allowed (a ratio). */
export function decimal(min: number, max: number): Parser<number> {
  return { schema: Joi.number().min(min).max(max), accepts: `number ${min}–${max}`, parse: (v) => v as number };
}

export function flag(): Parser<boolean> {
  return { schema: Joi.boolean(), accepts: 'true | false', parse: identity<boolean> };
}

/** One of a fixed set of words; the value's type is their union. */
export function oneOf<const V extends readonly string[]>(values: V): Parser<V[number]> {
  return { schema: Joi.string().valid(...values), accepts: values.join(' | '), parse: identity<V[number]> };
}

export function url(schemes: readonly string[], maxLength?: number): Parser<string> {
  const schema = Joi.string().uri({ scheme: [...schemes] });
  return {
    schema: maxLength === undefined ? schema : schema.max(maxLength),
    accepts: `${schemes.map((s) => `${s}://`).join(' or ')} URL`,
    parse: identity<string>,
  };
}

/**
 * A MongoDB connection string: `mongodb://` may list several hosts (a replica set's seed list,
 * `mongodb://h1:27017,h2:27017/db?replicaSet=rs`), which a URI check refuses, so the list is
 * checked host by host and the rest as one URL. The error never quotes the value (a password).
 */
export function mongoUrl(): Parser<string> {
  const one = Joi.string().uri({ scheme: ['mongodb', 'mongodb+srv'] });
  const host = /^[A-Za-z0-9.\-_[\]:%]+$/;
  const schema = Joi.string()
    .max(8000)
    .custom((value: string, helpers) => {
      const parts = mongoUrlParts(value);
      const ok =
        parts !== undefined &&
        parts.hosts.every((h) => host.test(h)) &&
        (parts.hosts.length === 1 || parts.scheme === 'mongodb://') &&
        one.validate(`${parts.scheme}${parts.credentials}${parts.hosts[0]}${parts.rest}`).error === undefined;
      return ok ? value : helpers.message({ custom: 'must be a mongodb:// or mongodb+srv:// URL' });
    });
  return {
    schema,
    accepts: 'mongodb:// or mongodb+srv:// URL (several hosts comma-separated)',
    parse: identity<string>,
  };
}

/**
 * A MongoDB connection string cut into its parts, undefined when it is none. Credentials cannot
 * hold an unescaped '/', '?' or '@' (the connection string spec), so the host list ends at the
 * first '/' or '?' after them; `database` is the path before the options ('' for none: the driver
 * would then use "test").
 */
export function mongoUrlParts(
  url: string,
): { scheme: string; credentials: string; hosts: string[]; rest: string; database: string } | undefined {
  const match = /^(mongodb(?:\+srv)?:\/\/)((?:[^@/]*@)?)([^/?]*)(.*)$/.exec(url);
  if (!match) return undefined;
  const rest = match[4]!;
  const database = rest.startsWith('/') ? rest.slice(1).split('?')[0]! : '';
  return { scheme: match[1]!, credentials: match[2]!, hosts: match[3]!.split(','), rest, database };
}

/**
 * One URL or several separated by commas (the nodes of a cluster), blanks around them ignored.
 * The error names which item is wrong, never the URL itself: it may carry a password.
 */
export function urlList(schemes: readonly string[], maxLength = 8000): Parser<string[]> {
  const one = Joi.string().uri({ scheme: [...schemes] });
  const schema = Joi.string()
    .max(maxLength)
    .custom((value: string, helpers) => {
      const urls = splitList(value);
      const bad = urls.findIndex((u) => one.validate(u).error !== undefined);
      if (urls.length === 0 || bad >= 0) {
        const which = urls.length > 1 ? ` (URL ${bad + 1} of ${urls.length} is not)` : '';
        return helpers.message({
          custom: `must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL, or several separated by commas${which}`,
        });
      }
      return value;
    });
  return {
    schema,
    accepts: `${schemes.map((s) => `${s}://`).join(' or ')} URL, or several separated by commas`,
    parse: (v) => splitList(v as string),
  };
}

/** Comma-separated items, blanks around them ignored, empty ones dropped. */
export function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Any other text: `schema` says what is valid, `accepts` how the docs put it. */
export function text(schema: Joi.StringSchema, accepts: string): Parser<string> {
  return { schema, accepts, parse: identity<string> };
}

/** Comma-separated, blanks around an item ignored, empty items dropped. */
export function list(maxLength: number, parseItems: (raw: string) => string[]): Parser<string[]> {
  return {
    schema: Joi.string().max(maxLength),
    accepts: 'comma-separated list',
    parse: (v) => parseItems(v as string),
  };
}

/** A parser whose value is shaped further (trimmed, split) after Joi validated the text. */
export function mapped<A, B>(parser: Parser<A>, parse: (value: A) => B): Parser<B> {
  return { ...parser, parse: (v) => parse(parser.parse(v)) };
}

// --- Trees of declarations -----------------------------------------------------------------

/** A tree of declarations: the shape of the config, with an EnvVar at every leaf. */
export interface Declarations {
  readonly [key: string]: EnvVar<unknown> | Declarations;
}

/** The values a tree of declarations reads: the same shape, each leaf its variable's type. */
export type Resolved<D> = D extends EnvVar<infer T> ? T : { -readonly [K in keyof D]: Resolved<D[K]> };

function isEnvVar(node: EnvVar<unknown> | Declarations): node is EnvVar<unknown> {
  return node.kind === 'env-var';
}

/** Every declaration of the tree, in declaration order (the order of the docs). */
export function flatten(tree: Declarations): EnvVar<unknown>[] {
  return Object.values(tree).flatMap((node) => (isEnvVar(node) ? [node] : flatten(node)));
}

export type Env = Record<string, string | undefined>;

export interface ReadResult<D> {
  values: Resolved<D>;
  /** `NAME: why`, one per bad variable, never a value (it may be a secret). */
  problems: string[];
  /** Deprecated names in use, one line each. */
  warnings: string[];
}

/** Reads every variable of `tree` from `env` (empty strings already removed), all problems at once. */
export function readTree<D extends Declarations>(tree: D, env: Env): ReadResult<D> {
  const problems: string[] = [];
  const deprecatedUse = new Map<string, string[]>();
  const walk = (node: Declarations): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(node).map(([key, child]) => {
        if (!isEnvVar(child)) return [key, walk(child)];
        const own = env[child.name];
        const aliased = child.alias === undefined ? undefined : env[child.alias.name];
        if (child.alias && aliased !== undefined) {
          if (own !== undefined && own !== aliased) {
            problems.push(`${child.name} / ${child.alias.name}: both are set and differ; set only one`);
          }
          if (child.alias.deprecated !== undefined)
            deprecatedUse.set(child.alias.name, [...(deprecatedUse.get(child.alias.name) ?? []), child.name]);
        }
        const label = own === undefined && aliased !== undefined ? child.alias!.name : child.name;
        const result = child.read(own ?? aliased, label);
        if (!result.ok) problems.push(result.problem);
        return [key, result.ok ? result.value : undefined];
      }),
    );
  const values = walk(tree) as Resolved<D>;
  const warnings = [...deprecatedUse].map(
    ([alias, names]) =>
      `${alias} is deprecated: it is read as ${names.join(' and ')}; set ${names.length > 1 ? 'those' : 'that'} instead (docs/configuration.md)`,
  );
  return { values, problems, warnings };
}

/** The unit a name carries (house rule: units in names), for the docs. */
export function unitOf(name: string): string {
  const units: [RegExp, string][] = [
    [/_MS$/, 'ms'],
    [/_SECONDS$/, 's'],
    [/_BYTES$/, 'bytes'],
    [/_PER_MINUTE$/, 'per minute'],
    [/_PER_SECOND$/, 'per second'],
    [/_CONNECTIONS$/, 'connections'],
    [/_PORT$|^PORT$/, 'TCP port'],
  ];
  return units.find(([pattern]) => pattern.test(name))?.[1] ?? '';
}

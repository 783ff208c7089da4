import type { Express, RequestHandler } from 'express';
import { HttpError } from './http-errors.js';

/**
 * A path the producer serves, asked with a method it does not serve there (TRACE included), is a
 * 405 with `Allow`, not the 404 that says no such path exists; OPTIONS on such a path answers
 * 204 with `Allow` (a CORS preflight from an allowed origin is answered before, by cors.ts).
 * docs/openapi.yaml documents the answer as components/responses/MethodNotAllowed.
 *
 * The table is the app's own routes, read from Express's router on the first request (every
 * router is mounted by then), so a new route needs nothing here. Matching follows Express's
 * defaults: case-insensitive, an optional trailing slash, a `:param` is one non-empty segment.
 */

interface RouteLayer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
  /** Set by Express's router for middleware mounted at "/" (a router mounted with a prefix is not). */
  slash?: boolean;
}

interface PathMethods {
  pattern: RegExp;
  methods: Set<string>;
}

/** `/users/:userId/follows` → a RegExp; anything but literal segments and `:params` is refused. */
function patternOf(path: string): RegExp {
  const segments = path.split('/').slice(1);
  const source = segments
    .map((segment) => {
      if (/^:\w+$/.test(segment)) return '/[^/]+';
      if (!/^[\w.-]*$/.test(segment)) throw new Error(`method-not-allowed: route syntax not supported: ${path}`);
      return `/${segment.replace(/\./g, '\\.')}`;
    })
    .join('');
  return new RegExp(`^${source}/?$`, 'i');
}

function routesOf(stack: RouteLayer[], out: Map<string, Set<string>>): void {
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? (layer.route.path as unknown[]) : [layer.route.path];
      for (const path of paths) {
        if (typeof path !== 'string') throw new Error('method-not-allowed: a route path that is not a string');
        const methods = out.get(path) ?? new Set<string>();
        for (const [method, on] of Object.entries(layer.route.methods))
          if (on && method !== '_all') methods.add(method.toUpperCase());
        out.set(path, methods);
      }
    } else if (layer.handle?.stack) {
      if (!layer.slash) throw new Error('method-not-allowed: a router mounted below "/" is not supported');
      routesOf(layer.handle.stack, out);
    }
  }
}

function tableOf(app: Express): PathMethods[] {
  const byPath = new Map<string, Set<string>>();
  routesOf((app as unknown as { router: { stack: RouteLayer[] } }).router.stack, byPath);
  return [...byPath].map(([path, methods]) => ({ pattern: patternOf(path), methods }));
}

/** The methods the routes serve on a path; empty for a path no route serves. */
function servedOn(table: PathMethods[], path: string): Set<string> {
  const methods = new Set<string>();
  for (const entry of table) if (entry.pattern.test(path)) for (const m of entry.methods) methods.add(m);
  // Express answers HEAD with the GET route.
  if (methods.has('GET')) methods.add('HEAD');
  return methods;
}

export function methodNotAllowed(app: Express): RequestHandler {
  let table: PathMethods[] | undefined;
  return (req, res, next) => {
    table ??= tableOf(app);
    const served = servedOn(table, req.path);
    if (served.size === 0 || served.has(req.method)) return next();
    const allowed = [...served, 'OPTIONS'].sort();
    res.set('Allow', allowed.join(', '));
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(
      new HttpError(
        405,
        'method_not_allowed',
        `${req.method} is not allowed on this path; it allows ${allowed.join(', ')}`,
      ),
    );
  };
}

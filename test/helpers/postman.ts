import newman, { type NewmanRunExecution, type NewmanRunOptions, type NewmanRunSummary } from 'newman';
import type { Request, Response } from 'postman-collection';

/** The files users import: the tests and scripts/postman-examples.ts run them as shipped. */
export const POSTMAN_COLLECTION = 'postman/notification-pipeline.postman_collection.json';
export const POSTMAN_ENVIRONMENT = 'postman/local.postman_environment.json';

/** One request of the collection as sent and answered (never a script's pm.sendRequest). */
export interface PostmanAnswer {
  path: string;
  /** As sent: {{variables}} resolved. */
  request: Request;
  response: Response;
}

export interface PostmanRun {
  summary: NewmanRunSummary;
  /** In the order sent; a request that repeats itself (History's polling) once per send. */
  answers: PostmanAnswer[];
}

/**
 * Runs the collection with newman and the shipped environment file, overriding only `envVar`
 * (the producer's port, a token): what a user does with `npx newman run … -e …`.
 */
export function runPostman(
  envVar: Array<{ key: string; value: string }>,
  options: Pick<NewmanRunOptions, 'folder' | 'iterationCount'> = {},
): Promise<PostmanRun> {
  const sent: Array<{ id: string; request: Request; response: Response }> = [];
  return new Promise((resolve, reject) => {
    newman
      .run(
        {
          collection: POSTMAN_COLLECTION,
          environment: POSTMAN_ENVIRONMENT,
          envVar,
          reporters: [],
          timeoutRequest: 30_000,
          ...options,
        },
        (err, summary) => {
          if (err) return reject(err);
          // The event's item is a detached copy (no parent): its path comes from the run's collection.
          const paths = new Map<string, string>();
          summary.collection.forEachItem(
            (item) => void paths.set(item.id, itemPath(item as NewmanRunExecution['item'])),
          );
          resolve({ summary, answers: sent.map(({ id, ...answer }) => ({ path: paths.get(id) ?? id, ...answer })) });
        },
      )
      // A request a script sends carries a scriptId. newman's own `executions` record those over
      // the request's answer (same cursor), so the answers are collected here instead.
      .on(
        'request',
        (
          err: Error | null,
          args: { cursor?: { scriptId?: string }; item: { id: string }; request: Request; response?: Response },
        ) => {
          if (!err && !args.cursor?.scriptId && args.response)
            sent.push({ id: args.item.id, request: args.request, response: args.response });
        },
      );
  });
}

interface Named {
  name: string;
  parent(): Named | undefined;
}

/** "Folder / Subfolder / Request": the names from the collection down, unique in it (the unit test checks). */
export function itemPath(item: NewmanRunExecution['item']): string {
  const names: string[] = [];
  for (let node: Named | undefined = item as unknown as Named; node?.parent(); node = node.parent())
    names.unshift(node.name);
  return names.join(' / ');
}

/** Every failed assertion or script error, readable. */
export function failuresOf(summary: NewmanRunSummary): string[] {
  return summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.message}`);
}

/** "<request path>: <assertion name>" of every assertion the run skipped. */
export function skippedOf(summary: NewmanRunSummary): string[] {
  const skipped = summary.run.executions.flatMap((e) =>
    (e.assertions ?? []).filter((a) => a.skipped).map((a) => `${itemPath(e.item)}: ${a.assertion}`),
  );
  // A request whose script sends one of its own may be listed twice with the same assertions.
  return [...new Set(skipped)];
}

// Queries of fixed shape compiled by Kysely once and run with new values.
import type { Compilable, CompiledQuery, Kysely } from 'kysely';

/** Stands where a value will go; replaced by the caller's value on each run. */
class Slot {
  constructor(readonly name: string) {}
}

/** Hands out stand-ins typed as the values they stand for, so the builder type-checks as usual. */
export type SlotOf<A> = <K extends keyof A & string>(name: K) => A[K];

/**
 * A query of fixed shape, built and compiled by Kysely once, then run with new values.
 *
 * On the hot lookups (auth, the issue, one attachment) building and compiling with Kysely cost more
 * than SQLite's own work on an indexed row: it was about half of the CPU time of `GET` of one
 * attachment. The compiled SQL text is also always the same string, so the SQLite statement cache
 * finds it at once. A run inside a transaction passes the transaction as `on`.
 */
export function preparedQuery<DB, A extends Record<string, unknown>, R>(
  db: Kysely<DB>,
  build: (slot: SlotOf<A>) => Compilable<R>,
): (args: A, on?: Kysely<DB>) => Promise<R[]> {
  let compiled: CompiledQuery<R> | undefined;
  return async (args, on = db) => {
    compiled ??= build((name) => new Slot(name) as never).compile();
    const parameters = compiled.parameters.map((value) => {
      if (!(value instanceof Slot)) return value;
      if (!(value.name in args)) throw new Error(`preparedQuery: no value for ${value.name}`);
      return args[value.name];
    });
    const result = await on.executeQuery<R>({ ...compiled, parameters });
    return result.rows;
  };
}

// An object whose methods tell of their failures (a rejected promise or a throw) before passing them on: for counting store errors.

/**
 * `target` behind a proxy: each method's failure goes to `onFailure` first, then on to the caller as
 * it was. A method read twice is the same function both times (so code that compares or restores a
 * method sees what it expects); everything else passes through.
 */
export function reportingFailures<T extends object>(target: T, onFailure: (method: string, err: unknown) => void): T {
  const wrapped = new WeakMap<(...args: unknown[]) => unknown, (...args: unknown[]) => unknown>();
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value;
      const method = value as (...args: unknown[]) => unknown;
      let reporting = wrapped.get(method);
      if (!reporting) {
        reporting = function (this: unknown, ...args: unknown[]) {
          try {
            const result = method.apply(this === receiver ? object : this, args);
            if (result instanceof Promise) {
              return result.catch((err: unknown) => {
                onFailure(property, err);
                throw err;
              });
            }
            return result;
          } catch (err) {
            onFailure(property, err);
            throw err;
          }
        };
        wrapped.set(method, reporting);
      }
      return reporting;
    },
  });
}

/**
 * A class that stands in for a web class (Request, Response) without being constructed as one:
 * made cheaply where nothing may read more than a few members, it is an instance of the web class
 * by its prototype, and every member it does not define itself is answered by a real instance it
 * makes when first asked (runtime/server/incoming-request.ts, runtime/upstream/node-body.ts).
 */

/**
 * Puts `web` under `own` in the prototype chain, then gives `own` every method and accessor of `web`
 * it does not define, each answered by `real(this)`: none reaches the web class's own accessors with
 * an object that is not one of its instances (they would throw).
 */
export function standIn<T extends object>(own: T, web: object, real: (self: T) => object): void {
  Object.setPrototypeOf(own, web);
  for (const key of Reflect.ownKeys(web)) {
    if (key === "constructor" || Object.hasOwn(own, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(web, key)!;
    if (typeof descriptor.value === "function") {
      Object.defineProperty(own, key, {
        configurable: true,
        writable: true,
        value: function (this: T, ...args: unknown[]) {
          const target = real(this) as Record<PropertyKey, (...a: unknown[]) => unknown>;
          return target[key]!(...args);
        },
      });
    } else if (descriptor.get) {
      Object.defineProperty(own, key, {
        configurable: true,
        get(this: T) {
          return (real(this) as Record<PropertyKey, unknown>)[key];
        },
      });
    }
  }
}

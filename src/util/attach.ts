/**
 * A value attached to a short-lived object (a request's context, an audit record, a call's
 * arguments), kept as a non-enumerable symbol-keyed property of the object itself: invisible to
 * JSON, `Object.keys`, spreads and deep equality, and gone with the object.
 *
 * Not a WeakMap, on the hot path: V8's young-generation collector (the scavenger, which runs every
 * few hundred milliseconds under load) treats the entries of a WeakMap whose keys are young as
 * live, so every request's keyed value, and everything it references, survives each scavenge and
 * is promoted to the old generation, where only a full collection frees it. Measured on the gateway
 * at 16 concurrent calls (ADR 0014): a quarter of the bytes copied by each scavenge were records
 * kept by such WeakMaps.
 */
export interface Attachment<V> {
  get(o: object): V | undefined;
  /** False (nothing attached) when the object takes no new properties (frozen, sealed, non-extensible) or is frozen. */
  set(o: object, v: V): boolean;
}

export function attachment<V>(name: string): Attachment<V> {
  const key = Symbol(name);
  return {
    get: (o) => (o as Record<symbol, V | undefined>)[key],
    set(o, v) {
      if (Object.hasOwn(o, key)) {
        if (Object.isFrozen(o)) return false;
        (o as Record<symbol, V>)[key] = v;
        return true;
      }
      if (!Object.isExtensible(o)) return false;
      Object.defineProperty(o, key, { value: v, writable: true, configurable: true, enumerable: false });
      return true;
    },
  };
}

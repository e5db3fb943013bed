type Fn = (event: never) => void;

/**
 * The smallest event hub, as `[on, emit]` (a pair: property names would ship to browsers
 * unminified): `on` returns its disposer (cockatiel style), `emit` calls in order.
 */
export const emitter = () => {
  const map = new Map<string | number, Set<Fn>>();
  return [
    (key: string | number, fn: Fn) => {
      const set = map.get(key) ?? new Set();
      map.set(key, set.add(fn));
      return () => {
        set.delete(fn);
      };
    },
    (key: string | number, event: unknown) => {
      for (const fn of map.get(key) ?? []) {
        (fn as (event: unknown) => void)(event);
      }
    },
  ] as const;
};

/** A timer that never keeps a Node process alive (unref where the runtime has it). */
export const later = (fn: () => void, ms: number, every?: boolean) => {
  const t = (every ? setInterval : setTimeout)(fn, ms);
  (t as unknown as { unref?: () => void }).unref?.();
  return t;
};

/** Epoch milliseconds; one name for every module, as the minifier shortens it to a letter. */
export const now = () => Date.now();

/** How a policy reports to the client's listeners (the `emit` of {@link emitter}). */
export type Emit = ReturnType<typeof emitter>[1];

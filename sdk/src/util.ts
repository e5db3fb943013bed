type Fn = (event: never) => void;

/** The smallest event hub: `on` returns its disposer (cockatiel style), `emit` calls in order. */
export const emitter = () => {
  const map = new Map<string, Set<Fn>>();
  return {
    on: (key: string, fn: Fn) => {
      const set = map.get(key) ?? new Set();
      map.set(key, set.add(fn));
      return () => {
        set.delete(fn);
      };
    },
    emit: (key: string, event: unknown) => {
      for (const fn of map.get(key) ?? []) {
        (fn as (event: unknown) => void)(event);
      }
    },
  };
};

/** A timer that never keeps a Node process alive (unref where the runtime has it). */
export const later = (fn: () => void, ms: number, every?: boolean) => {
  const t = (every ? setInterval : setTimeout)(fn, ms);
  (t as unknown as { unref?: () => void }).unref?.();
  return t;
};

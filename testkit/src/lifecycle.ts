/** Test-only: a server or fake started for a group of tests, and stopped after them. */
import { afterAll, beforeAll, beforeEach } from "vitest";

/** Anything a test starts: a fake, a server (closed), or a process (stopped). */
export type Started = { close(): unknown } | { stop(): unknown };

/** What `useStarted` does besides starting and stopping. */
export interface UseStartedOptions<T> {
  /** Run before each test of the group (a fake keeps what earlier tests sent it). */
  readonly reset?: (started: T) => void;
  /** How long starting may take (default: the project's hookTimeout). */
  readonly timeout?: number;
}

/**
 * Starts something once before the tests of the current file or `describe` and stops it after them
 * (`close()`, or `stop()` for a process). Returns a getter, since it exists only once `beforeAll` has
 * run. Called in order, things stop in the reverse order (vitest runs after-hooks as a stack), so a
 * server started from the fakes' URLs stops before the fakes do.
 */
export function useStarted<T extends Started>(
  start: () => Promise<T>,
  options: UseStartedOptions<T> = {},
): () => T {
  let started: T | undefined;
  const current = (): T => {
    if (started === undefined) {
      throw new Error("used before beforeAll started it (or starting it failed)");
    }
    return started;
  };
  beforeAll(async () => {
    started = await start();
  }, options.timeout);
  afterAll(async () => {
    if (started !== undefined) {
      await ("close" in started ? started.close() : started.stop());
    }
  });
  const { reset } = options;
  if (reset !== undefined) {
    beforeEach(() => reset(current()));
  }
  return current;
}

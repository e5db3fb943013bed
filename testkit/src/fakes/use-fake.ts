/** Test-only: the start, reset and close every fake's own test file needs around its tests. */
import { afterAll, beforeAll, beforeEach } from "vitest";

/**
 * Starts a fake once for a test file and closes it after the file's tests; with `reset`, puts it back
 * before each test too (a fake keeps what earlier tests sent it). Returns a getter, because the fake
 * exists only once `beforeAll` has run.
 */
export function useFake<T extends { close(): Promise<void> }>(
  start: () => Promise<T>,
  reset?: (fake: T) => void,
): () => T {
  let fake: T | undefined;
  const current = (): T => {
    if (fake === undefined) {
      throw new Error("a fake was used before beforeAll started it");
    }
    return fake;
  };
  beforeAll(async () => {
    fake = await start();
  });
  afterAll(async () => {
    await fake?.close();
  });
  if (reset !== undefined) {
    beforeEach(() => reset(current()));
  }
  return current;
}

/** A server being started, and how to stop it once it has. */
export type Start<T> = readonly [starting: Promise<T>, stop: (started: T) => unknown];

/**
 * Starts servers side by side. If one fails to start, the others that did are stopped before the
 * error is thrown: with a plain Promise.all their handles were lost (the test's afterAll had nothing
 * to stop), and a Node server outlived its test run after a Worker failed to start.
 */
export async function startTogether<A, B>(a: Start<A>, b: Start<B>): Promise<[A, B]>;
export async function startTogether<A, B, C>(a: Start<A>, b: Start<B>, c: Start<C>): Promise<[A, B, C]>;
export async function startTogether(...starts: Start<unknown>[]): Promise<unknown[]> {
  const results = await Promise.allSettled(starts.map(([starting]) => starting));
  const failed = results.find((result) => result.status === "rejected");
  if (failed === undefined) {
    return results.map((result) => (result as PromiseFulfilledResult<unknown>).value);
  }
  await Promise.allSettled(
    results.map(async (result, index) => {
      if (result.status === "fulfilled") {
        await starts[index]?.[1](result.value);
      }
    }),
  );
  throw failed.reason;
}

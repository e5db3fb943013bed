// What the outcome of one attempt means for the next: whether it provably never left, and how to
// let go of an answer that will not be read.
type Cause = { code?: unknown; syscall?: unknown; errors?: Cause[] };

/**
 * Whether a fetch rejection proves the request never reached a server (anchors §5). Only Node gives
 * the proof: undici's cause failed in `connect` (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, connect
 * ETIMEDOUT, ...) or in DNS (`getaddrinfo`: ENOTFOUND, EAI_AGAIN), or is undici's own connect timeout;
 * a happy-eyeballs AggregateError proves it when every address failed so. A browser's bare TypeError
 * never does, so it counts as "maybe delivered"; so do resets, TLS errors and read timeouts.
 */
export const notSent = (e: unknown): boolean => {
  const one = (c?: Cause) =>
    /^(connect|getaddrinfo)$/.test(c?.syscall as string) || c?.code === "UND_ERR_CONNECT_TIMEOUT";
  const c = (e as { cause?: Cause } | null)?.cause;
  return c?.errors?.length ? c.errors.every(one) : one(c);
};

/** Discards a response body we will not read, so that Node does not keep its connection busy. */
export const cancel = (r?: Response) => void r?.body?.cancel().catch(() => {});

import { createServer } from "node:net";

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the child to bind). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/**
 * Polls `base`/health until it answers 2xx (true), or until `giveUp()` says to stop (false): the
 * server exited, or a deadline passed. Each poll waits up to 5 s for its answer (a cold Worker can be
 * slow to give its first one).
 */
export async function untilHealthy(base: string, giveUp: () => boolean, intervalMs = 200): Promise<boolean> {
  while (!giveUp()) {
    try {
      const response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
      await response.body?.cancel();
      if (response.ok) {
        return true;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((done) => setTimeout(done, intervalMs));
  }
  return false;
}

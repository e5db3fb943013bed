// The same rules with Node's real fetch (undici) against HTTP servers on 127.0.0.1: the error
// classification must hold for the errors undici really throws, not only for scripted ones.
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, isN2StoreNetworkError, type N2StoreClient } from "../src/index.js";

const send = { pageId: "111", psid: "222", message: "Xin chào", pageToken: "EAAB" };
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) {
    await fn();
  }
});

/**
 * An HTTP server on an ephemeral loopback port. `seen` lists the calls as `METHOD path key`; health
 * probes (the SDK pre-warms the next server when one fails) are answered and left out.
 */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok","runtime":"node"}');
      return;
    }
    seen.push(`${req.method} ${req.url} ${req.headers["idempotency-key"] ?? "-"}`);
    handler(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A loopback URL where nothing listens: connecting is refused. */
async function refusedUrl() {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

const ok = (_: IncomingMessage, res: ServerResponse) => {
  res
    .writeHead(200, { "content-type": "application/json" })
    .end('{"message_id":"m","messaging_type":"RESPONSE"}');
};
const hang = () => {};

function client(servers: string[], attemptTimeoutMs = 300): N2StoreClient {
  const c = createClient({ servers, attemptTimeoutMs });
  cleanup.push(() => c.close());
  return c;
}

describe("with Node's fetch on loopback", () => {
  it("moves a keyless POST on when the connection is refused", async () => {
    const good = await listen(ok);
    const { data } = await client([await refusedUrl(), good.url]).POST("/api/facebook-send", {
      body: send,
      idempotencyKey: false,
    });
    expect(data?.message_id).toBe("m");
    expect(good.seen).toEqual(["POST /api/facebook-send -"]);
  });

  it("does not resend a keyless POST that timed out, and resends it with the same key when keyed", async () => {
    const slow = await listen(hang);
    const good = await listen(ok);
    const api = client([slow.url, good.url]);

    const e = await api
      .POST("/api/facebook-send", { body: send, idempotencyKey: false })
      .catch((x: unknown) => x);
    expect(isN2StoreNetworkError(e)).toBe(true);
    expect(e).toMatchObject({ reason: "timeout", maybeDelivered: true, attempts: 1 });
    expect(slow.seen).toEqual(["POST /api/facebook-send -"]);
    expect(good.seen).toEqual([]);

    const { data } = await api.POST("/api/facebook-send", { body: send });
    expect(data?.message_id).toBe("m");
    const key = good.seen[0]?.split(" ")[2];
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    expect(slow.seen.at(-1)).toBe(`POST /api/facebook-send ${key}`);
  });

  it("reports a refused-everywhere call as never delivered", async () => {
    const e = await client([await refusedUrl(), await refusedUrl()])
      .POST("/api/facebook-send", { body: send, idempotencyKey: false })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ reason: "network", maybeDelivered: false, attempts: 3 });
  });

  it("still times an attempt out when garbage collection runs while it waits (undici's weak signal links)", async () => {
    // Node's fetch follows a Request's signal through weak references; a Request nobody holds is
    // collected, and the attempt timeout used to never reach a black-holed server (300 s hang).
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const hole = await listen(hang);
    const good = await listen(ok);
    // A full GC every 10 ms slows every attempt: the good server's answer, too, must fit in the
    // attempt timeout on a busy machine, so it is a second here rather than 300 ms.
    const api = client([hole.url, good.url], 1_000);
    const collecting = setInterval(gc, 10);
    cleanup.push(() => clearInterval(collecting));
    // The call's deadline is far beyond the attempt timeout, so only an attempt that never times
    // out (the hang this guards against) fails it.
    const calls = Array.from({ length: 10 }, () =>
      api.GET("/api/rest/{path}", { params: { path: { path: "x" } }, timeoutMs: 15_000 }),
    );
    const statuses = (await Promise.allSettled(calls)).map((result) =>
      result.status === "fulfilled" ? result.value.response.status : String(result.reason),
    );
    expect(statuses).toEqual(Array(10).fill(200));
    expect(hole.seen.length).toBeGreaterThan(0);
  }, 30_000);
});

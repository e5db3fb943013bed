import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ClientOptions, createClient, isN2StoreNetworkError, type N2StoreClient } from "../src/index.js";
import {
  aggregateRefused,
  browserError,
  type Call,
  connectTimeout,
  EDGE,
  gatewayError,
  health,
  json,
  NODE,
  nodeError,
  type Reply,
  rejection,
  run,
  scripted,
  withHealth,
} from "./helpers.js";

const send = { pageId: "111", psid: "222", message: "Xin chào", pageToken: "EAAB" };
const restPath = { params: { path: { path: "v2.0/x" } } } as const;

/** A JSON answer whose connection breaks after `sent` of its body, as undici reports it ("terminated"). */
const cutOff = (status: number, sent: string): Response =>
  new Response(
    new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(sent));
        controller.error(new TypeError("terminated", { cause: new Error("other side closed") }));
      },
    }),
    { status, headers: { "content-type": "application/json" } },
  );

let client: N2StoreClient | undefined;
/** A client over scripted servers; closed after each test. */
const setup = (handler: (call: Call) => Reply | Promise<Reply>, options: Partial<ClientOptions> = {}) => {
  const script = scripted(handler);
  client = createClient({ servers: [EDGE, NODE], fetch: script.fetch, ...options });
  return { ...script, client };
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  client?.close();
  client = undefined;
  vi.useRealTimers();
});

describe("createClient: calls", () => {
  it("sends a typed call to the first server and returns its parsed body", async () => {
    const { client, sent } = setup(() => health("edge"));
    const { data, response } = await client.GET("/health");
    expect(data?.runtime).toBe("edge");
    expect(response.status).toBe(200);
    expect(sent()).toEqual([]);
    expect(client.state().active).toBe(EDGE);
  });

  it("keeps the slashes of a catch-all path and encodes everything else in it", async () => {
    const { client, calls } = setup(() => json(200, {}));
    await client.GET("/api/rest/{path}", { params: { path: { path: "v2.0/SaleOnline Order/x?y#z" } } });
    expect(calls[0]?.path).toBe("/api/rest/v2.0/SaleOnline%20Order/x%3Fy%23z");
  });

  it("serialises a free-form query object as ordinary form parameters", async () => {
    const { client, calls } = setup(() => json(200, {}));
    await client.GET("/api/odata/{path}", {
      params: {
        path: { path: "SaleOnline_Order/ODataService.GetView" },
        query: { passthrough: { $top: "20", $orderby: "DateCreated desc" } },
      },
    });
    expect(calls[0]?.path).toBe(
      "/api/odata/SaleOnline_Order/ODataService.GetView?$top=20&$orderby=DateCreated%20desc",
    );
  });

  it("sends the API key on every call, and a per-call header wins", async () => {
    const { client, calls } = setup(() => json(200, {}), { apiKey: "k-1", headers: { "x-shop": "n2" } });
    await client.GET("/api/rest/{path}", restPath);
    await client.GET("/api/rest/{path}", { ...restPath, headers: { "x-api-key": "k-2" } });
    expect(calls.map((c) => [c.headers.get("x-api-key"), c.headers.get("x-shop")])).toEqual([
      ["k-1", "n2"],
      ["k-2", "n2"],
    ]);
  });

  it("adds one Idempotency-Key to operations that accept one and leaves the others alone", async () => {
    const { client, requests } = setup(() => json(200, {}));
    await client.POST("/api/facebook-send", { body: send });
    await client.POST("/api/customers", {
      body: { phone: "0912345678", name: "Lan" },
      idempotencyKey: "mine-123",
    });
    await client.POST("/api/sepay/webhook", { body: {} as never });
    await client.GET("/api/customers");
    const keys = requests().map((c) => c.headers.get("idempotency-key"));
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keys.slice(1)).toEqual(["mine-123", null, null]);
  });

  it("falls back to getRandomValues for the key where randomUUID is missing (plain-http pages)", async () => {
    Object.defineProperty(crypto, "randomUUID", { value: undefined, configurable: true });
    try {
      const { client, calls } = setup(() => json(200, {}));
      await client.POST("/api/facebook-send", { body: send });
      expect(calls[0]?.headers.get("idempotency-key")).toMatch(/^k\d+-\d+-\d+-\d+$/);
    } finally {
      delete (crypto as { randomUUID?: unknown }).randomUUID;
    }
    expect(typeof crypto.randomUUID).toBe("function");
  });

  it("sends the body where Request has no body property (Firefox), and none with a GET", async () => {
    vi.spyOn(Request.prototype, "body", "get").mockReturnValue(undefined as never);
    const { client, requests } = setup(() => json(200, { message_id: "m" }));
    await client.POST("/api/facebook-send", { body: send });
    await client.GET("/api/rest/{path}", restPath);
    expect(requests().map((c) => [c.method, c.body])).toEqual([
      ["POST", JSON.stringify(send)],
      ["GET", ""],
    ]);
  });

  it("sends no body, not an empty one, where the call has none", async () => {
    const { client, requests } = setup(withHealth(() => new Response(null, { status: 204 })));
    await client.DELETE("/api/customers/{id}", { params: { path: { id: 7 } } });
    expect(requests()[0]?.request.body).toBeNull();
  });

  it("returns HTTP errors as a typed { error }, without throwing", async () => {
    const { client } = setup(withHealth(() => gatewayError(404, "CUSTOMER_NOT_FOUND")));
    const { error, data } = await client.GET("/api/customers/{id}", { params: { path: { id: 7 } } });
    expect(data).toBeUndefined();
    expect(error?.code).toBe("CUSTOMER_NOT_FOUND");
  });
});

describe("routing by runtime", () => {
  it("never sends a node-only operation to an edge server", async () => {
    const { client, sent } = setup(() => json(200, { items: [] }), {
      servers: [
        { url: EDGE, runtime: "edge" },
        { url: NODE, runtime: "node" },
      ],
    });
    await client.GET("/api/customers");
    await client.POST("/api/realtime/stop");
    expect(sent()).toEqual([`${NODE} GET /api/customers`, `${NODE} POST /api/realtime/stop`]);
  });

  it("reads each server's runtime from /health once, and only when the operation needs it", async () => {
    const { client, sent, probes } = setup(({ base, path }) =>
      path === "/health" ? health(base === EDGE ? "edge" : "node") : json(200, {}),
    );
    await client.GET("/api/rest/{path}", restPath); // served by both: no need to ask
    expect(probes()).toBe(0);
    await client.GET("/api/customers");
    await client.GET("/api/customers");
    expect(probes(EDGE)).toBe(1);
    expect(probes(NODE)).toBe(1);
    expect(sent()).toEqual([
      `${EDGE} GET /api/rest/v2.0/x`,
      `${NODE} GET /api/customers`,
      `${NODE} GET /api/customers`,
    ]);
    expect(client.state().servers.map((s) => s.runtime)).toEqual(["edge", "node"]);
  });

  it("moves on for free from a 501 NOT_SERVED_BY_RUNTIME, even with a keyless POST, and learns from it", async () => {
    const { client, sent } = setup(
      ({ base }) => (base === EDGE ? gatewayError(501, "NOT_SERVED_BY_RUNTIME") : json(201, { id: 1 })),
      // Misconfigured: the edge stated as a Node server.
      { servers: [{ url: EDGE, runtime: "node" }, NODE] },
    );
    const { response } = await client.POST("/api/customers", {
      body: { phone: "0912345678", name: "Lan" },
      idempotencyKey: false,
    });
    expect(response.status).toBe(201);
    expect(sent()).toEqual([`${EDGE} POST /api/customers`, `${NODE} POST /api/customers`]);
    expect(client.state().servers[0]?.runtime).toBe("edge");
    await client.GET("/api/customers");
    expect(sent().at(-1)).toBe(`${NODE} GET /api/customers`);
  });
});

describe("failover rules", () => {
  it("does not send a keyless POST to the next server after a timeout", async () => {
    const { client, sent } = setup(({ base }) => (base === EDGE ? "hang" : json(200, { message_id: "m" })), {
      attemptTimeoutMs: 1_000,
    });
    const e = await rejection(
      client.POST("/api/facebook-send", { body: send, idempotencyKey: false }),
      1_000,
    );
    expect(isN2StoreNetworkError(e)).toBe(true);
    expect(e).toMatchObject({ reason: "timeout", maybeDelivered: true, attempts: 1, servers: [EDGE] });
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`]);
  });

  it("sends the same POST with an Idempotency-Key to the next server, with the same key", async () => {
    const { client, calls, sent } = setup(
      ({ base }) => (base === EDGE ? "hang" : json(200, { message_id: "m", messaging_type: "RESPONSE" })),
      { attemptTimeoutMs: 1_000 },
    );
    const { data } = await run(client.POST("/api/facebook-send", { body: send }), 1_000);
    expect(data?.message_id).toBe("m");
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`, `${NODE} POST /api/facebook-send`]);
    const [first, second] = calls.filter((c) => c.path !== "/health");
    expect(first?.headers.get("idempotency-key")).toBeTruthy();
    expect(second?.headers.get("idempotency-key")).toBe(first?.headers.get("idempotency-key"));
    expect(second?.body).toBe(JSON.stringify(send));
  });

  it.each([
    ["ECONNREFUSED (connect)", () => nodeError("ECONNREFUSED", "connect")],
    ["EHOSTUNREACH (connect)", () => nodeError("EHOSTUNREACH", "connect")],
    ["ENOTFOUND (getaddrinfo)", () => nodeError("ENOTFOUND", "getaddrinfo")],
    ["EAI_AGAIN (getaddrinfo)", () => nodeError("EAI_AGAIN", "getaddrinfo")],
    ["a happy-eyeballs AggregateError", aggregateRefused],
    ["undici's connect timeout", connectTimeout],
  ])("moves even a keyless POST on when Node proves it never left: %s", async (_, error) => {
    const { client, sent } = setup(({ base }) => (base === EDGE ? error() : json(200, { message_id: "m" })));
    const { data } = await client.POST("/api/facebook-send", { body: send, idempotencyKey: false });
    expect(data?.message_id).toBe("m");
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`, `${NODE} POST /api/facebook-send`]);
  });

  it.each([
    ["a browser's bare TypeError", browserError],
    ["ECONNRESET on read", () => nodeError("ECONNRESET", "read")],
    ["a TLS error", () => nodeError("ERR_TLS_CERT_ALTNAME_INVALID")],
  ])("keeps a keyless POST where it was after %s: it may have been delivered", async (_, error) => {
    const { client, sent } = setup(({ base }) => (base === EDGE ? error() : json(200, {})));
    const e = await rejection(client.POST("/api/facebook-send", { body: send, idempotencyKey: false }));
    expect(e).toMatchObject({ reason: "network", maybeDelivered: true, attempts: 1 });
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`]);
  });

  it("does not let a caller's key move a call where the servers keep no keys", async () => {
    const { client, sent } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    // An operation the spec does not have (a cast): no server stores a key for it.
    const post = client.POST as unknown as (url: string, init: object) => Promise<unknown>;
    const e = await rejection(post("/api/not-in-spec", { idempotencyKey: "mine-12345" }));
    expect(e).toMatchObject({ reason: "network", maybeDelivered: true, attempts: 1 });
    expect(sent()).toEqual([`${EDGE} POST /api/not-in-spec`]);
  });

  it("moves an idempotent GET on after a network error that may have reached the server", async () => {
    const { client, sent } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    const { response } = await client.GET("/api/rest/{path}", restPath);
    expect(response.status).toBe(200);
    expect(sent()).toEqual([`${EDGE} GET /api/rest/v2.0/x`, `${NODE} GET /api/rest/v2.0/x`]);
  });

  it("moves an idempotent GET and a keyed POST on when the server dies in the middle of a JSON body", async () => {
    const { client, sent, calls } = setup(({ base }) =>
      base === EDGE ? cutOff(200, '{"value":[{"Id":1},') : json(200, { message_id: "m" }),
    );
    const get = await client.GET("/api/rest/{path}", restPath);
    expect(get.response.status).toBe(200);
    const post = await client.POST("/api/facebook-send", { body: send });
    expect(post.data?.message_id).toBe("m");
    expect(sent()).toEqual([
      `${EDGE} GET /api/rest/v2.0/x`,
      `${NODE} GET /api/rest/v2.0/x`,
      `${EDGE} POST /api/facebook-send`,
      `${NODE} POST /api/facebook-send`,
    ]);
    const [, , first, second] = calls.filter((c) => c.path !== "/health");
    expect(second?.headers.get("idempotency-key")).toBe(first?.headers.get("idempotency-key"));
  });

  it("throws a branded error, not the body's TypeError, for a keyless POST whose answer was cut off", async () => {
    const { client, sent } = setup(({ base }) =>
      base === EDGE ? cutOff(200, '{"message_id":') : json(200, { message_id: "m" }),
    );
    const e = await rejection(client.POST("/api/facebook-send", { body: send, idempotencyKey: false }));
    expect(isN2StoreNetworkError(e)).toBe(true);
    expect(e).toMatchObject({ reason: "network", maybeDelivered: true, attempts: 1 });
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`]);
  });

  it.each([502, 503, 504])(
    "moves idempotent and keyed calls on after %i, but returns it to a keyless POST",
    async (status) => {
      const { client, sent } = setup(({ base }) =>
        base === EDGE ? gatewayError(status, "UPSTREAM_UNREACHABLE") : json(200, { message_id: "m" }),
      );
      expect((await client.GET("/api/rest/{path}", restPath)).response.status).toBe(200);
      expect((await client.POST("/api/facebook-send", { body: send })).response.status).toBe(200);
      const keyless = await client.POST("/api/facebook-send", { body: send, idempotencyKey: false });
      expect(keyless.response.status).toBe(status);
      expect(keyless.error?.code).toBe("UPSTREAM_UNREACHABLE");
      expect(sent()).toEqual([
        `${EDGE} GET /api/rest/v2.0/x`,
        `${NODE} GET /api/rest/v2.0/x`,
        `${EDGE} POST /api/facebook-send`,
        `${NODE} POST /api/facebook-send`,
        `${EDGE} POST /api/facebook-send`,
      ]);
    },
  );

  it("moves on after 429 with Retry-After and leaves that server alone until then", async () => {
    const { client, sent } = setup(({ base }) =>
      base === EDGE && sent().length === 1
        ? gatewayError(429, "FB_RATE_LIMITED", { "retry-after": "10" })
        : json(200, {}),
    );
    await client.GET("/api/rest/{path}", restPath);
    await vi.advanceTimersByTimeAsync(9_000);
    await client.GET("/api/rest/{path}", restPath); // the edge still cools
    await vi.advanceTimersByTimeAsync(1_001);
    await client.GET("/api/rest/{path}", restPath); // cooled down: back to the primary
    expect(sent().map((s) => s.split(" ")[0])).toEqual([EDGE, NODE, NODE, EDGE]);
    expect(client.state().servers[0]).toMatchObject({ down: false, failures: 0 });
  });

  it("does not count 429 towards marking a server down", async () => {
    const { client, sent } = setup(({ base }) =>
      base === EDGE ? gatewayError(429, "FB_RATE_LIMITED", { "retry-after": "1" }) : json(200, {}),
    );
    for (let i = 0; i < 4; i++) {
      await client.GET("/api/rest/{path}", restPath);
      await vi.advanceTimersByTimeAsync(1_001);
    }
    expect(sent().filter((s) => s.startsWith(EDGE))).toHaveLength(4);
    expect(client.state().servers[0]).toMatchObject({ down: false, failures: 0 });
  });

  it("reads Retry-After as an HTTP date too", async () => {
    const { client, sent } = setup(({ base }) =>
      base === EDGE && sent().length === 1
        ? gatewayError(503, "DATABASE_UNAVAILABLE", {
            "retry-after": new Date(Date.now() + 20_000).toUTCString(),
          })
        : json(200, {}),
    );
    await client.GET("/api/rest/{path}", restPath);
    const cooling = client.state().servers[0]?.coolingUntil ?? 0;
    expect(cooling - Date.now()).toBeGreaterThan(18_000);
    expect(cooling - Date.now()).toBeLessThanOrEqual(20_000);
  });

  it.each([
    [429, "FB_RATE_LIMITED"],
    [400, "VALIDATION_FAILED"],
    [401, "UNAUTHORIZED"],
    [404, "ROUTE_NOT_FOUND"],
    [409, "CUSTOMER_PHONE_EXISTS"],
    [422, "IDEMPOTENCY_KEY_REUSED"],
    [500, "INTERNAL"],
  ])("returns %i %s as it is, without trying another server", async (status, code) => {
    const { client, sent } = setup(() => gatewayError(status, code), {
      servers: [{ url: NODE, runtime: "node" }, "http://127.0.0.1:3001"],
    });
    const { error, response } = await client.POST("/api/customers", {
      body: { phone: "0912345678", name: "Lan" },
    });
    expect(response.status).toBe(status);
    expect(error?.code).toBe(code);
    expect(sent()).toEqual([`${NODE} POST /api/customers`]);
  });

  it("asks again after a short wait when a keyed call's key is still in use", async () => {
    const { client, sent } = setup(() =>
      sent().length === 1
        ? gatewayError(409, "IDEMPOTENCY_KEY_IN_USE", { "retry-after": "1" })
        : json(200, { message_id: "m" }, { "idempotent-replayed": "true" }),
    );
    const call = client.POST("/api/facebook-send", { body: send });
    await vi.advanceTimersByTimeAsync(900);
    expect(sent()).toHaveLength(1); // still waiting for the first attempt to finish
    const { data, response } = await run(call, 200);
    expect(data?.message_id).toBe("m");
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`, `${EDGE} POST /api/facebook-send`]);
  });

  it("stops and reports maybeDelivered when a keyed send's outcome is unknown (502 OUTCOME_UNKNOWN)", async () => {
    const { client, sent } = setup(() => gatewayError(502, "OUTCOME_UNKNOWN"));
    const e = await rejection(client.POST("/api/facebook-send", { body: send }), 2_000);
    expect(isN2StoreNetworkError(e)).toBe(true);
    expect(e).toMatchObject({ maybeDelivered: true, attempts: 1, servers: [EDGE] });
    // The other server would only replay the same stored outcome: it is not asked.
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`]);
  });

  it("still moves a keyed send on after a plain 502 (the key was released: nothing went out)", async () => {
    const { client, sent } = setup(({ base }) =>
      base === EDGE ? gatewayError(502, "UPSTREAM_UNREACHABLE") : json(200, { message_id: "m" }),
    );
    const { data } = await run(client.POST("/api/facebook-send", { body: send }), 2_000);
    expect(data?.message_id).toBe("m");
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`, `${NODE} POST /api/facebook-send`]);
  });

  it("returns the last response when every server answered 503", async () => {
    const { client, sent } = setup(() => gatewayError(503, "DATABASE_UNAVAILABLE"));
    const { error } = await run(client.GET("/api/rest/{path}", restPath), 2_000);
    // A pass-through's error is the upstream's own body, so the spec types it as unknown.
    expect((error as { code?: string }).code).toBe("DATABASE_UNAVAILABLE");
    expect(sent()).toHaveLength(3); // the default three attempts: edge, node, edge again after a backoff
  });

  it("throws a branded N2StoreNetworkError with attempts and servers when no server answers", async () => {
    const { client } = setup(() => nodeError("ECONNREFUSED", "connect"));
    const e = await rejection(
      client.POST("/api/facebook-send", { body: send, idempotencyKey: false }),
      2_000,
    );
    expect(isN2StoreNetworkError(e)).toBe(true);
    // What fetch rejects with on a network failure, so code written for fetch recognises it.
    expect(e).toBeInstanceOf(TypeError);
    expect(e).toMatchObject({
      name: "N2StoreNetworkError",
      reason: "network",
      attempts: 3,
      servers: [EDGE, NODE, EDGE],
      maybeDelivered: false,
    });
    expect((e as Error).cause).toBeInstanceOf(TypeError);
    // The brand, not the class, is what counts: a second copy of the SDK in the page still matches.
    expect(isN2StoreNetworkError({ isN2StoreNetworkError: true })).toBe(true);
    expect(isN2StoreNetworkError(new TypeError("fetch failed"))).toBe(false);
  });

  it("caps the attempts at maxAttempts, and at 5 whatever is asked", async () => {
    const { client, sent } = setup(() => gatewayError(503, "DATABASE_UNAVAILABLE"), {
      maxAttempts: 9,
      retryBudget: { maxTokens: 1000 },
    });
    await run(client.GET("/api/rest/{path}", restPath), 10_000);
    expect(sent()).toHaveLength(5);
  });

  it("stops a retry storm with the retry budget", async () => {
    const { client, sent } = setup(() => gatewayError(503, "DATABASE_UNAVAILABLE"));
    const perCall: number[] = [];
    for (let i = 0; i < 30; i++) {
      const before = sent().length;
      await run(client.GET("/api/rest/{path}", restPath), 2_000);
      perCall.push(sent().length - before);
    }
    // Without a budget: 3 requests per call, 90 in all. The buckets (10 tokens, retries only above 5)
    // allow a few retries while the servers still had credit, then one request per call.
    expect(perCall.slice(0, 3)).toEqual([3, 3, 3]);
    expect(perCall.slice(10)).toEqual(Array(20).fill(1));
    expect(sent().length).toBeLessThan(40);
    expect(client.state().servers.every((s) => s.retryTokens <= 5)).toBe(true);
  });

  it("lets successes refill the budget", async () => {
    let failing = true;
    const { client } = setup(() => (failing ? gatewayError(503, "DATABASE_UNAVAILABLE") : json(200, {})), {
      downAfter: 100,
    });
    for (let i = 0; i < 5; i++) {
      await run(client.GET("/api/rest/{path}", restPath), 2_000);
    }
    const drained = client.state().servers[0]?.retryTokens ?? 0;
    failing = false;
    for (let i = 0; i < 10; i++) {
      await client.GET("/api/rest/{path}", restPath);
    }
    expect(client.state().servers[0]?.retryTokens).toBeCloseTo(drained + 1, 5);
  });
});

describe("timeouts and cancellation", () => {
  it("bounds the whole call with timeoutMs", async () => {
    const { client, sent } = setup(() => "hang");
    const call = rejection(client.GET("/api/rest/{path}", { ...restPath, timeoutMs: 3_000 }), 3_000);
    const e = await call;
    expect(e).toMatchObject({ reason: "timeout", attempts: 1, maybeDelivered: true });
    expect(sent()).toHaveLength(1);
  });

  it("is still running just before timeoutMs", async () => {
    setup(() => "hang");
    let settled = false;
    const call = (client as N2StoreClient)
      .GET("/api/rest/{path}", { ...restPath, timeoutMs: 3_000 })
      .catch(() => undefined)
      .finally(() => {
        settled = true;
      });
    await vi.advanceTimersByTimeAsync(2_999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await call;
    expect(settled).toBe(true);
  });

  it("gives each attempt attemptTimeoutMs, then fails an idempotent call over", async () => {
    const { client, sent } = setup(({ base }) => (base === EDGE ? "hang" : json(200, {})), {
      attemptTimeoutMs: 2_000,
    });
    const { response } = await run(client.GET("/api/rest/{path}", restPath), 2_000);
    expect(response.status).toBe(200);
    expect(sent()).toHaveLength(2);
  });

  it("aborts the in-flight request when the caller's signal aborts, and sends nothing more", async () => {
    const { client, calls, sent } = setup(() => "hang");
    const controller = new AbortController();
    const call = rejection(client.GET("/api/rest/{path}", { ...restPath, signal: controller.signal }), 0);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort(new Error("user left"));
    const e = await call;
    expect(e).toMatchObject({ reason: "aborted", attempts: 1, maybeDelivered: true });
    expect((e as Error).cause).toMatchObject({ message: "user left" });
    expect(calls[0]?.signal.aborted).toBe(true);
    expect(sent()).toHaveLength(1);
  });

  it("sends nothing for a signal that is already aborted", async () => {
    const { client, calls } = setup(() => json(200, {}));
    const e = await rejection(
      client.GET("/api/rest/{path}", { ...restPath, signal: AbortSignal.abort() }),
      0,
    );
    expect(e).toMatchObject({ reason: "aborted", attempts: 0, maybeDelivered: false });
    expect(calls).toHaveLength(0);
  });

  it("tells how long to wait when every server asked to be left alone", async () => {
    const { client, sent } = setup(() => gatewayError(503, "DATABASE_UNAVAILABLE", { "retry-after": "120" }));
    const first = await client.GET("/api/rest/{path}", restPath);
    expect(first.response.status).toBe(503);
    expect(sent()).toHaveLength(2); // both servers asked for 120 s: no third attempt inside the deadline
    const e = await rejection(client.GET("/api/rest/{path}", restPath), 0);
    expect(e).toMatchObject({ attempts: 0, maybeDelivered: false });
    expect((e as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(119_000);
  });
});

describe("health probing", () => {
  /** The edge refuses until `edge.up` is set; the node always answers. */
  const edgeDown = () => {
    const edge = { up: false };
    const script = setup(({ base, path }) => {
      if (base === EDGE && !edge.up) {
        return nodeError("ECONNREFUSED", "connect");
      }
      return path === "/health" ? health(base === EDGE ? "edge" : "node") : json(200, { from: base });
    });
    return { edge, ...script };
  };
  const get = () => (client as N2StoreClient).GET("/api/rest/{path}", restPath);

  it("marks the primary down after 3 failures, skips it, and returns to it within one probe interval of its recovery", async () => {
    const { edge, client, sent } = edgeDown();
    const downs: string[] = [];
    const recovers: number[] = [];
    client.onDown((e) => downs.push(e.url));
    client.onRecover(() => recovers.push(Date.now()));
    for (let i = 0; i < 3; i++) {
      await get();
    }
    expect(downs).toEqual([EDGE]);
    expect(client.state().servers[0]).toMatchObject({ down: true, failures: 3 });
    const before = sent().length;
    await get();
    expect(sent().slice(before)).toEqual([`${NODE} GET /api/rest/v2.0/x`]); // skipped, not tried

    // Twenty seconds of use with the edge still down, then it comes back.
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      await get();
    }
    expect(recovers).toEqual([]);
    edge.up = true;
    const back = Date.now();
    for (let i = 0; i < 7 && recovers.length === 0; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      await get();
    }
    expect(recovers).toHaveLength(1);
    // One probe interval: 5 s plus at most 20% jitter.
    expect((recovers[0] ?? Number.POSITIVE_INFINITY) - back).toBeLessThanOrEqual(6_000);
    expect(sent().at(-1)).toBe(`${EDGE} GET /api/rest/v2.0/x`);
    expect(client.state()).toMatchObject({ active: EDGE, servers: [{ down: false }, { down: false }] });
  });

  it("marks a recovered server down again after a single failure (half-open)", async () => {
    const { edge, client } = edgeDown();
    for (let i = 0; i < 3; i++) {
      await get();
    }
    edge.up = true;
    await run(get(), 6_000);
    expect(client.state().servers[0]?.down).toBe(false);
    edge.up = false;
    await get();
    expect(client.state().servers[0]?.down).toBe(true);
  });

  it("tries a down server again when every server is down (panic mode)", async () => {
    let edgeBack = false;
    const { client } = setup(({ base }) =>
      base === EDGE && edgeBack ? json(200, {}) : nodeError("ECONNREFUSED", "connect"),
    );
    for (let i = 0; i < 3; i++) {
      await rejection(get(), 2_000);
    }
    expect(client.state().servers.every((s) => s.down)).toBe(true);
    edgeBack = true;
    const { response } = await run(get(), 2_000);
    expect(response.status).toBe(200);
  });

  it("does not probe while the page is hidden", async () => {
    vi.stubGlobal("document", { visibilityState: "hidden" });
    const { client, probes } = edgeDown();
    for (let i = 0; i < 3; i++) {
      await get();
    }
    expect(client.state().servers[0]?.down).toBe(true);
    const before = probes(EDGE);
    for (let i = 0; i < 30; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      await get();
    }
    expect(probes(EDGE)).toBe(before);
    vi.stubGlobal("document", { visibilityState: "visible" });
    await get(); // the loop starts again with the next call
    await vi.advanceTimersByTimeAsync(6_000);
    expect(probes(EDGE)).toBeGreaterThan(before);
  });

  it("does not probe when no calls are being made", async () => {
    const { probes } = edgeDown();
    for (let i = 0; i < 3; i++) {
      await get();
    }
    await vi.advanceTimersByTimeAsync(70_000);
    const whileInUse = probes(EDGE);
    expect(whileInUse).toBeGreaterThan(5); // probed every ~5 s during the first minute
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(probes(EDGE)).toBe(whileInUse);
  });

  it("stops probing on close()", async () => {
    const { client, probes } = edgeDown();
    for (let i = 0; i < 3; i++) {
      await get();
    }
    client.close();
    const before = probes();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probes()).toBe(before);
  });

  it("keeps a sleepy fallback warm with a periodic probe while the app is in use", async () => {
    const { client, probes } = setup(
      ({ path, base }) => (path === "/health" ? health(base === EDGE ? "edge" : "node") : json(200, {})),
      {
        servers: [EDGE, { url: NODE, keepWarm: true }],
        keepWarmMs: 60_000,
      },
    );
    for (let i = 0; i < 18; i++) {
      await client.GET("/api/rest/{path}", restPath);
      await vi.advanceTimersByTimeAsync(10_000);
    }
    // Three minutes of use: a probe about once a minute, to the kept-warm server only.
    expect(probes(NODE)).toBeGreaterThanOrEqual(2);
    expect(probes(NODE)).toBeLessThanOrEqual(4);
    expect(probes(EDGE)).toBe(0);
  });

  it("pre-warms the next server as soon as the primary fails, even when the call cannot move", async () => {
    const { client, sent, probes } = setup(({ base, path }) =>
      path === "/health"
        ? health("node")
        : base === EDGE
          ? gatewayError(502, "UPSTREAM_UNREACHABLE")
          : json(200, {}),
    );
    const { response } = await client.POST("/api/facebook-send", { body: send, idempotencyKey: false });
    expect(response.status).toBe(502);
    expect(sent()).toEqual([`${EDGE} POST /api/facebook-send`]);
    expect(probes(NODE)).toBe(1);
  });

  it("does not pre-warm when told not to", async () => {
    const { client, probes } = setup(
      ({ base }) => (base === EDGE ? gatewayError(502, "UPSTREAM_UNREACHABLE") : json(200, {})),
      {
        prewarm: false,
      },
    );
    await client.POST("/api/facebook-send", { body: send, idempotencyKey: false });
    expect(probes()).toBe(0);
  });
});

describe("events and state", () => {
  it("reports failovers with their reason, and a disposer stops the reports", async () => {
    const { client } = setup(({ base }) =>
      base === EDGE ? gatewayError(503, "IDEMPOTENCY_STORE_UNAVAILABLE") : json(200, { message_id: "m" }),
    );
    const seen: unknown[] = [];
    const off = client.onFailover((e) => seen.push(e));
    await client.POST("/api/facebook-send", { body: send });
    expect(seen).toEqual([
      { from: EDGE, to: NODE, operation: "POST /api/facebook-send", reason: "HTTP 503" },
    ]);
    off();
    await client.POST("/api/facebook-send", { body: send });
    expect(seen).toHaveLength(1);
  });

  it("names the reason of each kind of move", async () => {
    const errors: Reply[] = [nodeError("ECONNREFUSED", "connect"), browserError(), "hang"];
    const { client } = setup(
      ({ base }) => (base === EDGE ? (errors.shift() ?? json(200, {})) : json(200, {})),
      {
        attemptTimeoutMs: 500,
      },
    );
    const reasons: string[] = [];
    client.onFailover((e) => reasons.push(e.reason));
    for (let i = 0; i < 3; i++) {
      await run(client.GET("/api/rest/{path}", restPath), 500);
    }
    expect(reasons).toEqual(["not sent", "network", "timeout"]);
  });

  it("shows each server's state for the UI", async () => {
    const { client } = setup(
      ({ base }) => (base === EDGE ? nodeError("ECONNREFUSED", "connect") : json(200, {})),
      {
        servers: [EDGE, { url: NODE, runtime: "node", keepWarm: true }],
      },
    );
    await client.GET("/api/rest/{path}", restPath);
    const state = client.state();
    expect(state.active).toBe(NODE);
    expect(state.servers).toEqual([
      {
        url: EDGE,
        runtime: undefined,
        keepWarm: false,
        down: false,
        failures: 1,
        coolingUntil: 0,
        retryTokens: 9,
        lastSeen: 0,
      },
      {
        url: NODE,
        runtime: "node",
        keepWarm: true,
        down: false,
        failures: 0,
        coolingUntil: 0,
        retryTokens: 10,
        lastSeen: Date.now(),
      },
    ]);
    // A copy: changing it changes nothing inside the client.
    (state.servers[0] as { down: boolean }).down = true;
    expect(client.state().servers[0]?.down).toBe(false);
  });

  it("lists the servers of a runtime in order, asking /health where the config does not say", async () => {
    const { client } = setup(({ base }) => health(base === EDGE ? "edge" : "node"), {
      servers: [EDGE, NODE, { url: "http://127.0.0.1:3001/", runtime: "node" }],
    });
    expect(await client.serversFor("node")).toEqual([NODE, "http://127.0.0.1:3001"]);
    expect(await client.serversFor("edge")).toEqual([EDGE]);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createFailoverFetch,
  createMatcher,
  type FailoverFetch,
  type FailoverFetchOptions,
} from "../src/fetch.js";
import { createClient, isN2StoreNetworkError } from "../src/index.js";
import {
  browserError,
  type Call,
  EDGE,
  gatewayError,
  json,
  NODE,
  nodeError,
  type Reply,
  rejection,
  scripted,
  withHealth,
} from "./helpers.js";

const send = { pageId: "111", psid: "222", message: "Xin chào", pageToken: "EAAB" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let closing: { close(): void }[] = [];
/**
 * A failover fetch over scripted servers. `passed` lists what reached the platform fetch, as it was
 * given (the engine's attempts are Requests on a server's URL, a pass-through is anything else).
 */
const setup = (
  handler: (call: Call) => Reply | Promise<Reply>,
  options: Partial<FailoverFetchOptions> = {},
) => {
  const script = scripted(handler);
  const passed: [RequestInfo | URL, RequestInit | undefined][] = [];
  const f = createFailoverFetch({
    servers: [EDGE, NODE],
    fetch: (input, init) => {
      passed.push([input, init]);
      return script.fetch(new Request(input, init));
    },
    ...options,
  });
  closing.push(f);
  return { ...script, f, passed };
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const c of closing) {
    c.close();
  }
  closing = [];
  vi.useRealTimers();
});

describe("createMatcher", () => {
  // Cases that hold whatever catch-alls the spec adds; the precedence of catch-alls is the next test's.
  it("matches raw requests to the spec's operations by method and path", () => {
    const match = createMatcher();
    const cases: [string, string, string | undefined, number | undefined][] = [
      ["GET", "/health", "/health", 7],
      ["GET", "/api/customers", "/api/customers", 6],
      ["POST", "/api/customers", "/api/customers", 0xa],
      ["GET", "/api/customers/12", "/api/customers/{id}", 6],
      ["POST", "/api/facebook-send", "/api/facebook-send", 0xb],
      ["GET", "/api/rest/v2.0/SaleOnline_Order/ODataService.GetView", "/api/rest/{path}", 7],
      ["POST", "/api/pancake-official/pages/1/upload_contents", "/api/pancake-official/{path}", 0xb],
      ["GET", "/docs/redoc.standalone.js", "/docs/redoc.standalone.js", 6],
      ["GET", "/docs/redocXstandalone.js", undefined, undefined],
      ["HEAD", "/api/image-proxy", "/api/image-proxy", 7],
      ["OPTIONS", "/api/image-proxy", undefined, undefined],
      ["GET", "/nowhere", undefined, undefined],
      ["POST", "/v2/api/facebook-send", undefined, undefined],
    ];
    expect(
      cases.map(([method, path]) => {
        const op = match(method, path);
        return [method, path, op?.template, op?.flags];
      }),
    ).toEqual(cases);
  });

  it("prefers every specific operation, then the longest catch-all prefix, whatever the table's order", () => {
    // The spec after issue 11: a Pancake catch-all, and a TPOS catch-all of the whole /api/ that
    // takes only what nothing else matches (both runtimes; POST and PATCH accept a key).
    const table: Record<string, string> = {
      "/api/{path}": "7b7b7",
      "/api/pancake/{path}": "7b7b7",
      "/api/pancake-official/{path}": "7b7b7",
      "/api/odata/{path}": "7",
      "/api/customers/{id}": "60066",
      "/api/customers": "6a",
      "/api/facebook-send": "0b",
      "/api/things/{id}": "7",
      "/api/things/special": "6",
      "/health": "7",
    };
    const catchAlls = [
      "/api/{path}",
      "/api/pancake/{path}",
      "/api/pancake-official/{path}",
      "/api/odata/{path}",
    ];
    for (const order of [Object.keys(table), Object.keys(table).reverse()]) {
      const match = createMatcher(Object.fromEntries(order.map((k) => [k, table[k] as string])), catchAlls);
      const route = (method: string, path: string) => match(method, path)?.template;
      expect(route("GET", "/api/pancake/pages")).toBe("/api/pancake/{path}");
      expect(route("POST", "/api/pancake/conversations/search")).toBe("/api/pancake/{path}");
      expect(route("GET", "/api/pancake-official/pages/1/conversations")).toBe(
        "/api/pancake-official/{path}",
      );
      expect(route("GET", "/api/odata/SaleOnline_Order")).toBe("/api/odata/{path}");
      // No POST on /api/odata/{path} in this table: the TPOS catch-all takes it.
      expect(route("POST", "/api/odata/SaleOnline_Order")).toBe("/api/{path}");
      expect(route("POST", "/api/facebook-send")).toBe("/api/facebook-send");
      expect(route("GET", "/api/facebook-send")).toBe("/api/{path}");
      expect(route("GET", "/api/customers")).toBe("/api/customers");
      expect(route("GET", "/api/customers/12")).toBe("/api/customers/{id}");
      expect(route("GET", "/api/customers/12/notes")).toBe("/api/{path}");
      expect(route("GET", "/api/things/special")).toBe("/api/things/special");
      expect(route("GET", "/api/things/other")).toBe("/api/things/{id}");
      expect(route("POST", "/api/SaleOnline_Order/ExportFile")).toBe("/api/{path}");
      expect(match("PATCH", "/api/Product(1)")).toEqual({ template: "/api/{path}", flags: 0xb });
      expect(route("GET", "/api/pancake")).toBe("/api/{path}");
      expect(route("GET", "/api/")).toBeUndefined();
      expect(route("GET", "/health")).toBe("/health");
      expect(route("GET", "/other/api/x")).toBeUndefined();
    }
  });
});

describe("createFailoverFetch: routing", () => {
  it("moves an idempotent GET built by hand to the next server, with its headers and query", async () => {
    const { f, requests, sent } = setup(({ base }) =>
      base === EDGE ? browserError() : json(200, { value: [] }),
    );
    const res = await f(`${EDGE}/api/odata/Partner?$top=1&$filter=Name eq 'A'`, {
      headers: { authorization: "Bearer t", tposappversion: "6.5.14.1" },
    });
    expect(await res.json()).toEqual({ value: [] });
    // Encoded as fetch's own URL parser does (a space and, in the query of an http URL, a quote).
    expect(sent()).toEqual([
      `${EDGE} GET /api/odata/Partner?$top=1&$filter=Name%20eq%20%27A%27`,
      `${NODE} GET /api/odata/Partner?$top=1&$filter=Name%20eq%20%27A%27`,
    ]);
    expect(requests().map((c) => [c.headers.get("authorization"), c.headers.get("tposappversion")])).toEqual([
      ["Bearer t", "6.5.14.1"],
      ["Bearer t", "6.5.14.1"],
    ]);
    expect(requests()[1]?.headers.has("idempotency-key")).toBe(false);
    expect(f.state().active).toBe(NODE);
  });

  it("sends a node-only operation to a Node server only", async () => {
    const { f, sent } = setup(() => json(200, { items: [] }), {
      servers: [
        { url: EDGE, runtime: "edge" },
        { url: NODE, runtime: "node" },
      ],
    });
    await f(`${EDGE}/api/customers?q=0912`, { headers: { "x-api-key": "k" } });
    expect(sent()).toEqual([`${NODE} GET /api/customers?q=0912`]);
  });

  it("keeps a catch-all path exactly as the page encoded it", async () => {
    const { f, sent } = setup(() => json(200, {}));
    await f(new URL(`${EDGE}/api/rest/v2.0/SaleOnline%20Order/x%2Fy?$expand=Details,Partner`));
    expect(sent()).toEqual([`${EDGE} GET /api/rest/v2.0/SaleOnline%20Order/x%2Fy?$expand=Details,Partner`]);
  });

  it("takes requests to any configured server, also one with a path prefix, and only under it", async () => {
    const { f, sent, passed } = setup(
      ({ base, path }) => (base === EDGE && path.startsWith("/gw/") ? browserError() : json(200, {})),
      { servers: [`${EDGE}/gw/`, NODE] },
    );
    await f(`${EDGE}/gw/api/odata/Partner`);
    await f(`${NODE}/api/odata/Partner`); // aimed at the fallback: still starts on the first server
    const outside = `${EDGE}/gwx/api/odata/Partner`;
    await f(outside);
    expect(sent()).toEqual([
      `${EDGE} GET /gw/api/odata/Partner`,
      `${NODE} GET /api/odata/Partner`,
      `${EDGE} GET /gw/api/odata/Partner`,
      `${NODE} GET /api/odata/Partner`,
      `${EDGE} GET /gwx/api/odata/Partner`,
    ]);
    expect(passed.at(-1)?.[0]).toBe(outside);
  });

  it("resolves a relative URL against the page, as fetch does", async () => {
    vi.stubGlobal("document", { baseURI: `${EDGE}/orders-report/index.html` });
    const { f, sent } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    await f("/api/odata/Partner");
    expect(sent()).toEqual([`${EDGE} GET /api/odata/Partner`, `${NODE} GET /api/odata/Partner`]);
  });

  it("passes a request to another origin to the platform's fetch untouched", async () => {
    const { f, passed, calls } = setup(() => json(200, { ok: true }));
    const init = { method: "POST", body: "x=1", headers: { "content-type": "text/plain" } };
    const res = await f("https://34tinhthanh.com/api/search", init);
    expect(await res.json()).toEqual({ ok: true });
    expect(passed).toHaveLength(1);
    expect(passed[0]?.[0]).toBe("https://34tinhthanh.com/api/search");
    expect(passed[0]?.[1]).toBe(init);
    expect(calls[0]?.headers.has("idempotency-key")).toBe(false);
    expect(f.state().servers.map((s) => s.lastSeen)).toEqual([0, 0]);
  });

  it("passes an unusable URL on, so that fetch itself rejects it", async () => {
    const { f, passed } = setup(() => json(200, {}));
    await expect(f("not a url")).rejects.toThrow(TypeError);
    expect(passed.map(([input]) => input)).toEqual(["not a url"]);
  });

  it("calls the platform fetch taken at creation, so it may replace globalThis.fetch", async () => {
    const script = scripted(({ base, path }) =>
      base === EDGE ? browserError() : json(200, { path }, { "x-from": base }),
    );
    const platform = vi.fn((input: RequestInfo | URL, init?: RequestInit) =>
      script.fetch(new Request(input, init)),
    );
    vi.stubGlobal("fetch", platform);
    const f = createFailoverFetch({ servers: [EDGE, NODE], prewarm: false });
    closing.push(f);
    vi.stubGlobal("fetch", f);
    const res = await globalThis.fetch(`${EDGE}/api/odata/Partner`);
    expect(res.headers.get("x-from")).toBe(NODE);
    await globalThis.fetch("http://localhost:3000/elsewhere"); // not a configured origin
    expect(platform).toHaveBeenCalledTimes(3);
    expect(script.sent()).toEqual([
      `${EDGE} GET /api/odata/Partner`,
      `${NODE} GET /api/odata/Partner`,
      "http://localhost:3000 GET /elsewhere",
    ]);
  });

  it("refuses an argument that is neither a client nor options with servers", () => {
    expect(() => createFailoverFetch({} as FailoverFetchOptions)).toThrow(
      /createClient, or options with servers/,
    );
  });
});

describe("createFailoverFetch: sending a message", () => {
  it("adds one Idempotency-Key to a hand-built facebook-send and sends it to the next server with the same key", async () => {
    const { f, requests } = setup(({ base }) =>
      base === EDGE ? browserError() : json(200, { message_id: "m", messaging_type: "RESPONSE" }),
    );
    const res = await f(`${EDGE}/api/facebook-send`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(send),
    });
    expect(res.status).toBe(200);
    const [first, second] = requests();
    expect(first?.headers.get("idempotency-key")).toMatch(UUID);
    expect(second?.headers.get("idempotency-key")).toBe(first?.headers.get("idempotency-key"));
    expect([first?.base, second?.base]).toEqual([EDGE, NODE]);
    expect(second?.body).toBe(JSON.stringify(send));
    expect(second?.headers.get("content-type")).toBe("application/json");
  });

  it.each([
    ["502", () => gatewayError(502, "UPSTREAM_UNREACHABLE"), [EDGE, NODE], 200],
    ["503", () => gatewayError(503, "IDEMPOTENCY_STORE_UNAVAILABLE"), [EDGE, NODE], 200],
    ["500", () => gatewayError(500, "INTERNAL"), [EDGE], 500],
    ["400", () => gatewayError(400, "VALIDATION_FAILED"), [EDGE], 400],
    ["429 without Retry-After", () => gatewayError(429, "FB_RATE_LIMITED"), [EDGE], 429],
  ] as const)(
    "after %s from the primary, moves only as the typed client does",
    async (_, reply, bases, status) => {
      const { f, requests } = setup(({ base }) => (base === EDGE ? reply() : json(200, { message_id: "m" })));
      const res = await f(`${EDGE}/api/facebook-send`, { method: "POST", body: JSON.stringify(send) });
      expect(res.status).toBe(status);
      expect(requests().map((c) => c.base)).toEqual(bases);
    },
  );

  it("without keys, moves a message only when it provably never left", async () => {
    const errors = [browserError(), nodeError("ECONNREFUSED", "connect")];
    const { f, sent } = setup(({ base }) => (base === EDGE ? (errors.shift() as Error) : json(200, {})), {
      idempotencyKeys: false,
    });
    const init = { method: "POST", body: JSON.stringify(send) };
    const e = await rejection(f(`${EDGE}/api/facebook-send`, init));
    expect(isN2StoreNetworkError(e)).toBe(true);
    expect(e).toBeInstanceOf(TypeError);
    expect(e).toMatchObject({ reason: "network", maybeDelivered: true, attempts: 1 });
    expect((await f(`${EDGE}/api/facebook-send`, init)).status).toBe(200);
    expect(sent()).toEqual([
      `${EDGE} POST /api/facebook-send`,
      `${EDGE} POST /api/facebook-send`,
      `${NODE} POST /api/facebook-send`,
    ]);
  });

  it.each([
    ["Idempotency-Key", "page-key-0001"],
    ["X-Idempotency-Key", "page-key-0002"],
  ])("uses the caller's %s instead of a new key, on every attempt", async (header, key) => {
    const { f, requests } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    await f(`${EDGE}/api/facebook-send`, {
      method: "POST",
      headers: { [header]: key },
      body: JSON.stringify(send),
    });
    expect(requests().map((c) => [c.base, c.headers.get("idempotency-key")])).toEqual([
      [EDGE, key],
      [NODE, key],
    ]);
  });

  it("reports the move with the operation's template", async () => {
    const { f } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    const seen: unknown[] = [];
    f.onFailover((e) => seen.push(e));
    await f(`${EDGE}/api/pancake-official/pages/1/conversations/2/messages?page_access_token=t`, {
      method: "POST",
      body: JSON.stringify({ action: "reply_inbox", message: "Dạ" }),
    });
    expect(seen).toEqual([
      { from: EDGE, to: NODE, operation: "POST /api/pancake-official/{path}", reason: "network" },
    ]);
  });
});

describe("createFailoverFetch: a path no operation matches", () => {
  it("sends a POST to the first server without a key, and does not move it after it may have arrived", async () => {
    const { f, requests } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    const e = await rejection(f(`${EDGE}/not-in-spec`, { method: "POST", body: "{}" }));
    expect(e).toMatchObject({ reason: "network", maybeDelivered: true, attempts: 1 });
    expect(requests().map((c) => [c.base, c.headers.has("idempotency-key")])).toEqual([[EDGE, false]]);
  });

  it("does not move it for a caller's key either: no server keeps keys for it", async () => {
    const { f, sent } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    await rejection(
      f(`${EDGE}/not-in-spec`, {
        method: "PATCH",
        headers: { "Idempotency-Key": "k-123456789" },
        body: "{}",
      }),
    );
    expect(sent()).toEqual([`${EDGE} PATCH /not-in-spec`]);
  });

  it("moves a GET, a HEAD and a PUT, whose methods are idempotent", async () => {
    const { f, sent } = setup(({ base }) => (base === EDGE ? browserError() : new Response(null)));
    for (const method of ["GET", "HEAD", "PUT"]) {
      expect((await f(`${EDGE}/not-in-spec`, { method })).status).toBe(200);
    }
    expect(sent()).toEqual([
      `${EDGE} GET /not-in-spec`,
      `${NODE} GET /not-in-spec`,
      `${EDGE} HEAD /not-in-spec`,
      `${NODE} HEAD /not-in-spec`,
      `${EDGE} PUT /not-in-spec`,
      `${NODE} PUT /not-in-spec`,
    ]);
  });
});

describe("createFailoverFetch: bodies", () => {
  const png = () => new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255])], { type: "image/png" });
  const form = () => {
    const data = new FormData();
    data.append("file", png(), "a.png");
    data.append("page_ids", "1,2");
    return data;
  };
  it.each([
    ["a JSON string", () => JSON.stringify(send)],
    ["FormData with a file", form],
    ["URLSearchParams", () => new URLSearchParams({ grant_type: "refresh_token", refresh_token: "r t+" })],
    ["a Blob", png],
    ["an ArrayBuffer", () => new Uint8Array([1, 2, 3, 0, 255]).buffer],
  ])("sends %s again, byte for byte, with its content type", async (_, body) => {
    const { f, requests } = setup(({ base }) => (base === EDGE ? browserError() : json(200, {})));
    const res = await f(`${EDGE}/api/pancake-official/pages/1/upload_contents`, {
      method: "POST",
      body: body(),
    });
    expect(res.status).toBe(200);
    const [first, second] = requests();
    expect(second?.base).toBe(NODE);
    expect(second?.bytes).toEqual(first?.bytes);
    expect(second?.headers.get("content-type")).toBe(first?.headers.get("content-type"));
    const type = second?.headers.get("content-type") ?? "";
    // What fetch itself would have sent (a FormData's boundary is new each time: compare its parts).
    const expected = new Request(EDGE, { method: "POST", body: body() });
    if (type.startsWith("multipart/form-data")) {
      const parts = await new Response(second?.bytes, { headers: { "content-type": type } }).formData();
      const sentFile = parts.get("file") as File;
      expect([sentFile.name, sentFile.type, [...new Uint8Array(await sentFile.arrayBuffer())]]).toEqual([
        "a.png",
        "image/png",
        [0x89, 0x50, 0x4e, 0x47, 0, 255],
      ]);
      expect(parts.get("page_ids")).toBe("1,2");
    } else {
      expect(second?.headers.get("content-type")).toBe(expected.headers.get("content-type"));
      expect(second?.bytes).toEqual(new Uint8Array(await expected.arrayBuffer()));
    }
  });

  it("sends no body where the page sent none, so a JSON content type gets no empty body", async () => {
    const { f, requests } = setup(() => json(200, {}));
    await f(`${EDGE}/api/rest/v2.0/SaleOnline_Order(1)`, {
      method: "DELETE",
      headers: { "Content-Type": "application/json" },
    });
    expect(requests()[0]?.request.body).toBeNull();
  });

  it("sends a stream body once, as it comes, and never to a second server", async () => {
    const { f, sent, requests } = setup(({ base }) =>
      base === EDGE ? nodeError("ECONNREFUSED", "connect") : json(200, {}),
    );
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("part 1,"));
          c.enqueue(new TextEncoder().encode("part 2"));
          c.close();
        },
      });
    const init = { method: "PUT", body: stream(), duplex: "half" } as RequestInit;
    const e = await rejection(f(`${EDGE}/api/rest/v2.0/x`, init));
    // Even a proof that it never left cannot move it: the stream is gone.
    expect(e).toMatchObject({ reason: "network", maybeDelivered: false, attempts: 1 });
    expect(sent()).toEqual([`${EDGE} PUT /api/rest/v2.0/x`]);
    const { f: g, requests: toNode } = setup(() => json(200, {}), { servers: [NODE] });
    await g(`${NODE}/api/rest/v2.0/x`, { method: "PUT", body: stream(), duplex: "half" } as RequestInit);
    expect(toNode()[0]?.body).toBe("part 1,part 2");
    expect(requests()).toHaveLength(1);
  });
});

describe("createFailoverFetch: Request input, abort, deadline", () => {
  it("takes a Request: its method, headers, body and options, and fails it over", async () => {
    const { f, requests } = setup(({ base }) =>
      base === EDGE ? browserError() : json(200, { message_id: "m" }),
    );
    const req = new Request(`${EDGE}/api/facebook-send`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-page-access-token": "EAAB" },
      body: JSON.stringify(send),
      credentials: "include",
      redirect: "manual",
    });
    const res = await f(req);
    expect(await res.json()).toEqual({ message_id: "m" });
    expect(
      requests().map((c) => [
        c.base,
        c.method,
        c.body,
        c.headers.get("x-page-access-token"),
        c.request.credentials,
        c.request.redirect,
      ]),
    ).toEqual([
      [EDGE, "POST", JSON.stringify(send), "EAAB", "include", "manual"],
      [NODE, "POST", JSON.stringify(send), "EAAB", "include", "manual"],
    ]);
    expect(requests()[1]?.headers.get("idempotency-key")).toBe(requests()[0]?.headers.get("idempotency-key"));
  });

  it("rejects with the caller's abort reason, aborts the request in flight and sends nothing more", async () => {
    const { f, calls } = setup(() => "hang");
    const controller = new AbortController();
    const call = rejection(f(`${EDGE}/api/odata/Partner`, { signal: controller.signal }), 0);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort();
    const e = await call;
    expect(e).toBeInstanceOf(DOMException);
    expect((e as DOMException).name).toBe("AbortError");
    expect(e).toBe(controller.signal.reason);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.signal.aborted).toBe(true);
  });

  it("rejects at once with the reason of a signal already aborted, sending nothing", async () => {
    const { f, calls } = setup(() => json(200, {}));
    const reason = new Error("page left");
    const e = await rejection(
      f(new Request(`${EDGE}/api/odata/Partner`, { signal: AbortSignal.abort(reason) })),
      0,
    );
    expect(e).toBe(reason);
    expect(calls).toHaveLength(0);
  });

  it("rejects with a TypeError carrying the attempts when no server answers in time", async () => {
    const { f } = setup(() => "hang", { timeoutMs: 4_000, attemptTimeoutMs: 2_000 });
    const e = await rejection(f(`${EDGE}/api/odata/Partner`), 4_000);
    expect(e).toBeInstanceOf(TypeError);
    expect(e).toMatchObject({ reason: "timeout", servers: [EDGE, NODE], maybeDelivered: true });
  });
});

describe("createFailoverFetch(client)", () => {
  it("shares the client's servers and health: what one learns, the other uses", async () => {
    const script = scripted(
      withHealth(({ base }) => (base === EDGE ? nodeError("ECONNREFUSED", "connect") : json(200, {}))),
    );
    const client = createClient({ servers: [EDGE, NODE], fetch: script.fetch, downAfter: 2 });
    closing.push(client);
    const f: FailoverFetch = createFailoverFetch(client);
    await client.GET("/api/rest/{path}", { params: { path: { path: "x" } } });
    await f(`${EDGE}/api/odata/Partner`);
    expect(client.state().servers[0]?.down).toBe(true); // one failure each: down after two
    await f(`${EDGE}/api/odata/Partner`);
    expect(script.sent().slice(-1)).toEqual([`${NODE} GET /api/odata/Partner`]); // skipped, not tried
    expect(f.state()).toEqual(client.state());
  });
});

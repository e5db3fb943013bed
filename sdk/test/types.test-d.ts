// Public types, checked by `tsc --noEmit -p sdk` (this file is never run).
import { describe, expectTypeOf, it } from "vitest";
import { WebSocket } from "ws";
import { createFailoverFetch } from "../src/fetch.js";
import {
  type components,
  createClient,
  createRealtime,
  type N2StoreClient,
  type N2StoreNetworkError,
  type RealtimeMessage,
} from "../src/index.js";

type Schemas = components["schemas"];
const client = createClient({
  servers: ["http://127.0.0.1:8787", { url: "http://127.0.0.1:3000", runtime: "node" }],
});

describe("client calls", () => {
  it("types data and error from the spec", async () => {
    const { data, error } = await client.GET("/health");
    expectTypeOf(data).toEqualTypeOf<Schemas["Health"] | undefined>();
    expectTypeOf(error).toEqualTypeOf<undefined>();

    const sent = await client.POST("/api/facebook-send", {
      body: { pageId: "1", psid: "2", message: "hi", pageToken: "t" },
    });
    expectTypeOf(sent.data).toEqualTypeOf<Schemas["FacebookSendResult"] | undefined>();
    expectTypeOf(sent.error).toEqualTypeOf<Schemas["Error"] | undefined>();
  });

  it("requires what the spec requires and takes the SDK's call options", () => {
    // @ts-expect-error the body is required
    void client.POST("/api/facebook-send", {});
    // @ts-expect-error the catch-all path parameter is required
    void client.GET("/api/rest/{path}");
    // @ts-expect-error not a path of the spec
    void client.GET("/api/nope");
    // @ts-expect-error timeoutMs is a number
    void client.GET("/health", { timeoutMs: "1s" });
    void client.GET("/api/odata/{path}", {
      params: { path: { path: "a/b" }, query: { passthrough: { $top: "20" } } },
      timeoutMs: 5_000,
      signal: AbortSignal.timeout(10_000),
    });
    void client.POST("/api/customers", { body: { phone: "0912345678", name: "Lan" }, idempotencyKey: false });
  });

  it("types the TPOS headers of the pass-throughs as params.header", () => {
    const tpos = {
      Authorization: "Bearer eyJ",
      tposappversion: "6.5.14.1",
      "feature-version": "2",
      "x-tpos-lang": "vi",
      "If-None-Match": 'W/"AAAAAAAVsqY="',
    };
    void client.GET("/api/odata/{path}", { params: { path: { path: "Partner" }, header: tpos } });
    void client.PATCH("/api/rest/{path}", {
      params: {
        path: { path: "v2.0/SaleOnline_Order(1)" },
        header: { Authorization: "Bearer eyJ", "If-Match": 'W/"1"' },
      },
      body: { Note: "x" },
    });
    void client.GET("/api/{path}", {
      params: { path: { path: "fastsaleorder/print1" }, header: { Authorization: "Bearer eyJ" } },
    });
    // @ts-expect-error a header value is a string
    void client.GET("/api/rest/{path}", { params: { path: { path: "x" }, header: { Authorization: 1 } } });
    void client.POST("/api/facebook-send", {
      // @ts-expect-error only the TPOS operations take Authorization (a send's page token is in its body)
      params: { header: { Authorization: "Bearer eyJ" } },
      body: { pageId: "1", psid: "2", message: "hi", pageToken: "t" },
    });
  });

  it("offers state and disposable events", () => {
    expectTypeOf(client.onFailover(() => {})).toEqualTypeOf<() => void>();
    expectTypeOf(client.state().servers[0]?.runtime).toEqualTypeOf<"edge" | "node" | undefined>();
    expectTypeOf<N2StoreNetworkError["maybeDelivered"]>().toEqualTypeOf<boolean>();
    expectTypeOf<N2StoreNetworkError["attempts"]>().toEqualTypeOf<number>();
  });
});

describe("realtime", () => {
  it("types each handler's message by its type, and takes the ws package's WebSocket", () => {
    const live = createRealtime(client, { apiKey: "k", WebSocket });
    live.on("pages:update_conversation", (m) => {
      expectTypeOf(m).toEqualTypeOf<Schemas["ConversationUpdatedMessage"]>();
      expectTypeOf(m.payload.conversation.page_id).toEqualTypeOf<string>();
    });
    live.on("ready", (m) => expectTypeOf(m.instanceId).toEqualTypeOf<string>());
    expectTypeOf<RealtimeMessage<"sepay:transaction">>().toEqualTypeOf<Schemas["SepayTransactionMessage"]>();
    // @ts-expect-error not a message type of the spec
    live.on("pages:nope", () => {});
  });
});

describe("createFailoverFetch", () => {
  it("is a fetch, made from a client or from options, with the client's controls", () => {
    const fromClient = createFailoverFetch(client);
    const fromOptions = createFailoverFetch({ servers: ["http://127.0.0.1:8787"], fetch: globalThis.fetch });
    expectTypeOf(fromClient).toExtend<typeof globalThis.fetch>();
    expectTypeOf(fromOptions).toExtend<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>();
    expectTypeOf(fromOptions.state).toEqualTypeOf<N2StoreClient["state"]>();
    expectTypeOf(fromOptions.onFailover).toEqualTypeOf<N2StoreClient["onFailover"]>();
    // @ts-expect-error: the options need servers
    createFailoverFetch({ timeoutMs: 1 });
  });
});

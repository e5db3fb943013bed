import {
  type AnyHandler,
  type AnyResult,
  ERROR_CODE_VALUES,
  type OperationSpec,
  operations,
  type RawBody,
} from "@n2store/generated";
import openapi from "@n2store/generated/openapi.json" with { type: "json" };
import { describe, expect, it, vi } from "vitest";
import type { Env } from "./config.js";
import type { SharedDeps } from "./deps.js";
import { ApiError } from "./errors.js";
import { proxy } from "./handlers/proxy.js";
import { IDEMPOTENCY_LEASE_MS } from "./idempotency/run.js";
import type { IdempotencyStore } from "./idempotency/store.js";
import {
  errorResult,
  execute,
  type IncomingRequest,
  notServedResult,
  numberProblems,
  RAW_BODY_LIMIT,
} from "./pipeline.js";
import type { Logger } from "./ports/runtime.js";
import { type Upstream, UpstreamFailure } from "./ports/upstream.js";
import { testDeps as sharedTestDeps } from "./testing/deps.js";
import { bodyText, FakeUpstream, rawBody } from "./testing/fake-upstream.js";
import { MemoryIdempotencyStore } from "./testing/memory-idempotency-store.js";
import { upstreamError } from "./upstream.js";

function recordingLogger(): Logger & { calls: { level: string; obj: object; msg?: string }[] } {
  const calls: { level: string; obj: object; msg?: string }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      calls.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
    };
  return { calls, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function testDeps(
  env: Env = {},
  extra: { idempotency?: IdempotencyStore | null; upstream?: Upstream; now?: () => number } = {},
): SharedDeps & { log: ReturnType<typeof recordingLogger> } {
  const log = recordingLogger();
  return {
    ...sharedTestDeps({
      env,
      log,
      requestId: "req-7",
      ...(extra.upstream === undefined ? {} : { upstream: extra.upstream }),
      ...(extra.now === undefined ? {} : { now: extra.now }),
      ...(extra.idempotency === undefined ? {} : { idempotency: extra.idempotency }),
    }),
    log,
  };
}

function request(overrides: Partial<IncomingRequest> = {}): IncomingRequest {
  return { params: {}, query: {}, rawQuery: "", headers: {}, body: { kind: "none" }, ...overrides };
}

function json(value: unknown, contentType = "application/json"): IncomingRequest["body"] {
  return { kind: "parsed", contentType, value };
}

/** A handler that answers 200 and records what it got. */
function okHandler() {
  return vi.fn<AnyHandler<SharedDeps>>(async () => ({ status: 200, body: { ok: true } }));
}

/** The error body of a result (fails when the result has no JSON body). */
function errorOf(result: AnyResult): {
  statusCode: number;
  code: string;
  message: string;
  details?: unknown;
} {
  expect("body" in result).toBe(true);
  return (result as { body: { statusCode: number; code: string; message: string; details?: unknown } }).body;
}

const op = operations as unknown as Record<string, OperationSpec>;
const listCustomers = op.listCustomers as OperationSpec;
const getCustomer = op.getCustomer as OperationSpec;
const receiveSepayWebhook = op.receiveSepayWebhook as OperationSpec;
const sendFacebookMessage = op.sendFacebookMessage as OperationSpec;
const createTposToken = op.createTposToken as OperationSpec;
const createCustomer = op.createCustomer as OperationSpec;
const tposRestPost = op.tposRestPost as OperationSpec;
const getHealth = op.getHealth as OperationSpec;
const proxyPost = op.proxyPost as OperationSpec;

const SEND = { pageId: "270136663390370", psid: "9484319011642026", message: "Dạ", pageToken: "EAAG" };
const KEY = "5f0c2b6e-3f7a-4d0e-9a57-1c2b3d4e5f60";

describe("execute", () => {
  describe("security", () => {
    it("runs the handler for a valid key", async () => {
      const handler = okHandler();
      const result = await execute(
        listCustomers,
        handler,
        request({ headers: { "x-api-key": "k" } }),
        testDeps({ N2STORE_API_KEYS: "k" }),
      );
      expect(result).toEqual({ status: 200, body: { ok: true } });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("answers 401 in the error shape, with the request id, without running the handler", async () => {
      const handler = okHandler();
      const result = await execute(listCustomers, handler, request(), testDeps({ N2STORE_API_KEYS: "k" }));
      expect(result).toEqual({
        status: 401,
        headers: {},
        body: {
          success: false,
          statusCode: 401,
          code: "UNAUTHORIZED",
          error: "Unauthorized",
          message: "This operation needs an API key: send it as x-api-key or Authorization: Bearer.",
          requestId: "req-7",
        },
      });
      expect(handler).not.toHaveBeenCalled();
    });

    it("answers 503 SEPAY_NOT_CONFIGURED before validating the webhook body", async () => {
      const handler = okHandler();
      const result = await execute(receiveSepayWebhook, handler, request({ body: json({}) }), testDeps());
      expect(result.status).toBe(503);
      expect(result.headers).toEqual({ "retry-after": "60" });
      expect(errorOf(result).code).toBe("SEPAY_NOT_CONFIGURED");
      expect(handler).not.toHaveBeenCalled();
    });
  });

  describe("validation", () => {
    async function sendWith(body: unknown) {
      const handler = okHandler();
      const result = await execute(sendFacebookMessage, handler, request({ body: json(body) }), testDeps());
      return { result, handler };
    }

    it("answers 400 VALIDATION_FAILED naming a missing field", async () => {
      const { result, handler } = await sendWith({ psid: SEND.psid, message: "m", pageToken: "t" });
      expect(result.status).toBe(400);
      expect(errorOf(result)).toMatchObject({
        code: "VALIDATION_FAILED",
        message: "body.pageId: is required",
        details: [{ path: ["body", "pageId"], message: "is required" }],
      });
      expect(handler).not.toHaveBeenCalled();
    });

    it("names a field of the wrong type", async () => {
      const { result } = await sendWith({ ...SEND, pageId: 270136663390370 });
      expect(errorOf(result).details).toEqual([{ path: ["body", "pageId"], message: "must be string" }]);
    });

    // A closed body (additionalProperties: false); facebook-send's is open, as the pages add context.
    async function createWith(body: unknown) {
      const handler = okHandler();
      const result = await execute(
        createCustomer,
        handler,
        request({ headers: { "x-api-key": "key-one" }, body: json(body) }),
        testDeps({ N2STORE_API_KEYS: "key-one" }),
      );
      return { result, handler };
    }

    it("names an unknown field", async () => {
      const { result, handler } = await createWith({ phone: "0912345678", name: "Lan", surprise: 1 });
      expect(errorOf(result).details).toEqual([
        { path: ["body", "surprise"], message: "is not a known field" },
      ]);
      expect(handler).not.toHaveBeenCalled();
    });

    it("lists the allowed values of an enum", async () => {
      const { result } = await sendWith({ ...SEND, useTag: true, tag: "FRIENDLY" });
      expect(errorOf(result).details).toEqual([
        {
          path: ["body", "tag"],
          message:
            'must be one of "HUMAN_AGENT", "POST_PURCHASE_UPDATE", "CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "CUSTOMER_FEEDBACK"',
        },
      ]);
    });

    it("reports every problem and counts the others in the message", async () => {
      const { result } = await createWith({ surprise: 1 });
      const body = errorOf(result);
      expect(body.details).toHaveLength(3);
      expect(body.message).toBe("body.phone: is required (and 2 more)");
    });

    it("applies the schema's defaults (useTag false) without changing the caller's value", async () => {
      const value = { ...SEND };
      const handler = okHandler();
      await execute(sendFacebookMessage, handler, request({ body: json(value) }), testDeps());
      expect(handler.mock.calls[0]?.[0].body).toEqual({ ...SEND, useTag: false });
      expect(value).toEqual(SEND);
    });

    it("answers 415 for a body in another content type", async () => {
      const handler = okHandler();
      const result = await execute(
        sendFacebookMessage,
        handler,
        request({ body: json(SEND, "application/x-www-form-urlencoded") }),
        testDeps(),
      );
      expect(handler).not.toHaveBeenCalled();
      expect(result.status).toBe(415);
      expect(errorOf(result)).toMatchObject({
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: "Send the body as application/json.",
      });
    });

    it("answers 400 when a required body is missing", async () => {
      const result = await execute(sendFacebookMessage, okHandler(), request(), testDeps());
      expect(errorOf(result)).toMatchObject({
        code: "VALIDATION_FAILED",
        details: [{ path: ["body"], message: "is required (application/json)" }],
      });
    });

    it("accepts a form-encoded token request as sent (the handler supplies client_id)", async () => {
      const handler = okHandler();
      await execute(
        createTposToken,
        handler,
        request({
          body: json(
            { grant_type: "password", username: "u", password: "p" },
            "application/x-www-form-urlencoded",
          ),
        }),
        testDeps(),
      );
      expect(handler.mock.calls[0]?.[0].body).toEqual({
        grant_type: "password",
        username: "u",
        password: "p",
      });
    });

    it("names the missing password of a JSON password grant, not the company form's unknown fields", async () => {
      const result = await execute(
        createTposToken,
        okHandler(),
        request({ body: json({ grant_type: "password", username: "u" }) }),
        testDeps(),
      );
      expect(errorOf(result).details).toEqual([{ path: ["body", "password"], message: "is required" }]);
    });

    it("takes a JSON company request as the pages send it, and names what is wrong with one", async () => {
      const handler = okHandler();
      for (const body of [{ companyId: 1 }, { companyId: "2" }, {}]) {
        await execute(createTposToken, handler, request({ body: json(body) }), testDeps());
      }
      expect(handler.mock.calls.map((call) => call[0].body)).toEqual([
        { companyId: 1 },
        { companyId: "2" },
        {},
      ]);
      const zero = await execute(
        createTposToken,
        okHandler(),
        request({ body: json({ companyId: 0 }) }),
        testDeps(),
      );
      expect(errorOf(zero).details).toEqual([{ path: ["body", "companyId"], message: "must be >= 1" }]);
      const extra = await execute(
        createTposToken,
        okHandler(),
        request({ body: json({ companyId: "1", username: "u" }) }),
        testDeps(),
      );
      expect(errorOf(extra).details).toEqual([
        { path: ["body", "username"], message: "is not a known field" },
      ]);
    });

    it("coerces query strings to the declared types and applies query defaults", async () => {
      const handler = okHandler();
      const deps = testDeps({ N2STORE_API_KEYS: "k" });
      await execute(
        listCustomers,
        handler,
        request({ headers: { "x-api-key": "k" }, query: { page: "3" } }),
        deps,
      );
      expect(handler.mock.calls[0]?.[0].query).toEqual({ page: 3, limit: 20 });
    });

    it("names a query value that cannot be coerced", async () => {
      const result = await execute(
        listCustomers,
        okHandler(),
        request({ headers: { "x-api-key": "k" }, query: { page: "two", status: "angry" } }),
        testDeps({ N2STORE_API_KEYS: "k" }),
      );
      expect(result.status).toBe(400);
      expect(errorOf(result).details).toHaveLength(2);
      expect(errorOf(result).details).toEqual(
        expect.arrayContaining([
          { path: ["query", "page"], message: "must be integer" },
          {
            path: ["query", "status"],
            message: 'must be one of "normal", "warning", "danger", "bomb", "vip"',
          },
        ]),
      );
    });

    it("coerces a path parameter and refuses one out of range", async () => {
      const handler = okHandler();
      const deps = testDeps({ N2STORE_API_KEYS: "k" });
      await execute(
        getCustomer,
        handler,
        request({ headers: { "x-api-key": "k" }, params: { id: "42" } }),
        deps,
      );
      expect(handler.mock.calls[0]?.[0].path).toEqual({ id: 42 });
      const refused = await execute(
        getCustomer,
        handler,
        request({ headers: { "x-api-key": "k" }, params: { id: "0" } }),
        deps,
      );
      expect(errorOf(refused).details).toEqual([{ path: ["path", "id"], message: "must be >= 1" }]);
    });

    it("validates a declared header (Idempotency-Key) and names it", async () => {
      const result = await execute(
        sendFacebookMessage,
        okHandler(),
        request({ headers: { "idempotency-key": "short" }, body: json(SEND) }),
        testDeps(),
      );
      expect(errorOf(result).details).toEqual([
        { path: ["headers", "idempotency-key"], message: "must NOT have fewer than 8 characters" },
      ]);
    });

    it("hands a raw pass-through body to the handler unread, with the raw query and headers", async () => {
      const handler = okHandler();
      const body = rawBody("{}");
      await execute(
        tposRestPost,
        handler,
        request({
          params: { path: "v2.0/x" },
          rawQuery: "a=1",
          headers: { "content-type": "application/json" },
          body: { kind: "raw", value: body },
        }),
        testDeps(),
      );
      const input = handler.mock.calls[0]?.[0];
      expect(input?.body).toBe(body);
      expect(input?.rawQuery).toBe("a=1");
      expect(input?.rawHeaders).toEqual({ "content-type": "application/json" });
    });
  });

  describe("unexpected failures", () => {
    it("answers 500 INTERNAL without the error's message and logs the cause", async () => {
      const deps = testDeps();
      const failure = new TypeError("db password is hunter2");
      const result = await execute(
        getHealth,
        async () => {
          throw failure;
        },
        request(),
        deps,
      );
      expect(result.status).toBe(500);
      expect(errorOf(result)).toEqual({
        success: false,
        statusCode: 500,
        code: "INTERNAL",
        error: "Internal Server Error",
        message: "The server failed to handle this request; the failure is logged.",
        requestId: "req-7",
      });
      expect(JSON.stringify(result)).not.toContain("hunter2");
      expect(deps.log.calls).toContainEqual(
        expect.objectContaining({ level: "error", obj: expect.objectContaining({ err: failure }) }),
      );
    });

    it("passes an ApiError's status, details and headers through", async () => {
      const result = await execute(
        getHealth,
        async () => {
          throw new ApiError("FB_RATE_LIMITED", "slow down", {
            headers: { "retry-after": "60" },
            details: [{ message: "(#613)", code: 613 }],
          });
        },
        request(),
        testDeps(),
      );
      expect(result).toEqual({
        status: 429,
        headers: { "retry-after": "60" },
        body: {
          success: false,
          statusCode: 429,
          code: "FB_RATE_LIMITED",
          error: "Too Many Requests",
          message: "slow down",
          requestId: "req-7",
          details: [{ message: "(#613)", code: 613 }],
        },
      });
    });
  });

  describe("idempotency", () => {
    function keyed(body: unknown = SEND, key = KEY): IncomingRequest {
      return request({ headers: { "idempotency-key": key }, body: json(body) });
    }

    it("runs the first call with a key and stores its result", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => ({
        status: 200,
        body: { message_id: "m_1" },
      }));
      const result = await execute(
        sendFacebookMessage,
        handler,
        keyed(),
        testDeps({}, { idempotency: store }),
      );
      expect(result).toEqual({ status: 200, body: { message_id: "m_1" } });
      expect(handler).toHaveBeenCalledTimes(1);
      expect(store.byKey(KEY)?.state).toBe("completed");
    });

    it("replays the stored result with idempotent-replayed: true and does not run the handler again", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => ({
        status: 200,
        body: { message_id: "m_1" },
        headers: { "x-extra": "1" },
      }));
      const deps = testDeps({}, { idempotency: store });
      await execute(sendFacebookMessage, handler, keyed(), deps);
      const replay = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(replay).toEqual({
        status: 200,
        body: { message_id: "m_1" },
        headers: { "x-extra": "1", "idempotent-replayed": "true" },
      });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("scopes a key to the caller's credential: another page token with the same key runs, and does not block", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = okHandler();
      const deps = testDeps({}, { idempotency: store });
      await execute(sendFacebookMessage, handler, keyed(SEND), deps);
      const other = await execute(
        sendFacebookMessage,
        handler,
        keyed({ ...SEND, pageToken: "EAAG-other" }),
        deps,
      );
      expect(other.headers?.["idempotent-replayed"]).toBeUndefined();
      expect(handler).toHaveBeenCalledTimes(2);
      // The owner still gets its own stored answer back.
      const replay = await execute(sendFacebookMessage, handler, keyed(SEND), deps);
      expect(replay.headers).toEqual({ "idempotent-replayed": "true" });
      expect(handler).toHaveBeenCalledTimes(2);
    });

    it("scopes a pass-through's key to its Authorization: another TPOS token never gets the first answer", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => ({
        status: 200,
        raw: "first caller's order",
        headers: {},
      }));
      const deps = testDeps({}, { idempotency: store });
      const post = (authorization: string | undefined) =>
        execute(
          tposRestPost,
          handler,
          request({
            params: { path: "v2.0/order" },
            headers: { "idempotency-key": KEY, ...(authorization === undefined ? {} : { authorization }) },
            body: { kind: "raw", value: rawBody("{}") },
          }),
          deps,
        );
      await post("Bearer token-of-a");
      for (const other of ["Bearer token-of-b", undefined]) {
        const result = await post(other);
        expect(result.headers?.["idempotent-replayed"], String(other)).toBeUndefined();
      }
      expect(handler).toHaveBeenCalledTimes(3);
      expect((await post("Bearer token-of-a")).headers?.["idempotent-replayed"]).toBe("true");
    });

    it("takes X-Idempotency-Key, which the shop's pages send, as the Idempotency-Key", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = okHandler();
      const deps = testDeps({}, { idempotency: store });
      const alias = () => request({ headers: { "x-idempotency-key": KEY }, body: json(SEND) });
      await execute(sendFacebookMessage, handler, alias(), deps);
      const replay = await execute(sendFacebookMessage, handler, alias(), deps);
      expect(replay.headers).toEqual({ "idempotent-replayed": "true" });
      expect(handler).toHaveBeenCalledTimes(1);
      // The standard header wins when both are sent.
      await execute(
        sendFacebookMessage,
        handler,
        request({ headers: { "idempotency-key": `${KEY}-2`, "x-idempotency-key": KEY }, body: json(SEND) }),
        deps,
      );
      expect(handler).toHaveBeenCalledTimes(2);
    });

    it.each([
      ["a reset after the request was sent", "reset", 502],
      ["a timeout", "timeout", 502],
    ] as const)(
      "stores %s as 502 OUTCOME_UNKNOWN and answers every retry so, never sending again",
      async (_what, kind, status) => {
        const store = new MemoryIdempotencyStore();
        const handler = vi.fn<AnyHandler<SharedDeps>>(async () => {
          throw upstreamError(new UpstreamFailure(kind, "Network connection lost."), "Facebook", 15_000);
        });
        const deps = testDeps({}, { idempotency: store });
        const first = await execute(sendFacebookMessage, handler, keyed(), deps);
        expect(first.status).toBe(status);
        expect(errorOf(first).code).toBe("OUTCOME_UNKNOWN");
        expect(errorOf(first).message).toMatch(/may have received the request/);
        const retry = await execute(sendFacebookMessage, handler, keyed(), deps);
        expect(errorOf(retry).code).toBe("OUTCOME_UNKNOWN");
        expect(retry.headers?.["idempotent-replayed"]).toBe("true");
        expect(handler).toHaveBeenCalledTimes(1);
      },
    );

    it("releases the key on a refused connection (nothing was sent), so the retry sends", async () => {
      const store = new MemoryIdempotencyStore();
      let calls = 0;
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => {
        calls += 1;
        if (calls === 1) {
          throw upstreamError(new UpstreamFailure("unreachable", "connect ECONNREFUSED"), "Facebook", 15_000);
        }
        return { status: 200, body: { message_id: "m_1" } };
      });
      const deps = testDeps({}, { idempotency: store });
      expect(errorOf(await execute(sendFacebookMessage, handler, keyed(), deps)).code).toBe(
        "UPSTREAM_UNREACHABLE",
      );
      expect((await execute(sendFacebookMessage, handler, keyed(), deps)).status).toBe(200);
      expect(handler).toHaveBeenCalledTimes(2);
    });

    it("treats the same JSON with its keys in another order as the same request", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = okHandler();
      const deps = testDeps({}, { idempotency: store });
      await execute(sendFacebookMessage, handler, keyed({ ...SEND }), deps);
      const reordered = Object.fromEntries(Object.entries(SEND).reverse());
      const replay = await execute(sendFacebookMessage, handler, keyed(reordered), deps);
      expect(replay.headers).toEqual({ "idempotent-replayed": "true" });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("answers 422 IDEMPOTENCY_KEY_REUSED for the same key with another body", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = okHandler();
      const deps = testDeps({}, { idempotency: store });
      await execute(sendFacebookMessage, handler, keyed(), deps);
      const other = await execute(sendFacebookMessage, handler, keyed({ ...SEND, message: "khác" }), deps);
      expect(other.status).toBe(422);
      expect(errorOf(other).code).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("answers 409 IDEMPOTENCY_KEY_IN_USE with Retry-After while the first call still runs", async () => {
      const store = new MemoryIdempotencyStore();
      let finish!: (result: AnyResult) => void;
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const handler = vi.fn<AnyHandler<SharedDeps>>(
        () =>
          new Promise<AnyResult>((resolve) => {
            finish = resolve;
            started();
          }),
      );
      const deps = testDeps({}, { idempotency: store });
      const first = execute(sendFacebookMessage, handler, keyed(), deps);
      await running;
      const second = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(second.status).toBe(409);
      expect(second.headers).toEqual({ "retry-after": "1" });
      expect(errorOf(second)).toMatchObject({
        code: "IDEMPOTENCY_KEY_IN_USE",
        message: "A request with this Idempotency-Key is still being processed.",
      });
      finish({ status: 200, body: { message_id: "m_1" } });
      await expect(first).resolves.toMatchObject({ status: 200 });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("says the outcome is unknown when the first call stopped without finishing", async () => {
      const store = new MemoryIdempotencyStore();
      let now = Date.UTC(2026, 10, 25, 8);
      const deps = testDeps({}, { idempotency: store, now: () => now });
      // The first call never finishes (its instance died mid-call, say).
      await new Promise<void>((running) => {
        void execute(
          sendFacebookMessage,
          () => {
            running();
            return new Promise<AnyResult>(() => {});
          },
          keyed(),
          deps,
        );
      });
      expect(store.byKey(KEY)?.state).toBe("in_flight");
      now += IDEMPOTENCY_LEASE_MS;
      const handler = okHandler();
      const retry = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(retry.status).toBe(409);
      expect(errorOf(retry)).toMatchObject({
        code: "IDEMPOTENCY_KEY_IN_USE",
        message: expect.stringContaining("outcome is unknown"),
      });
      expect(handler).not.toHaveBeenCalled();
    });

    it("releases the key when the handler provably sent nothing, so a retry runs", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi
        .fn<AnyHandler<SharedDeps>>()
        .mockRejectedValueOnce(
          new ApiError("UPSTREAM_UNREACHABLE", "Facebook could not be reached.", { nothingSent: true }),
        )
        .mockResolvedValueOnce({ status: 200, body: { message_id: "m_2" } });
      const deps = testDeps({}, { idempotency: store });
      const first = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(first.status).toBe(502);
      expect(store.rows.has(KEY)).toBe(false);
      const retry = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(retry).toEqual({ status: 200, body: { message_id: "m_2" } });
      expect(handler).toHaveBeenCalledTimes(2);
    });

    it("hands a keyed handler the key's progress, and the retry after a definite refusal what it recorded", async () => {
      const store = new MemoryIdempotencyStore();
      const seen: unknown[] = [];
      const handler = vi.fn<AnyHandler<SharedDeps>>(async (_input, deps) => {
        seen.push(deps.progress?.get("image:0"));
        if (deps.progress?.get("image:0") === undefined) {
          await deps.progress?.record("image:0", { message_id: "m_1" });
          throw new ApiError("FB_RATE_LIMITED", "slow down", { nothingSent: true });
        }
        return { status: 200, body: { message_ids: ["m_1", "m_2"] } };
      });
      const deps = testDeps({}, { idempotency: store });
      expect((await execute(sendFacebookMessage, handler, keyed(), deps)).status).toBe(429);
      expect(store.byKey(KEY)?.state).toBe("released");
      // Another request cannot take a key that holds this request's progress.
      expect(
        (await execute(sendFacebookMessage, handler, keyed({ ...SEND, message: "khác" }), deps)).status,
      ).toBe(422);
      const retry = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(retry).toEqual({ status: 200, body: { message_ids: ["m_1", "m_2"] } });
      expect(seen).toEqual([undefined, { message_id: "m_1" }]);
      await execute(sendFacebookMessage, handler, request({ body: json(SEND) }), deps);
      expect(handler.mock.calls[2]?.[1].progress, "no progress without a key").toBeUndefined();
    });

    it("stores an error that may have reached the upstream and replays it", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => {
        throw new ApiError("FB_UPSTREAM_ERROR", "Facebook could not send the message right now", {
          details: [{ message: "unexpected", code: 2 }],
        });
      });
      const deps = testDeps({}, { idempotency: store });
      const first = await execute(sendFacebookMessage, handler, keyed(), deps);
      const replay = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(first.status).toBe(502);
      expect(replay.status).toBe(502);
      expect(replay.headers).toEqual({ "idempotent-replayed": "true" });
      expect(errorOf(replay)).toMatchObject({
        code: "FB_UPSTREAM_ERROR",
        details: [{ message: "unexpected", code: 2 }],
      });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("stores an unexpected failure as 500 INTERNAL and replays it without the cause", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => {
        throw new Error("secret cause");
      });
      const deps = testDeps({}, { idempotency: store });
      await execute(sendFacebookMessage, handler, keyed(), deps);
      const replay = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(replay.status).toBe(500);
      expect(errorOf(replay).code).toBe("INTERNAL");
      expect(JSON.stringify(replay)).not.toContain("secret cause");
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("answers 503 IDEMPOTENCY_STORE_UNAVAILABLE before the handler runs when there is no store", async () => {
      const handler = okHandler();
      const result = await execute(
        sendFacebookMessage,
        handler,
        keyed(),
        testDeps({}, { idempotency: null }),
      );
      expect(result.status).toBe(503);
      expect(result.headers).toEqual({ "retry-after": "1" });
      expect(errorOf(result).code).toBe("IDEMPOTENCY_STORE_UNAVAILABLE");
      expect(handler).not.toHaveBeenCalled();
    });

    it("answers 503 when the store throws, and logs it", async () => {
      const handler = okHandler();
      const broken: IdempotencyStore = {
        begin: async () => {
          throw new Error("connection refused");
        },
        complete: async () => {},
        saveProgress: async () => {},
        release: async () => {},
      };
      const deps = testDeps({}, { idempotency: broken });
      const result = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(result.status).toBe(503);
      expect(errorOf(result).code).toBe("IDEMPOTENCY_STORE_UNAVAILABLE");
      expect(handler).not.toHaveBeenCalled();
      expect(deps.log.calls.some((call) => call.level === "warn")).toBe(true);
    });

    it("still answers a call that ran when its result cannot be stored; a retry then gets 409, not a rerun", async () => {
      const store = new MemoryIdempotencyStore();
      const complete = vi.spyOn(store, "complete").mockRejectedValueOnce(new Error("connection lost"));
      const handler = okHandler();
      const deps = testDeps({}, { idempotency: store });
      const result = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(result).toEqual({ status: 200, body: { ok: true } });
      expect(complete).toHaveBeenCalledTimes(1);
      const retry = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(retry.status).toBe(409);
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("runs a call without a key directly, even without a store", async () => {
      const handler = okHandler();
      const result = await execute(sendFacebookMessage, handler, request({ body: json(SEND) }), testDeps());
      expect(result.status).toBe(200);
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("ignores Idempotency-Key on an operation that does not take one", async () => {
      const handler = okHandler();
      const result = await execute(
        createTposToken,
        handler,
        request({
          headers: { "idempotency-key": KEY },
          body: json({ grant_type: "password", username: "u", password: "p" }),
        }),
        testDeps(),
      );
      expect(result.status).toBe(200);
    });

    it("reads a keyed raw body once, hands the bytes to the handler and replays a raw result", async () => {
      const store = new MemoryIdempotencyStore();
      const bytes = new TextEncoder().encode('{"Id":7}');
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => ({
        status: 201,
        raw: bytes,
        headers: { "content-type": "application/json", "content-length": "8" },
      }));
      const deps = testDeps({}, { idempotency: store });
      const raw = (text: string): IncomingRequest =>
        request({
          params: { path: "v2.0/fastsaleorder" },
          headers: { "idempotency-key": KEY, "content-type": "application/json" },
          body: { kind: "raw", value: rawBody(text) },
        });
      const first = await execute(tposRestPost, handler, raw('{"PartnerId":1}'), deps);
      expect(first).toMatchObject({ status: 201 });
      expect(bodyText(handler.mock.calls[0]?.[0].body as Uint8Array)).toBe('{"PartnerId":1}');

      const replay = await execute(tposRestPost, handler, raw('{"PartnerId":1}'), deps);
      expect(replay.status).toBe(201);
      expect(replay.headers).toEqual({ "content-type": "application/json", "idempotent-replayed": "true" });
      expect(bodyText((replay as { raw: Uint8Array }).raw)).toBe('{"Id":7}');
      expect(handler).toHaveBeenCalledTimes(1);

      const other = await execute(tposRestPost, handler, raw('{"PartnerId":2}'), deps);
      expect(other.status).toBe(422);
    });

    it("keeps a RawResult's content type for the replay", async () => {
      const store = new MemoryIdempotencyStore();
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => ({
        status: 200,
        raw: "<svg/>",
        contentType: "image/svg+xml",
      }));
      const deps = testDeps({}, { idempotency: store });
      await execute(sendFacebookMessage, handler, keyed(), deps);
      const replay = await execute(sendFacebookMessage, handler, keyed(), deps);
      expect(replay.headers).toEqual({ "content-type": "image/svg+xml", "idempotent-replayed": "true" });
      expect(bodyText((replay as { raw: Uint8Array }).raw)).toBe("<svg/>");
    });

    // BUG (upstream.ts fetchGuarded; see upstream.test.ts): the refused redirect hop is reported
    // with nothingSent: true although the POST reached the first host, so the key is released and
    // the retry POSTs again.
    it("never sends a keyed proxy POST twice when the upstream's redirect is refused", async () => {
      const upstream = new FakeUpstream().on("https://pancake.vn/api/orders", {
        status: 307,
        headers: { location: "http://127.0.0.1/orders" },
      });
      const deps = testDeps({}, { idempotency: new MemoryIdempotencyStore(), upstream });
      const keyedPost = request({
        query: { url: "https://pancake.vn/api/orders" },
        headers: { "idempotency-key": KEY, "content-type": "application/json" },
        body: { kind: "raw", value: rawBody('{"order":1}') },
      });
      const handler = proxy.post as unknown as AnyHandler<SharedDeps>;
      const first = await execute(proxyPost, handler, keyedPost, deps);
      expect(first.status).toBe(403);
      await execute(proxyPost, handler, keyedPost, deps);
      expect(upstream.requests.filter((sent) => sent.method === "POST")).toHaveLength(1);
    });

    // A keyed call whose streamed body is over REPLAY_MAX_BYTES still reaches its caller in full;
    // the key then records that the call ran but cannot be replayed.
    it("answers a keyed pass-through's success even when its body is too large to keep for replay", async () => {
      const fake = new FakeUpstream();
      const exportStream = { stream: "a 2 MiB xlsx export" } as unknown as RawBody;
      let deferred: Promise<unknown> | undefined;
      const upstream: Upstream = {
        request: (upstreamRequest) => fake.request(upstreamRequest),
        readRaw: (body, maxBytes) => fake.readRaw(body, maxBytes),
        tee: (body) => ({ body, captured: Promise.resolve(body === exportStream ? null : new Uint8Array()) }),
      };
      const handler = vi.fn<AnyHandler<SharedDeps>>(async () => ({
        status: 200,
        raw: exportStream,
        headers: { "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
      }));
      const store = new MemoryIdempotencyStore();
      const deps = {
        ...testDeps({}, { idempotency: store, upstream }),
        defer: (work: Promise<unknown>) => {
          deferred = work;
        },
      };
      const keyed = request({
        params: { path: "v2.0/saleonline/exportfile" },
        headers: { "idempotency-key": KEY },
        body: { kind: "raw", value: rawBody("{}") },
      });
      const result = await execute(tposRestPost, handler, keyed, deps);
      expect(handler).toHaveBeenCalledTimes(1);
      expect(result.status).toBe(200);
      expect("raw" in result && result.raw).toBe(exportStream);
      await deferred;
      const retry = await execute(tposRestPost, handler, keyed, deps);
      expect(handler).toHaveBeenCalledTimes(1);
      expect(retry.status).toBe(409);
      expect("body" in retry && retry.body).toMatchObject({ code: "IDEMPOTENCY_KEY_IN_USE" });
      expect(JSON.stringify("body" in retry && retry.body)).toContain("too large to keep");
    });

    it("answers 413 PAYLOAD_TOO_LARGE when a keyed raw body is over the limit", async () => {
      const upstream: Upstream = {
        request: async () => {
          throw new Error("unused");
        },
        readRaw: async (_body: RawBody, maxBytes: number) => {
          expect(maxBytes).toBe(RAW_BODY_LIMIT);
          throw new Error("too large");
        },
        tee: () => {
          throw new Error("unused");
        },
      };
      const handler = okHandler();
      const result = await execute(
        tposRestPost,
        handler,
        request({
          params: { path: "v2.0/x" },
          headers: { "idempotency-key": KEY },
          body: { kind: "raw", value: rawBody("x") },
        }),
        testDeps({}, { idempotency: new MemoryIdempotencyStore(), upstream }),
      );
      expect(result.status).toBe(413);
      expect(errorOf(result).code).toBe("PAYLOAD_TOO_LARGE");
      expect(handler).not.toHaveBeenCalled();
    });
  });
});

describe("errorResult", () => {
  const schemas = openapi.components.schemas;
  const errorKeys = Object.keys(schemas.Error.properties);
  const detailKeys = Object.keys(schemas.ErrorDetail.properties);

  /** Checks a body against the spec's Error schema: required and known keys, types, the code enum. */
  function expectErrorShape(body: Record<string, unknown>): void {
    for (const key of schemas.Error.required) {
      expect(body, key).toHaveProperty(key);
    }
    for (const key of Object.keys(body)) {
      expect(errorKeys, key).toContain(key);
    }
    expect(Number.isInteger(body.statusCode)).toBe(true);
    expect(body.statusCode as number).toBeGreaterThanOrEqual(400);
    expect(body.statusCode as number).toBeLessThanOrEqual(599);
    expect(ERROR_CODE_VALUES).toContain(body.code);
    expect(typeof body.error).toBe("string");
    expect(typeof body.message).toBe("string");
    for (const detail of (body.details as Record<string, unknown>[] | undefined) ?? []) {
      expect(typeof detail.message).toBe("string");
      for (const key of Object.keys(detail)) {
        expect(detailKeys, key).toContain(key);
      }
    }
  }

  it.each([
    [
      "an ApiError with details",
      new ApiError("VALIDATION_FAILED", "x", { details: [{ path: ["body"], message: "m" }] }),
    ],
    [
      "a Graph error",
      new ApiError("FB_OUTSIDE_WINDOW", "x", { details: [{ message: "m", code: 10, subcode: 2018278 }] }),
    ],
    ["an unknown error", new RangeError("boom")],
    ["a thrown string", "boom"],
    ["a TPOS refusal", new ApiError("TPOS_TOKEN_REJECTED", "x")],
  ])("gives a body in the Error schema's shape for %s", (_what, error) => {
    const result = errorResult(error, { log: recordingLogger(), requestId: "req-9" });
    expect("body" in result).toBe(true);
    const body = (result as { body: Record<string, unknown> }).body;
    expectErrorShape(body);
    expect(body.requestId).toBe("req-9");
    expect(result.status).toBe(body.statusCode);
  });

  it("logs 5xx at error level and 4xx at info level", () => {
    const log = recordingLogger();
    errorResult(new ApiError("UPSTREAM_ERROR", "x"), { log, requestId: "r" });
    errorResult(new ApiError("CUSTOMER_NOT_FOUND", "y"), { log, requestId: "r" });
    expect(log.calls.map((call) => call.level)).toEqual(["error", "info"]);
  });
});

describe("notServedResult", () => {
  it("answers 501 NOT_SERVED_BY_RUNTIME naming the runtimes that serve the operation", () => {
    const result = notServedResult(listCustomers, {
      log: recordingLogger(),
      requestId: "r",
      runtime: "edge",
    });
    expect(result.status).toBe(501);
    expect(errorOf(result)).toMatchObject({
      code: "NOT_SERVED_BY_RUNTIME",
      message: "listCustomers is not served by the edge runtime; send it to a Node server (runtimes: node).",
      details: [{ message: "served by: node", code: "listCustomers" }],
    });
  });
});

describe("numberProblems", () => {
  const problems = (value: unknown) => {
    const found: { path?: string[]; message: string }[] = [];
    numberProblems("body", value, [], found);
    return found;
  };

  it("finds nothing in ordinary values, safe integers and their bounds included", () => {
    expect(
      problems({ a: 1, b: -2.5, c: [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER], d: "1e400", e: null }),
    ).toEqual([]);
  });

  it.each([
    ["Infinity", Number.POSITIVE_INFINITY, "must be a finite number"],
    ["-Infinity", Number.NEGATIVE_INFINITY, "must be a finite number"],
    ["NaN", Number.NaN, "must be a finite number"],
    ["2^53", 2 ** 53, `must be a whole number from ${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`],
    [
      "-1e300",
      -1e300,
      `must be a whole number from ${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`,
    ],
  ])("names %s wherever it sits, with its path", (_what, bad, message) => {
    expect(problems(bad)).toEqual([{ path: ["body"], message }]);
    expect(problems({ order: { lines: [1, bad] } })).toEqual([
      { path: ["body", "order", "lines", "1"], message },
    ]);
  });

  it("reports every bad number, not only the first", () => {
    expect(problems({ a: Number.NaN, b: [2 ** 60, 3] }).map((p) => p.path?.join("."))).toEqual([
      "body.a",
      "body.b.0",
    ]);
  });
});

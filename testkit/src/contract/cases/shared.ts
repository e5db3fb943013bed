/**
 * Case factories for what many operations share: the edge's 501 for Node-only operations, the
 * refusals of a JSON body, oversized pass-through bodies, API keys, and Idempotency-Key replays.
 */
import { JSON_BODY_LIMIT, RAW_BODY_LIMIT } from "@n2store/core";
import type { OperationId } from "@n2store/generated";
import { expect } from "vitest";
import type { AllFakes, FakeHandle, FaultOptions } from "../../fakes/index.js";
import { API_KEY } from "../../servers/index.js";
import type { CallInit, CaseContext, CaseKind, ContractCase } from "../context.js";
import { upstreamMark, upstreamMoved } from "../context.js";

/** A request a case factory sends: built per run, so it can use unique values and tokens. */
export type RequestFactory = (
  ctx: CaseContext,
) => Promise<{ path: string; init?: CallInit }> | { path: string; init?: CallInit };

/** A count that must not change when a request is refused (rows, messages sent, upstream calls). */
export type SideEffect = (ctx: CaseContext) => number | Promise<number>;

/** Shorthand for one case. */
export function contractCase(
  operationId: OperationId,
  kind: CaseKind,
  name: string,
  run: (ctx: CaseContext) => Promise<void>,
  runtimes?: ContractCase["runtimes"],
): ContractCase {
  return { operationId, kind, name, run, ...(runtimes === undefined ? {} : { runtimes }) };
}

/**
 * A case factory over (operationId, method, request), the shape most shared cases take: every case
 * it makes has `kind` and `name` and runs `check` on a freshly built request.
 */
function requestCase(
  kind: CaseKind,
  name: string,
  check: (
    ctx: CaseContext,
    method: string,
    request: { path: string; init?: CallInit },
    operationId: OperationId,
  ) => Promise<void>,
): (operationId: OperationId, method: string, request: RequestFactory) => ContractCase {
  return (operationId, method, request) =>
    contractCase(operationId, kind, name, async (ctx) => check(ctx, method, await request(ctx), operationId));
}

/** A pass-through request's init with `body` sent as application/octet-stream. */
function octetStream(init: CallInit | undefined, body: NonNullable<CallInit["body"]>): CallInit {
  return { ...init, headers: { ...init?.headers, "content-type": "application/octet-stream" }, body };
}

/**
 * The Worker's answer to a Node-only operation: 501 NOT_SERVED_BY_RUNTIME in the Error shape, naming
 * the operation and where it is served, even for a request that is valid in every other way.
 */
export const notServedOnEdge = requestCase(
  "not-served",
  "answers 501 NOT_SERVED_BY_RUNTIME on the edge, naming the operation and the Node server",
  async (ctx, method, sent, operationId) => {
    const body = await expectRefused(ctx, method, sent, 501, "NOT_SERVED_BY_RUNTIME", NO_UPSTREAM);
    expect(body.message).toContain(operationId);
    expect(body.details).toEqual([{ message: "served by: node", code: operationId }]);
  },
);

/** Upstream failures every proxied operation answers alike, and that answer. */
const BROKEN_UPSTREAM = {
  reset: { fault: { mode: "reset" }, code: "UPSTREAM_UNREACHABLE", says: "drops the connection" },
  garbage: { fault: { mode: "garbage" }, code: "UPSTREAM_BAD_RESPONSE", says: "answers HTML" },
} as const;

/** The upstream an operation reaches: its name in case titles, its fake, and its path there. */
export interface UpstreamOf {
  readonly name: string;
  readonly fake: (fakes: AllFakes) => FakeHandle;
  readonly match?: FaultOptions["match"];
}

/**
 * The upstream fails once (drops the connection, or answers HTML where JSON is due): the gateway
 * answers 502 in the Error shape with the code that says which, instead of passing garbage on.
 */
export function brokenUpstream(
  operationId: OperationId,
  method: string,
  how: keyof typeof BROKEN_UPSTREAM,
  upstream: UpstreamOf,
  request: RequestFactory,
): ContractCase {
  const { fault, code, says } = BROKEN_UPSTREAM[how];
  return contractCase(
    operationId,
    "negative",
    `answers 502 ${code} when ${upstream.name} ${says}`,
    async (ctx) => {
      const { path, init } = await request(ctx);
      const match = upstream.match === undefined ? {} : { match: upstream.match };
      upstream.fake(ctx.fakes).fault.set(fault, { times: 1, ...match });
      await ctx.expectError(await ctx.call(method, path, init), 502, code);
    },
  );
}

/**
 * Sends `path?query` for each [query, field] pair and asserts each is refused with 400
 * VALIDATION_FAILED, naming the query parameter `field` in its details.
 */
export async function expectQueryRefused(
  ctx: CaseContext,
  path: string,
  pairs: readonly (readonly [query: string, field: string])[],
  init?: CallInit,
): Promise<void> {
  for (const [query, field] of pairs) {
    const error = await ctx.expectError(
      await ctx.call("GET", `${path}?${query}`, init),
      400,
      "VALIDATION_FAILED",
    );
    expect(
      error.details?.map((d) => d.path),
      query,
    ).toContainEqual(["query", field]);
  }
}

/** `untouched` for a request that must be refused before any upstream is reached. */
export const NO_UPSTREAM = "no upstream is reached";

/**
 * Sends a request and asserts it is refused with `status code`, changing nothing: neither the count
 * `untouched` gives, nor (with NO_UPSTREAM) any upstream's recorded requests.
 */
export async function expectRefused(
  ctx: CaseContext,
  method: string,
  request: { path: string; init?: CallInit },
  status: number,
  code: Parameters<CaseContext["expectError"]>[2],
  untouched?: SideEffect | typeof NO_UPSTREAM,
): Promise<Awaited<ReturnType<CaseContext["expectError"]>>> {
  const before = typeof untouched === "function" ? await untouched(ctx) : 0;
  const mark = upstreamMark(ctx.fakes);
  const response = await ctx.call(method, request.path, request.init);
  const body = await ctx.expectError(response, status, code);
  if (untouched === NO_UPSTREAM) {
    expect(upstreamMoved(ctx.fakes, mark), NO_UPSTREAM).toBe(false);
  } else if (untouched !== undefined) {
    expect(await untouched(ctx), "a refused request changes nothing").toBe(before);
  }
  return body;
}

/** What `jsonBodyNegatives` needs to know about an operation with a JSON body. */
export interface JsonBodySpec {
  readonly operationId: OperationId;
  readonly method: string;
  /** Path and headers (keys, tokens) of a request that would succeed with `valid`. */
  readonly request: (ctx: CaseContext) => Promise<{ path: string; headers?: Record<string, string> }>;
  /** A valid body. */
  readonly valid: (ctx: CaseContext) => Record<string, unknown>;
  /** A required field to leave out. */
  readonly required: string;
  /** A field and a value of the wrong type for it. */
  readonly wrongType: readonly [string, unknown];
  /** Whether the body schema refuses unknown fields (additionalProperties: false). */
  readonly closed: boolean;
  /** What must not change when the body is refused. */
  readonly untouched: SideEffect;
}

function pad(body: Record<string, unknown>, bytes: number): string {
  const text = JSON.stringify(body);
  // Whitespace keeps the JSON valid: only its size is wrong.
  return `${text.slice(0, -1)}${" ".repeat(Math.max(0, bytes - text.length))}}`;
}

/**
 * A pass-through answer carries `nosniff` and a sandboxing CSP: HTML an upstream returns (an error
 * page, a printed bill opened in a tab) cannot run scripts as a page of the gateway's origin.
 */
export const untrustedContentCase = requestCase(
  "happy",
  "marks the upstream's answer nosniff with a sandboxing CSP, so its HTML cannot run on the gateway's origin",
  async (ctx, method, { path, init }) => {
    const response = await ctx.call(method, path, init);
    await response.arrayBuffer();
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("content-security-policy")).toMatch(/^sandbox\b/);
  },
);

/**
 * The refusals every JSON-bodied operation makes, in the order both runtimes check them: a body over
 * 1 MiB (413), a media type it does not take (415), malformed JSON (400 MALFORMED_BODY), no body, a
 * missing or wrong-typed field and (for closed schemas) an unknown one (400 VALIDATION_FAILED).
 */
export function jsonBodyNegatives(spec: JsonBodySpec): ContractCase[] {
  const { operationId, method } = spec;
  const refuse = (
    name: string,
    status: number,
    code: Parameters<CaseContext["expectError"]>[2],
    body: (ctx: CaseContext) => { body?: string; contentType?: string },
    detail?: readonly string[],
  ): ContractCase =>
    contractCase(operationId, "negative", name, async (ctx) => {
      const { path, headers } = await spec.request(ctx);
      const sent = body(ctx);
      const error = await expectRefused(
        ctx,
        method,
        {
          path,
          init: {
            headers: {
              ...headers,
              ...(sent.contentType === undefined ? {} : { "content-type": sent.contentType }),
            },
            ...(sent.body === undefined ? {} : { body: sent.body }),
          },
        },
        status,
        code,
        spec.untouched,
      );
      if (detail !== undefined) {
        expect(error.details?.map((d) => d.path)).toContainEqual(detail);
      }
    });
  const json = "application/json";
  const cases = [
    refuse("refuses malformed JSON with 400 MALFORMED_BODY", 400, "MALFORMED_BODY", (ctx) => ({
      body: JSON.stringify(spec.valid(ctx)).slice(0, -1),
      contentType: json,
    })),
    refuse("refuses a request without a body with 400 VALIDATION_FAILED", 400, "VALIDATION_FAILED", () => ({
      contentType: json,
    })),
    refuse(
      `refuses a body without ${spec.required} with 400 VALIDATION_FAILED naming the field`,
      400,
      "VALIDATION_FAILED",
      (ctx) => {
        const { [spec.required]: _left, ...rest } = spec.valid(ctx);
        return { body: JSON.stringify(rest), contentType: json };
      },
      ["body", spec.required],
    ),
    refuse(
      `refuses a ${spec.wrongType[0]} of the wrong type with 400 VALIDATION_FAILED naming the field`,
      400,
      "VALIDATION_FAILED",
      (ctx) => ({
        body: JSON.stringify({ ...spec.valid(ctx), [spec.wrongType[0]]: spec.wrongType[1] }),
        contentType: json,
      }),
      ["body", spec.wrongType[0]],
    ),
    refuse(
      "refuses a body nested 100 000 levels deep with 400 VALIDATION_FAILED, not a stack overflow",
      400,
      "VALIDATION_FAILED",
      (ctx) => {
        const valid = JSON.stringify(spec.valid(ctx));
        // A valid body with one more field holding 100 000 nested arrays (200 kB, under the size limit).
        const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
        return { body: `${valid.slice(0, -1)},"deep":${deep}}`, contentType: json };
      },
      ["body"],
    ),
    refuse("refuses a body over 1 MiB with 413 PAYLOAD_TOO_LARGE", 413, "PAYLOAD_TOO_LARGE", (ctx) => ({
      body: pad(spec.valid(ctx), JSON_BODY_LIMIT + 16),
      contentType: json,
    })),
    refuse(
      "refuses a text/plain body with 415 UNSUPPORTED_MEDIA_TYPE",
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      (ctx) => ({
        body: JSON.stringify(spec.valid(ctx)),
        contentType: "text/plain",
      }),
    ),
  ];
  if (spec.closed) {
    cases.push(
      refuse(
        "refuses an unknown field with 400 VALIDATION_FAILED naming it",
        400,
        "VALIDATION_FAILED",
        (ctx) => ({ body: JSON.stringify({ ...spec.valid(ctx), surprise: true }), contentType: json }),
        ["body", "surprise"],
      ),
    );
  }
  return cases;
}

let overLimit: Uint8Array | undefined;

/** A pass-through body one byte over RAW_BODY_LIMIT (allocated once). */
function overRawLimit(): Uint8Array {
  overLimit ??= new Uint8Array(RAW_BODY_LIMIT + 1).fill(0x61);
  return overLimit;
}

/** A pass-through body over 20 MiB: 413 PAYLOAD_TOO_LARGE before any upstream is reached. */
export const rawBodyTooLarge = requestCase(
  "negative",
  "refuses a body over 20 MiB with 413 PAYLOAD_TOO_LARGE before reaching the upstream",
  async (ctx, method, { path, init }) => {
    await expectRefused(
      ctx,
      method,
      { path, init: octetStream(init, overRawLimit()) },
      413,
      "PAYLOAD_TOO_LARGE",
      NO_UPSTREAM,
    );
  },
);

/**
 * A chunked pass-through body (no Content-Length) that turns out over 20 MiB: 413 PAYLOAD_TOO_LARGE,
 * no upstream ever receives it whole, and the server goes on answering.
 */
export const chunkedBodyTooLarge = requestCase(
  "negative",
  "refuses a chunked body that grows past 20 MiB with 413, never delivering it cut short",
  async (ctx, method, { path, init }) => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x62);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > RAW_BODY_LIMIT) {
          controller.close();
          return;
        }
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    await expectRefused(
      ctx,
      method,
      { path, init: octetStream(init, body) },
      413,
      "PAYLOAD_TOO_LARGE",
      NO_UPSTREAM,
    );
    expect((await ctx.call("GET", "/health")).status, "the server answers the next request").toBe(200);
  },
);

/** An Idempotency-Key the spec does not allow (under 8 characters): 400 before anything is sent. */
export const badIdempotencyKey = requestCase(
  "negative",
  "refuses an Idempotency-Key shorter than 8 characters with 400 VALIDATION_FAILED",
  async (ctx, method, { path, init }) => {
    const error = await expectRefused(
      ctx,
      method,
      { path, init: { ...init, headers: { ...init?.headers, "idempotency-key": "short" } } },
      400,
      "VALIDATION_FAILED",
      NO_UPSTREAM,
    );
    expect(error.details?.map((d) => d.path)).toContainEqual(["headers", "idempotency-key"]);
  },
);

/** A missing API key and a wrong one (as x-api-key and as a Bearer token): 401 UNAUTHORIZED. */
export function apiKeyNegatives(
  operationId: OperationId,
  method: string,
  request: RequestFactory,
  untouched?: SideEffect,
): ContractCase[] {
  /** The request with `headers` as its only credentials. */
  const withCredentials = async (ctx: CaseContext, headers: Record<string, string>) => {
    const { path, init } = await request(ctx);
    const rest = Object.fromEntries(
      Object.entries(init?.headers ?? {}).filter(
        ([name]) => name !== "x-api-key" && name !== "authorization",
      ),
    );
    return { path, init: { ...init, headers: { ...rest, ...headers } } };
  };
  const send = (headers: Record<string, string>) => async (ctx: CaseContext) => {
    const error = await expectRefused(
      ctx,
      method,
      await withCredentials(ctx, headers),
      401,
      "UNAUTHORIZED",
      untouched,
    );
    expect(JSON.stringify(error)).not.toContain(API_KEY);
  };
  return [
    contractCase(
      operationId,
      "negative",
      "refuses a request without an API key with 401 UNAUTHORIZED",
      send({}),
    ),
    contractCase(
      operationId,
      "negative",
      "refuses a wrong API key with 401 UNAUTHORIZED",
      send({ "x-api-key": `${API_KEY}-wrong` }),
    ),
    contractCase(
      operationId,
      "negative",
      "refuses a wrong Bearer key with 401 UNAUTHORIZED",
      send({ authorization: "Bearer not-the-key-0000" }),
    ),
    failureLimitCase(operationId, method, (ctx, key) =>
      withCredentials(ctx, { "x-api-key": key ?? `${API_KEY}-guess` }),
    ),
  ];
}

/**
 * The API-key cases of an operation that needs a key: the key accepted as a Bearer token, and a
 * missing or wrong key refused (apiKeyNegatives). `request` sends the right key.
 */
export function apiKeyCases(
  operationId: OperationId,
  method: string,
  request: RequestFactory,
  untouched?: SideEffect,
): ContractCase[] {
  return [
    bearerKeyCase(operationId, method, request),
    ...apiKeyNegatives(operationId, method, request, untouched),
  ];
}

/** Failed credential checks a client may make in a minute before it must wait (README: rate limits). */
const FAILURES_PER_MINUTE = 20;

/**
 * Guessing is slowed: a client (an address) that failed FAILURES_PER_MINUTE credential checks in a
 * minute is refused with 429 TOO_MANY_FAILURES and Retry-After, even with the right credential,
 * while another client is not affected. `request(ctx, undefined)` is a wrong credential,
 * `request(ctx, API_KEY)` the right one.
 */
export function failureLimitCase(
  operationId: OperationId,
  method: string,
  request: (ctx: CaseContext, key: string | undefined) => Promise<{ path: string; init?: CallInit }>,
  wrongStatus = 401,
  wrongCode: Parameters<CaseContext["expectError"]>[2] = "UNAUTHORIZED",
): ContractCase {
  return contractCase(
    operationId,
    "negative",
    `answers 429 TOO_MANY_FAILURES with Retry-After after ${FAILURES_PER_MINUTE} failed credentials in a minute from one client, even to the right one; other clients go on`,
    async (ctx) => {
      // Prepared first: preparing may itself call the gateway (creating a customer to delete).
      const right = await request(ctx, API_KEY);
      for (let attempt = 0; attempt < FAILURES_PER_MINUTE; attempt++) {
        const { path, init } = await request(ctx, undefined);
        await ctx.expectError(await ctx.call(method, path, init), wrongStatus, wrongCode);
      }
      const blocked = await ctx.call(method, right.path, right.init);
      await ctx.expectError(blocked, 429, "TOO_MANY_FAILURES");
      const wait = Number(blocked.headers.get("retry-after"));
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(60);
      // Another client, with the right credential, is answered as usual.
      const other = `198.19.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`;
      const response = await ctx.call(method, right.path, {
        ...right.init,
        headers: { ...right.init?.headers, "x-forwarded-for": other, "cf-connecting-ip": other },
      });
      expect(response.status, "another client is not limited").toBeLessThan(400);
      await response.arrayBuffer();
    },
  );
}

/** Accepts the API key as `Authorization: Bearer <key>` as well as `x-api-key`. */
export const bearerKeyCase = requestCase(
  "happy",
  "accepts the API key as Authorization: Bearer",
  async (ctx, method, { path, init }) => {
    const rest = Object.fromEntries(
      Object.entries(init?.headers ?? {}).filter(([name]) => name !== "x-api-key"),
    );
    const response = await ctx.call(method, path, {
      ...init,
      headers: { ...rest, authorization: `Bearer ${API_KEY}` },
    });
    expect(response.status).toBeLessThan(300);
  },
);

/**
 * The Idempotency-Key contract of a non-idempotent operation. With a reachable store: a repeat with
 * the same key and request replays the first answer (`Idempotent-Replayed: true`) and the side effect
 * happens once; the same key with another request is 422. Without one (the edge with no database),
 * a keyed call is refused with 503 IDEMPOTENCY_STORE_UNAVAILABLE before anything is sent.
 */
export function idempotencyCases(
  operationId: OperationId,
  method: string,
  request: (ctx: CaseContext, variant: number) => Promise<{ path: string; init?: CallInit }>,
  sideEffect: SideEffect,
): ContractCase[] {
  return [
    contractCase(
      operationId,
      "happy",
      "replays a repeated Idempotency-Key without running again (503 before sending when the store is unreachable)",
      async (ctx) => {
        const key = ctx.unique("idem");
        const before = await sideEffect(ctx);
        const send = async () => {
          const { path, init } = await request(ctx, 0);
          return ctx.call(method, path, { ...init, headers: { ...init?.headers, "idempotency-key": key } });
        };
        const first = await send();
        if (!ctx.idempotencyStore) {
          await ctx.expectError(first, 503, "IDEMPOTENCY_STORE_UNAVAILABLE");
          expect(first.headers.get("retry-after")).not.toBeNull();
          expect(await sideEffect(ctx), "nothing is sent").toBe(before);
          return;
        }
        expect(first.status, await first.clone().text()).toBeLessThan(500);
        const firstBody = await first.text();
        // A streamed answer is stored once it has gone out, so a replay sent at once may still find the
        // key in flight (409 IDEMPOTENCY_KEY_IN_USE with Retry-After): ask again, as the SDK does.
        let second = await send();
        for (let attempt = 0; second.status === 409 && attempt < 50; attempt++) {
          await ctx.expectError(second, 409, "IDEMPOTENCY_KEY_IN_USE");
          await new Promise((resolve) => setTimeout(resolve, 100));
          second = await send();
        }
        expect(second.status).toBe(first.status);
        expect(second.headers.get("idempotent-replayed")).toBe("true");
        expect(second.headers.get("content-type")).toBe(first.headers.get("content-type"));
        // Byte for byte, JSON included: the store keeps the text it was given, in its key order.
        expect(await second.text()).toBe(firstBody);
        expect(await sideEffect(ctx), "the call ran once").toBe(before + 1);
      },
    ),
    contractCase(
      operationId,
      "negative",
      "refuses an Idempotency-Key reused with another request with 422 IDEMPOTENCY_KEY_REUSED",
      async (ctx) => {
        const key = ctx.unique("idem");
        const send = async (variant: number) => {
          const { path, init } = await request(ctx, variant);
          return ctx.call(method, path, { ...init, headers: { ...init?.headers, "idempotency-key": key } });
        };
        const first = await send(0);
        if (!ctx.idempotencyStore) {
          await ctx.expectError(first, 503, "IDEMPOTENCY_STORE_UNAVAILABLE");
          return;
        }
        expect(first.status).toBeLessThan(500);
        const before = await sideEffect(ctx);
        await ctx.expectError(await send(1), 422, "IDEMPOTENCY_KEY_REUSED");
        expect(await sideEffect(ctx), "the other request does not run").toBe(before);
      },
    ),
  ];
}

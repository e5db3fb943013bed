/**
 * What a contract case gets: the target (its fetch validated against the spec on EVERY response),
 * the shared fakes, and small helpers for requests and error assertions.
 */
import type { ErrorBody, ErrorCode, OperationId, Runtime } from "@n2store/generated";
import { expect } from "vitest";
import WebSocket from "ws";
import type { AllFakes, FakeHandle } from "../fakes/index.js";
import { FAKE_CREDENTIALS } from "../fakes/index.js";
import { API_KEY } from "../servers/index.js";
import type { StartedTarget, Target } from "./target.js";
import type { ResponseValidator, Verdict } from "./validate.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies in cases are checked by expectations, not by types.
export type Loose = any;

/** What a case is about: a success, a refusal or failure the spec declares, or the edge's 501. */
export type CaseKind = "happy" | "negative" | "not-served";

/** One contract case: a named behaviour of one operation, run on every runtime it applies to. */
export interface ContractCase {
  readonly operationId: OperationId;
  /** Present tense, behaviour + condition: "returns 404 CUSTOMER_NOT_FOUND for an unknown id". */
  readonly name: string;
  readonly kind: CaseKind;
  /**
   * Where it runs. Default: every runtime that serves the operation (for `not-served` cases, every
   * runtime that does not).
   */
  readonly runtimes?: readonly Runtime[];
  run(ctx: CaseContext): Promise<void>;
}

/** A request as a case describes it. */
export interface CallInit {
  readonly headers?: Readonly<Record<string, string>>;
  /** Appended to the path's own query. */
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as JSON (content type application/json unless `headers` says otherwise). */
  readonly json?: unknown;
  /** Sent form-encoded. */
  readonly form?: Readonly<Record<string, string>>;
  /** Sent as it is; a stream goes chunked (no Content-Length). */
  readonly body?: string | Uint8Array | ReadableStream<Uint8Array>;
}

/** The helpers and state a case runs with. */
export interface CaseContext {
  readonly runtime: Runtime;
  /** The target, its fetch validated against the spec. */
  readonly target: Target;
  readonly fakes: AllFakes;
  /** Whether keyed non-idempotent calls can run here (see StartedTarget.idempotencyStore). */
  readonly idempotencyStore: boolean;
  /** Sends `method path` to the target; every response is validated against the spec. */
  call(method: string, path: string, init?: CallInit): Promise<Response>;
  /** The body as loosely typed JSON. */
  json(response: Response): Promise<Loose>;
  /** Asserts a gateway error (already held to the Error shape) with this status and code. */
  expectError(response: Response, status: number, code: ErrorCode): Promise<ErrorBody>;
  /** A string unique in this run, for keys, names and phone numbers. */
  unique(prefix?: string): string;
  /** A digit string unique in this run (for phone numbers and ids). */
  uniqueDigits(length: number): string;
  /** A TPOS access token, got through the target's own POST /api/token. */
  tposToken(): Promise<string>;
  /** Opens a WebSocket to the target, as this case's client (or as `address`). */
  websocket(path: string, address?: string): WebSocket;
  /** Polls `check` until it returns something truthy, for at most `timeoutMs` (default 10 s). */
  waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs?: number): Promise<NonNullable<T>>;
  /** Every response this case received, with what validation found. */
  readonly verdicts: readonly Verdict[];
}

/** The fakes whose recorded requests show that an upstream was reached. */
function upstreams(fakes: AllFakes): FakeHandle[] {
  return [
    fakes.tpos,
    fakes.pancake,
    fakes.pancakeContent,
    fakes.pagesFm,
    fakes.graph,
    fakes.cdn,
    fakes.phoenix,
  ];
}

/** A mark of what the fakes have recorded so far. */
export function upstreamMark(fakes: AllFakes): readonly (readonly [number, unknown])[] {
  return upstreams(fakes).map((fake) => [fake.requests.length, fake.requests.at(-1)] as const);
}

/** Whether any fake recorded a request since `mark`. */
export function upstreamMoved(fakes: AllFakes, mark: ReturnType<typeof upstreamMark>): boolean {
  return upstreams(fakes).some((fake, index) => {
    const [length, last] = mark[index] ?? [0, undefined];
    return fake.requests.length !== length || fake.requests.at(-1) !== last;
  });
}

/**
 * The target with a fetch that reads every response, checks it against the spec, hands the verdict
 * to `onVerdict` (which may throw) and returns an unread copy of the response.
 */
export function validatedTarget(
  target: Target,
  validator: ResponseValidator,
  fakes: AllFakes,
  onVerdict: (verdict: Verdict) => void,
): Target {
  return {
    name: target.name,
    baseUrl: target.baseUrl,
    close: () => target.close(),
    async fetch(request) {
      const mark = upstreamMark(fakes);
      const { method, url } = request;
      const response = await target.fetch(request);
      const body = new Uint8Array(await response.arrayBuffer());
      const verdict = validator.check({
        method,
        url,
        status: response.status,
        headers: response.headers,
        body,
        upstreamReached: upstreamMoved(fakes, mark),
      });
      onVerdict(verdict);
      const empty = [101, 204, 205, 304].includes(response.status);
      return new Response(empty ? null : body, {
        status: response.status,
        statusText: response.statusText,
        headers: new Headers(response.headers),
      });
    },
  };
}

let counter = 0;
const runId = Date.now().toString(36);

let clients = 0;
/**
 * A client address of its own for each case (198.18.0.0/15, the benchmarking range), sent as both
 * runtimes learn the caller's address: X-Forwarded-For (Node, TRUST_PROXY) and CF-Connecting-IP (the
 * Worker). Cases that present wrong keys on purpose must not get the next case refused with 429.
 */
function nextClientAddress(): string {
  clients += 1;
  return `198.18.${Math.floor(clients / 250) % 256}.${(clients % 250) + 1}`;
}

/** Builds the context of one case. */
export function createCaseContext(options: {
  target: StartedTarget;
  fakes: AllFakes;
  validator: ResponseValidator;
}): CaseContext {
  const verdicts: Verdict[] = [];
  const clientAddress = nextClientAddress();
  const target = validatedTarget(options.target, options.validator, options.fakes, (verdict) => {
    verdicts.push(verdict);
    if (verdict.violations.length > 0) {
      throw new Error(`The response breaks the spec:\n- ${verdict.violations.join("\n- ")}`);
    }
  });
  const call = async (method: string, path: string, init: CallInit = {}): Promise<Response> => {
    const url = new URL(path, `${options.target.baseUrl}/`);
    for (const [name, value] of Object.entries(init.query ?? {})) {
      url.searchParams.append(name, value);
    }
    const headers = new Headers(init.headers);
    for (const name of ["x-forwarded-for", "cf-connecting-ip"]) {
      if (!headers.has(name)) {
        headers.set(name, clientAddress);
      }
    }
    let body: string | Uint8Array | ReadableStream<Uint8Array> | undefined = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/json");
      }
    } else if (init.form !== undefined) {
      body = new URLSearchParams(init.form as Record<string, string>).toString();
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/x-www-form-urlencoded");
      }
    }
    const streamed = body instanceof ReadableStream ? { duplex: "half" as const } : {};
    return target.fetch(
      new Request(url, { method, headers, ...(body === undefined ? {} : { body }), ...streamed }),
    );
  };
  const context: CaseContext = {
    runtime: options.target.name,
    target,
    fakes: options.fakes,
    idempotencyStore: options.target.idempotencyStore,
    verdicts,
    call,
    json: (response) => response.json() as Promise<Loose>,
    async expectError(response, status, code) {
      const body = (await response.json()) as ErrorBody;
      expect(
        { status: response.status, code: body.code },
        `expected ${status} ${code}; body: ${JSON.stringify(body)}`,
      ).toEqual({ status, code });
      return body;
    },
    unique(prefix = "c") {
      counter += 1;
      return `${prefix}-${runId}-${counter}`;
    },
    uniqueDigits(length) {
      counter += 1;
      const digits = `${Date.now()}${String(counter).padStart(4, "0")}`;
      return digits.slice(-length).padStart(length, "0");
    },
    async tposToken() {
      const response = await call("POST", "/api/token", {
        form: {
          grant_type: "password",
          username: FAKE_CREDENTIALS.tpos.username,
          password: FAKE_CREDENTIALS.tpos.password,
          client_id: FAKE_CREDENTIALS.tpos.clientId,
        },
      });
      expect(response.status, "POST /api/token for the seeded TPOS user").toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    },
    websocket(path, address = clientAddress) {
      return new WebSocket(`${options.target.baseUrl.replace(/^http/, "ws")}${path}`, {
        headers: { "x-forwarded-for": address },
      });
    },
    async waitFor(check, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await check();
        if (value) {
          return value as NonNullable<typeof value>;
        }
        if (Date.now() > deadline) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
  return context;
}

/** The headers of a call with the API key. */
export function withKey(headers: Record<string, string> = {}): Record<string, string> {
  return { ...headers, "x-api-key": API_KEY };
}

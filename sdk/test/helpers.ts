// Scripted fetch for SDK tests, in the manner of openapi-fetch's own test helpers: no mocking
// library, every base URL answers what the test says, and every request is recorded.
import { vi } from "vitest";
import type { ServerState } from "../src/options.js";

export const EDGE = "http://127.0.0.1:8787";
export const NODE = "http://127.0.0.1:3000";

/** What a scripted server does with one request. */
export type Reply = Response | Error | "hang";

export interface Call {
  base: string;
  method: string;
  /** Path and query, exactly as sent. */
  path: string;
  headers: Headers;
  /** Read with arrayBuffer(), which works where Request has no `body` property (Firefox). */
  body: string;
  /** The body's exact bytes. */
  bytes: Uint8Array<ArrayBuffer>;
  signal: AbortSignal;
  /** The request itself (its body already read), for its other properties. */
  request: Request;
}

/** A fetch whose servers answer through `handler`; `calls` lists every request in order. */
export function scripted(handler: (call: Call) => Reply | Promise<Reply>) {
  const calls: Call[] = [];
  const fetch = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const bytes = new Uint8Array(await req.arrayBuffer());
    const call: Call = {
      base: url.origin,
      method: req.method,
      path: url.pathname + url.search,
      headers: req.headers,
      body: new TextDecoder().decode(bytes),
      bytes,
      signal: req.signal,
      request: req,
    };
    calls.push(call);
    const reply = await handler(call);
    if (reply === "hang") {
      // Like a real fetch: pending until the request's signal aborts it.
      return new Promise((_, reject) => {
        const fail = () => reject(req.signal.reason ?? new DOMException("aborted", "AbortError"));
        if (req.signal.aborted) {
          fail();
        }
        req.signal.addEventListener("abort", fail);
      });
    }
    if (reply instanceof Error) {
      throw reply;
    }
    return reply;
  };
  /** Requests other than health probes, as `BASE METHOD PATH`. */
  const sent = () => calls.filter((c) => c.path !== "/health").map((c) => `${c.base} ${c.method} ${c.path}`);
  /** Requests other than health probes. */
  const requests = () => calls.filter((c) => c.path !== "/health");
  const probes = (base?: string) =>
    calls.filter((c) => c.path === "/health" && (!base || c.base === base)).length;
  return { fetch, calls, requests, sent, probes };
}

/** `handler`, behind a `/health` that says the edge is the edge and the rest are Node servers. */
export const withHealth =
  (handler: (call: Call) => Reply | Promise<Reply>) =>
  (call: Call): Reply | Promise<Reply> =>
    call.path === "/health" ? health(call.base === EDGE ? "edge" : "node") : handler(call);

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** A gateway error body (the spec's `Error`). */
export const gatewayError = (status: number, code: string, headers: Record<string, string> = {}) =>
  json(status, { statusCode: status, code, error: "Error", message: code.toLowerCase() }, headers);

export const health = (runtime: "edge" | "node") =>
  json(200, { status: "ok", runtime, version: "1.0.0", time: "2026-11-25T10:00:00.000Z" });

/** Node's fetch failing in `connect` or DNS: undici's TypeError with a system error as its cause. */
export const nodeError = (code: string, syscall?: string) =>
  new TypeError("fetch failed", {
    cause: Object.assign(new Error(`${syscall ?? ""} ${code}`), { code, ...(syscall && { syscall }) }),
  });

/** Node's happy-eyeballs failure: an AggregateError of one connect error per address. */
export const aggregateRefused = () =>
  new TypeError("fetch failed", {
    cause: Object.assign(
      new AggregateError([
        Object.assign(new Error("connect ECONNREFUSED ::1:9"), { code: "ECONNREFUSED", syscall: "connect" }),
        Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), {
          code: "ECONNREFUSED",
          syscall: "connect",
        }),
      ]),
      { code: "ECONNREFUSED" },
    ),
  });

/** undici's own connect timeout (ConnectTimeoutError), which has a code but no syscall. */
export const connectTimeout = () =>
  new TypeError("fetch failed", {
    cause: Object.assign(new Error("Connect Timeout Error"), { code: "UND_ERR_CONNECT_TIMEOUT" }),
  });

/** What every browser gives for any network failure: a bare TypeError, no cause. */
export const browserError = () => new TypeError("Failed to fetch");

/** Lets fake time pass while `p` runs, then gives its result or its rejection. */
export async function run<T>(p: Promise<T>, ms = 5_000): Promise<T> {
  const settled = p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.advanceTimersByTimeAsync(ms);
  const r = await settled;
  if ("error" in r) {
    throw r.error;
  }
  return r.value;
}

/** The rejection of `p` after `ms` of fake time. */
export const rejection = (p: Promise<unknown>, ms = 5_000) =>
  run(p, ms).then(
    () => {
      throw new Error("expected the call to throw");
    },
    (e: unknown) => e,
  );

/** One server's state as the engine keeps it: up, unknown runtime, full budget, never seen. */
export const serverState = (url: string, extra: Partial<ServerState> = {}): ServerState => ({
  url,
  runtime: undefined,
  keepWarm: false,
  down: false,
  failures: 0,
  coolingUntil: 0,
  retryTokens: 10,
  lastSeen: 0,
  ...extra,
});

import type { RawBody } from "@n2store/generated";

/** A request to an upstream service. */
export interface UpstreamRequest {
  readonly url: URL;
  readonly method: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: RawBody | Uint8Array | string | null;
  /** Time allowed until the response headers arrive (then 504 UPSTREAM_TIMEOUT). */
  readonly timeoutMs: number;
  /** Largest response body accepted: a larger Content-Length fails at once, a longer stream is cut. */
  readonly maxBodyBytes: number;
  /**
   * Check every address the connection goes to against the SSRF policy (after DNS, on Node).
   * The pass-through handlers set it false (their upstream is a fixed, configured origin); the
   * caller-driven routes (proxy, images, avatars) set it true for every hop unless the target is an
   * explicitly allowed IP and port.
   */
  readonly guarded: boolean;
  /** Aborts the request (the caller went away). */
  readonly signal?: AbortSignal;
}

/** An upstream's response; redirects are never followed by the port itself. */
export interface UpstreamResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ", " (set-cookie dropped). */
  readonly headers: Readonly<Record<string, string>>;
  /** The body, streamed; opaque to the shared code, which only passes it on. */
  readonly body: RawBody | null;
  /** Reads the whole body as text, refusing more than `maxBytes` (then UPSTREAM_RESPONSE_TOO_LARGE). */
  text(maxBytes?: number): Promise<string>;
  /** Reads the whole body, refusing more than `maxBytes`. */
  bytes(maxBytes?: number): Promise<Uint8Array>;
  /** Discards the body, freeing the connection. */
  dump(): Promise<void>;
}

/** Why an upstream request failed before a response. */
export type UpstreamFailureKind =
  /** Connection refused, DNS failure, unreachable: the request was never sent. */
  | "unreachable"
  /** The connection broke after the request may have been sent. */
  | "reset"
  | "timeout"
  /** The SSRF guard refused the connection (after DNS resolution, or post-connect). */
  | "blocked"
  | "too-large";

/** The one error an Upstream throws; the shared code maps it to 502/504/403. */
export class UpstreamFailure extends Error {
  readonly isUpstreamFailure = true;
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "UpstreamFailure";
  }
}

/** True for an UpstreamFailure from any copy of this module. */
export function isUpstreamFailure(value: unknown): value is UpstreamFailure {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { isUpstreamFailure?: unknown }).isUpstreamFailure === true
  );
}

/**
 * How the shared code talks to upstreams. The Worker fills it with `fetch` (redirect: manual); the
 * Node server with an undici pool whose connector applies the SSRF guard, because the global fetch
 * measured 3-4x slower on the hot pass-through routes.
 */
export interface Upstream {
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
  /** Reads a raw request body (a pass-through body) into memory, up to `maxBytes`. */
  readRaw(body: RawBody, maxBytes: number): Promise<Uint8Array>;
  /**
   * Passes a streamed body on unchanged while keeping a copy of its first `maxBytes`: `captured`
   * resolves with the whole body once it has been streamed, or with null when it was longer than
   * `maxBytes` or broke off. Used to store a keyed result for replay without delaying or cutting it.
   */
  tee(body: RawBody, maxBytes: number): { body: RawBody; captured: Promise<Uint8Array | null> };
}

import type { AnyResult, RawBody } from "@n2store/generated";
import type { SharedDeps } from "../deps.js";
import { ApiError, isApiError, toErrorBody } from "../errors.js";
import { type CallProgress, KeyProgress } from "./progress.js";
import type { IdempotencyStore, KeyRef, StoredResponse } from "./store.js";

/** Results are kept for replay this long (the IETF draft leaves it open; Stripe keeps 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** A request still unfinished after this long is treated as abandoned (outcome unknown, never rerun). */
export const IDEMPOTENCY_LEASE_MS = 2 * 60 * 1000;
/** The largest response body kept for replay. */
const REPLAY_MAX_BYTES = 1024 * 1024;

const REPLAYED = "idempotent-replayed";

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

/** What a completed call leaves for replay, and the result to send now. */
interface Captured {
  readonly result: AnyResult;
  /** The response to store; a promise when a streamed body is still on its way to the caller. */
  readonly stored: StoredResponse | Promise<StoredResponse>;
}

/**
 * Turns a result into what is stored. A JSON or in-memory body is stored at once; a streamed body is
 * passed on to the caller untouched while a copy (up to REPLAY_MAX_BYTES) is kept, and stored once
 * it has been sent: a large TPOS export still reaches its caller in full, and a retry is told the
 * call ran rather than running it again.
 */
function capture(result: AnyResult, deps: SharedDeps): Captured {
  if ("body" in result) {
    return {
      stored: {
        status: result.status,
        headers: { ...result.headers },
        body: { kind: "json", value: result.body },
      },
      result,
    };
  }
  if (!("raw" in result) || result.raw === null) {
    return {
      stored: { status: result.status, headers: { ...result.headers }, body: { kind: "empty" } },
      result,
    };
  }
  const headers: Record<string, string> = { ...result.headers };
  if ("contentType" in result) {
    headers["content-type"] = result.contentType;
  }
  delete headers["content-length"];
  const raw = result.raw;
  if (typeof raw === "string" || raw instanceof Uint8Array) {
    const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
    return {
      stored: { status: result.status, headers, body: { kind: "base64", value: toBase64(bytes) } },
      result,
    };
  }
  const { body, captured } = deps.upstream.tee(raw as RawBody, REPLAY_MAX_BYTES);
  return {
    result: { ...result, raw: body },
    stored: captured.then(
      (bytes): StoredResponse => ({
        status: result.status,
        headers,
        body: bytes === null ? { kind: "unavailable" } : { kind: "base64", value: toBase64(bytes) },
      }),
    ),
  };
}

/** A stored response as the result an adapter writes, marked as a replay. */
function replay(stored: StoredResponse): AnyResult {
  const headers = { ...stored.headers, [REPLAYED]: "true" };
  switch (stored.body.kind) {
    case "json":
      return { status: stored.status, body: stored.body.value, headers };
    case "base64":
      return { status: stored.status, raw: fromBase64(stored.body.value), headers };
    case "empty":
      return { status: stored.status, raw: null, headers };
    case "unavailable":
      throw new ApiError(
        "IDEMPOTENCY_KEY_IN_USE",
        `The first request with this Idempotency-Key completed (status ${stored.status}), but its response was too large to keep for replay; it will not be run again.`,
      );
  }
}

/**
 * What a keyed call answers, then and on every retry with its key, when the upstream may have
 * received it before the connection broke or the time ran out: the gateway cannot tell whether it
 * took effect, so it will not send it again (the SDK reports this as maybeDelivered, without moving
 * to the other server). The Worker sees a refused connection this way too: workerd reports it as the
 * same "Network connection lost" as a reset after sending. Where a runtime can tell that nothing was
 * sent (Node sees ECONNREFUSED), the key is released instead and a retry sends.
 */
function outcomeUnknown(cause: ApiError): ApiError {
  return new ApiError(
    "OUTCOME_UNKNOWN",
    `${cause.message} It may have received the request, so it will not be sent again with this Idempotency-Key: check whether it took effect before sending it with a new key.`,
    { cause },
  );
}

function storeUnavailable(cause?: unknown): ApiError {
  return new ApiError(
    "IDEMPOTENCY_STORE_UNAVAILABLE",
    "The idempotency store cannot be reached; nothing was sent. Retry, or send the call to another server.",
    { headers: { "retry-after": "1" }, nothingSent: true, cause },
  );
}

/**
 * Runs a keyed non-idempotent call at most once across every instance and both runtimes (IETF
 * draft-ietf-httpapi-idempotency-key-header; Stripe): the first request with a key runs and its
 * response is stored; a retry with the same key and request gets that response again; the same key
 * with another request is 422; a retry while the first still runs is 409. A response that proves
 * nothing happened upstream beyond the steps the handler recorded (`nothingSent`, `progress`)
 * releases the key instead, keeping those steps, so the retry may run and skip them. Without a
 * reachable store the call is refused with 503 before anything is sent.
 */
export async function runIdempotent(
  store: IdempotencyStore | null,
  claim: { scope: string; key: string; operationId: string; requestHash: string },
  deps: SharedDeps,
  run: (progress: CallProgress) => Promise<AnyResult>,
): Promise<AnyResult> {
  if (store === null) {
    throw storeUnavailable();
  }
  let begun: Awaited<ReturnType<IdempotencyStore["begin"]>>;
  try {
    begun = await store.begin({
      ...claim,
      now: new Date(deps.clock.now()),
      ttlMs: IDEMPOTENCY_TTL_MS,
      leaseMs: IDEMPOTENCY_LEASE_MS,
    });
  } catch (error) {
    deps.log.warn({ err: error, operationId: claim.operationId }, "idempotency store unavailable");
    throw storeUnavailable(error);
  }
  switch (begun.outcome) {
    case "replay":
      return replay(begun.response);
    case "mismatch":
      throw new ApiError(
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was used with a different request; use a new key for a new request.",
      );
    case "in_flight":
      throw new ApiError(
        "IDEMPOTENCY_KEY_IN_USE",
        begun.abandoned
          ? "The first request with this Idempotency-Key stopped before it finished, so its outcome is unknown; it will not be run again. Check the result, then use a new key."
          : "A request with this Idempotency-Key is still being processed.",
        { headers: { "retry-after": "1" } },
      );
    case "started":
      break;
  }

  const ref: KeyRef = { scope: claim.scope, key: claim.key };
  const progress = new KeyProgress(store, ref, begun.progress, deps.log);
  let result: AnyResult;
  try {
    result = await run(progress);
  } catch (error) {
    // A step that went out but could not be recorded would run again on a retry: store the error.
    if (isApiError(error) && error.nothingSent && !progress.lost) {
      await store.release(ref).catch((releaseError: unknown) => {
        deps.log.warn({ err: releaseError }, "could not release an idempotency key");
      });
      throw error;
    }
    const apiError = !isApiError(error)
      ? new ApiError("INTERNAL", "The server failed to handle this request; the failure is logged.", {
          cause: error,
        })
      : error.outcomeUnknown
        ? outcomeUnknown(error)
        : error;
    const stored: StoredResponse = {
      status: apiError.status,
      headers: { ...apiError.headers },
      body: { kind: "json", value: toErrorBody(apiError) },
    };
    await store.complete(ref, stored, new Date(deps.clock.now())).catch((completeError: unknown) => {
      deps.log.error({ err: completeError }, "could not store an idempotent error result");
    });
    throw apiError;
  }
  // The call has run: from here on the caller gets its answer whatever happens to the store. If the
  // result cannot be stored, the key stays in flight, so a retry gets 409, never a rerun.
  const captured = capture(result, deps);
  const complete = Promise.resolve(captured.stored)
    .then((stored) => store.complete(ref, stored, new Date(deps.clock.now())))
    .catch((error: unknown) => {
      deps.log.error({ err: error, operationId: claim.operationId }, "could not store an idempotent result");
    });
  if (captured.stored instanceof Promise) {
    if (deps.defer) {
      deps.defer(complete);
    }
  } else {
    await complete;
  }
  return captured.result;
}

import type { ErrorBody, ErrorCode } from "@n2store/generated";

/** The HTTP status and reason phrase of every error code; the spec's ErrorCode enum, with statuses. */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400 },
  MALFORMED_BODY: { status: 400 },
  MALFORMED_REQUEST: { status: 400 },
  INVALID_TARGET_URL: { status: 400 },
  UNAUTHORIZED: { status: 401 },
  TPOS_TOKEN_REJECTED: { status: 401 },
  TARGET_NOT_ALLOWED: { status: 403 },
  ROUTE_NOT_FOUND: { status: 404 },
  CUSTOMER_NOT_FOUND: { status: 404 },
  CUSTOMER_PHONE_EXISTS: { status: 409 },
  REQUEST_TIMEOUT: { status: 408 },
  IDEMPOTENCY_KEY_IN_USE: { status: 409 },
  PAYLOAD_TOO_LARGE: { status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  IDEMPOTENCY_KEY_REUSED: { status: 422 },
  UPGRADE_REQUIRED: { status: 426 },
  HEADERS_TOO_LARGE: { status: 431 },
  FB_INVALID_REQUEST: { status: 400 },
  FB_PAGE_TOKEN_INVALID: { status: 401 },
  FB_PERMISSION_DENIED: { status: 403 },
  FB_OUTSIDE_WINDOW: { status: 403 },
  FB_RECIPIENT_UNAVAILABLE: { status: 403 },
  FB_RATE_LIMITED: { status: 429 },
  TOO_MANY_FAILURES: { status: 429 },
  FB_UPSTREAM_ERROR: { status: 502 },
  INTERNAL: { status: 500 },
  NOT_SERVED_BY_RUNTIME: { status: 501 },
  UPSTREAM_UNREACHABLE: { status: 502 },
  OUTCOME_UNKNOWN: { status: 502 },
  UPSTREAM_BAD_RESPONSE: { status: 502 },
  UPSTREAM_ERROR: { status: 502 },
  UPSTREAM_RESPONSE_TOO_LARGE: { status: 502 },
  TOO_MANY_REDIRECTS: { status: 502 },
  DATABASE_UNAVAILABLE: { status: 503 },
  IDEMPOTENCY_STORE_UNAVAILABLE: { status: 503 },
  SEPAY_NOT_CONFIGURED: { status: 503 },
  TPOS_ACCOUNT_NOT_CONFIGURED: { status: 503 },
  UPSTREAM_TIMEOUT: { status: 504 },
} as const satisfies Record<ErrorCode, { status: number }>;

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The reason phrase of an HTTP status (`error` in the error body). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status >= 500 ? "Server Error" : "Client Error");
}

/** One entry of `Error.details`. */
export type ErrorDetail = NonNullable<ErrorBody["details"]>[number];

/** Options of an ApiError beyond its code and message. */
export interface ApiErrorOptions {
  readonly details?: readonly ErrorDetail[];
  /** Response headers to send with the error (`Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The operation provably did nothing upstream (a refused connection, a refusal before sending)
   * beyond the steps it recorded through `deps.progress`: the idempotency layer releases the key,
   * keeping that progress, instead of storing this error, so a retry may run and skip those steps.
   */
  readonly nothingSent?: boolean;
  /** The upstream's own numeric error code and subcode (Graph's), sent as `error_code` and `error_subcode`. */
  readonly upstreamCode?: { readonly code: number; readonly subcode?: number | undefined };
  /**
   * The upstream may have received the request before the connection broke or the time ran out:
   * under an Idempotency-Key this is stored as OUTCOME_UNKNOWN, never sent again.
   */
  readonly outcomeUnknown?: boolean;
  readonly cause?: unknown;
}

/**
 * An error with a stable code, turned into the one error body by both adapters. The brand survives
 * duplicate copies of this module (compare `isApiError`, not `instanceof`).
 */
export class ApiError extends Error {
  readonly isApiError = true;
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly ErrorDetail[] | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly nothingSent: boolean;
  readonly outcomeUnknown: boolean;
  readonly upstreamCode: ApiErrorOptions["upstreamCode"];

  private readonly options: ApiErrorOptions;

  constructor(code: ErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = options.details;
    this.headers = options.headers;
    this.nothingSent = options.nothingSent ?? false;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
    this.upstreamCode = options.upstreamCode;
    this.options = options;
  }

  /** The same error, saying whether the operation provably did nothing upstream. */
  withNothingSent(nothingSent: boolean): ApiError {
    if (nothingSent === this.nothingSent) {
      return this;
    }
    return new ApiError(this.code, this.message, { ...this.options, nothingSent });
  }
}

/** 404 for a method and path no operation answers, in the same words on both runtimes. */
export function routeNotFound(method: string, path: string): ApiError {
  return new ApiError("ROUTE_NOT_FOUND", `No operation answers ${method} ${path}.`, { nothingSent: true });
}

/** 413 for a request body over `limit` bytes, in the same words on both runtimes. */
export function payloadTooLarge(limit: number): ApiError {
  return new ApiError("PAYLOAD_TOO_LARGE", `The request body is larger than ${limit} bytes.`, {
    nothingSent: true,
  });
}

/** 415 for a body in a media type the operation does not take, naming the ones it does. */
export function unsupportedMediaType(accepted: readonly string[]): ApiError {
  return new ApiError("UNSUPPORTED_MEDIA_TYPE", `Send the body as ${accepted.join(" or ")}.`, {
    nothingSent: true,
  });
}

/** True for an ApiError from any copy of this module. */
export function isApiError(value: unknown): value is ApiError {
  return (
    typeof value === "object" && value !== null && (value as { isApiError?: unknown }).isApiError === true
  );
}

/** The error body for an ApiError. */
export function toErrorBody(error: ApiError, requestId?: string): ErrorBody {
  const body: ErrorBody = {
    success: false,
    statusCode: error.status,
    code: error.code,
    error: reasonPhrase(error.status),
    message: error.message,
  };
  if (error.upstreamCode !== undefined) {
    body.error_code = error.upstreamCode.code;
    if (error.upstreamCode.subcode !== undefined) {
      body.error_subcode = error.upstreamCode.subcode;
    }
  }
  if (requestId !== undefined) {
    body.requestId = requestId;
  }
  if (error.details !== undefined && error.details.length > 0) {
    body.details = [...error.details];
  }
  return body;
}

/**
 * Any thrown value as an ApiError: ApiErrors pass through; anything else is an unexpected failure,
 * reported as 500 INTERNAL with a generic message (the cause goes to the logs, never to the caller).
 */
export function asApiError(error: unknown): ApiError {
  if (isApiError(error)) {
    return error;
  }
  return new ApiError("INTERNAL", "The server failed to handle this request; the failure is logged.", {
    cause: error,
  });
}

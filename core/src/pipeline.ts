import type {
  AnyHandler,
  AnyResult,
  OperationId,
  OperationInput,
  OperationSpec,
  RawBody,
} from "@n2store/generated";
import { type ValidateFunction, type ValidationError, validators } from "@n2store/generated/validators";
import { authorize } from "./auth.js";
import { canonicalJson, hmacSha256Hex, sha256Hex } from "./crypto.js";
import type { SharedDeps } from "./deps.js";
import {
  ApiError,
  asApiError,
  type ErrorDetail,
  isApiError,
  toErrorBody,
  unsupportedMediaType,
} from "./errors.js";
import { runIdempotent } from "./idempotency/run.js";

/** A request body as the adapter read it. */
export type IncomingBody =
  | { readonly kind: "none" }
  /** JSON or form fields, parsed by the adapter. */
  | { readonly kind: "parsed"; readonly contentType: string; readonly value: unknown }
  /** A pass-through body, not read. */
  | { readonly kind: "raw"; readonly value: RawBody };

/** A request as both adapters hand it to `execute`. */
export interface IncomingRequest {
  /** Path parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Query parameters; a repeated name gives an array. */
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  readonly rawQuery: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: IncomingBody;
}

/** The largest body of a JSON or form request. */
export const JSON_BODY_LIMIT = 1024 * 1024;
/** The largest pass-through request body. */
export const RAW_BODY_LIMIT = 20 * 1024 * 1024;

function pointer(instancePath: string): string[] {
  return instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** The named schema (`$defs/<Name>`) an Ajv error comes from, when it comes from one. */
function branchOf(error: ValidationError): string | undefined {
  return /#\/\$defs\/([^/]+)/.exec(error.schemaPath)?.[1];
}

/**
 * A `oneOf` without a discriminator reports the errors of every branch it tried. The branch with the
 * fewest errors is the one the caller meant (a body with `grant_type: "password"` is a password
 * grant missing its password, not a company request with two unknown fields), so only its errors
 * are kept for each such `oneOf`.
 */
function closestBranches(errors: readonly ValidationError[]): readonly ValidationError[] {
  const dropped = new Set<ValidationError>();
  for (const failed of errors) {
    if (failed.keyword !== "oneOf") {
      continue;
    }
    const groups = new Map<string, ValidationError[]>();
    for (const error of errors) {
      const branch = branchOf(error);
      if (error !== failed && branch !== undefined && error.instancePath.startsWith(failed.instancePath)) {
        groups.set(branch, [...(groups.get(branch) ?? []), error]);
      }
    }
    let best: ValidationError[] | undefined;
    for (const group of groups.values()) {
      if (best === undefined || group.length < best.length) {
        best = group;
      }
    }
    for (const group of groups.values()) {
      if (group !== best) {
        for (const error of group) {
          dropped.add(error);
        }
      }
    }
  }
  return dropped.size === 0 ? errors : errors.filter((error) => !dropped.has(error));
}

/** Turns Ajv's errors into `details`, one per problem, in words a person reads. */
function describe(location: string, all: readonly ValidationError[]): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  const errors = closestBranches(all);
  for (const error of errors) {
    // A failing `oneOf` or discriminator also reports the branches; the branch errors say more.
    if (error.keyword === "oneOf" && errors.length > 1) {
      continue;
    }
    const path = [location, ...pointer(error.instancePath)];
    let message = error.message ?? "is not valid";
    if (error.keyword === "required") {
      path.push(String(error.params.missingProperty));
      message = "is required";
    } else if (error.keyword === "additionalProperties") {
      path.push(String(error.params.additionalProperty));
      message = "is not a known field";
    } else if (error.keyword === "discriminator") {
      path.push(String(error.params.tag));
      message =
        error.params.tagValue === undefined
          ? "is required"
          : `${JSON.stringify(error.params.tagValue)} is not one of the accepted values`;
    } else if (error.keyword === "enum") {
      message = `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    }
    const key = `${path.join(".")}:${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      details.push({ path, message });
    }
  }
  return details;
}

function check(
  validate: ValidateFunction | undefined,
  location: string,
  data: unknown,
  problems: ErrorDetail[],
): void {
  if (validate !== undefined && !validate(data)) {
    problems.push(...describe(location, validate.errors ?? []));
  }
}

/**
 * Numbers JavaScript cannot hold as the spec means them. Ajv's type coercion turns a query or path
 * value such as "Infinity" or "1e400" into Infinity, which passes `type: integer` and skips every
 * `minimum`/`maximum` check (they only run on finite numbers); and an integer past 2^53 - 1 (say a
 * transferAmount of 1e300) is not the number that was sent. Both used to reach the database and end
 * as 500 INTERNAL; they are the caller's mistake, so they are refused here with the field named.
 */
export function numberProblems(
  location: string,
  value: unknown,
  path: readonly string[],
  problems: ErrorDetail[],
): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      problems.push({ path: [location, ...path], message: "must be a finite number" });
    } else if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      problems.push({
        path: [location, ...path],
        message: `must be a whole number from ${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`,
      });
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      numberProblems(location, item, [...path, String(index)], problems);
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      numberProblems(location, item, [...path, key], problems);
    }
  }
}

/** Validates every part of the request against the operation's generated validators. */
function validateRequest(
  operation: OperationSpec,
  request: IncomingRequest,
): {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  body: unknown;
} {
  const compiled = validators[operation.operationId as OperationId];
  const problems: ErrorDetail[] = [];
  const path: Record<string, unknown> = { ...request.params };
  const query: Record<string, unknown> = { ...request.query };
  const headers: Record<string, unknown> = {};
  for (const name of operation.headerParams) {
    const value = request.headers[name];
    if (value !== undefined) {
      headers[name] = value;
    }
  }
  check(compiled.path, "path", path, problems);
  check(compiled.query, "query", query, problems);
  check(compiled.headers, "headers", headers, problems);
  numberProblems("path", path, [], problems);
  numberProblems("query", query, [], problems);

  let body: unknown;
  const spec = operation.body;
  if (request.body.kind === "raw") {
    body = request.body.value;
  } else if (spec !== null && !spec.raw) {
    if (request.body.kind === "none") {
      if (spec.required) {
        problems.push({ path: ["body"], message: `is required (${spec.contentTypes.join(" or ")})` });
      }
    } else if (!spec.contentTypes.includes(request.body.contentType)) {
      throw unsupportedMediaType(spec.contentTypes);
    } else {
      body = structuredClone(request.body.value);
      check(compiled.body?.[request.body.contentType], "body", body, problems);
      numberProblems("body", body, [], problems);
    }
  }
  if (problems.length > 0) {
    const [first] = problems;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
    throw new ApiError("VALIDATION_FAILED", `${first?.path?.join(".")}: ${first?.message}${more}`, {
      details: problems,
      nothingSent: true,
    });
  }
  return { path, query, headers, body };
}

/**
 * `X-Idempotency-Key` read as `Idempotency-Key` when that is absent: the shop's pages send it on
 * TPOS order creation (tab1-sale.js), and the original's CORS allowed it.
 */
function withIdempotencyKeyAlias(operation: OperationSpec, request: IncomingRequest): IncomingRequest {
  const alias = request.headers["x-idempotency-key"];
  if (
    !operation.acceptsIdempotencyKey ||
    alias === undefined ||
    request.headers["idempotency-key"] !== undefined
  ) {
    return request;
  }
  return { ...request, headers: { ...request.headers, "idempotency-key": alias } };
}

/** Query parameters and headers that carry a caller's credential on some operation. */
const CREDENTIAL_PARAMS = ["jwt", "access_token", "page_access_token"];
const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "x-page-access-token"];

/**
 * The scope of an Idempotency-Key: a keyed hash of every credential the request carries (TPOS's
 * `Authorization`, Pancake's `jwt`/`access_token`/`page_access_token`, a page token in the body or
 * in X-Page-Access-Token, our API key), '' when it carries none. A key is looked up within its
 * scope only, so another caller reusing a key neither gets the first caller's stored answer nor
 * blocks it. Keyed with IDEMPOTENCY_SCOPE_SECRET, so the table holds nothing a token can be checked
 * against without it.
 */
async function credentialScope(request: IncomingRequest, secret: string): Promise<string> {
  const found: [string, string][] = [];
  for (const name of CREDENTIAL_HEADERS) {
    const value = request.headers[name];
    if (value !== undefined && value !== "") {
      found.push([`header:${name}`, value]);
    }
  }
  for (const name of CREDENTIAL_PARAMS) {
    const value = request.query[name];
    if (value !== undefined && value !== "") {
      found.push([`query:${name}`, Array.isArray(value) ? value.join(",") : String(value)]);
    }
  }
  if (request.body.kind === "parsed") {
    const pageToken = (request.body.value as { pageToken?: unknown } | null)?.pageToken;
    if (typeof pageToken === "string" && pageToken !== "") {
      found.push(["body:pageToken", pageToken]);
    }
  }
  return found.length === 0 ? "" : hmacSha256Hex(secret, canonicalJson(found));
}

/** What identifies a request for the idempotency check: operation, parameters and body. */
async function requestHash(
  operation: OperationSpec,
  request: IncomingRequest,
  rawBody: Uint8Array | null,
): Promise<string> {
  const body =
    rawBody !== null
      ? `raw:${await sha256Hex(rawBody)}`
      : request.body.kind === "parsed"
        ? `json:${canonicalJson(request.body.value)}`
        : "none";
  return sha256Hex([operation.operationId, canonicalJson(request.params), request.rawQuery, body].join("\n"));
}

/** An error as the result both adapters write: the one error body, its status and headers. */
export function errorResult(error: unknown, deps: Pick<SharedDeps, "log" | "requestId">): AnyResult {
  const apiError = asApiError(error);
  if (apiError.status >= 500) {
    deps.log.error({ err: apiError.cause ?? apiError, code: apiError.code }, apiError.message);
  } else {
    deps.log.info({ code: apiError.code }, apiError.message);
  }
  return {
    status: apiError.status,
    body: toErrorBody(apiError, deps.requestId),
    headers: { ...apiError.headers },
  };
}

/**
 * Runs one operation the same way on both runtimes: security, validation (generated validators,
 * defaults applied), the idempotency layer for keyed non-idempotent calls, then the handler.
 * Never throws: failures come back as error results.
 */
export async function execute<Ctx extends SharedDeps>(
  operation: OperationSpec,
  handler: AnyHandler<Ctx>,
  request: IncomingRequest,
  deps: Ctx,
): Promise<AnyResult> {
  try {
    await authorize(operation, request.headers, deps);
    const keyed = withIdempotencyKeyAlias(operation, request);
    const valid = validateRequest(operation, keyed);
    const key = operation.acceptsIdempotencyKey ? keyed.headers["idempotency-key"] : undefined;
    if (key === undefined) {
      return await handler(inputOf(valid, keyed, valid.body), deps);
    }
    // A keyed pass-through body is read once: it is hashed, then sent from memory.
    const rawBody = keyed.body.kind === "raw" ? await readRequestBody(keyed.body.value, deps) : null;
    const hash = await requestHash(operation, keyed, rawBody);
    const scope = await credentialScope(keyed, deps.config.idempotencyScopeSecret);
    return await runIdempotent(
      deps.idempotency,
      { scope, key, operationId: operation.operationId, requestHash: hash },
      deps,
      (progress) => handler(inputOf(valid, keyed, rawBody ?? valid.body), { ...deps, progress }),
    );
  } catch (error) {
    if (!isApiError(error) && deps.signal?.aborted) {
      deps.log.info({}, "the caller went away before the answer");
    }
    return errorResult(error, deps);
  }
}

async function readRequestBody(body: RawBody, deps: SharedDeps): Promise<Uint8Array> {
  try {
    return await deps.upstream.readRaw(body, RAW_BODY_LIMIT);
  } catch (error) {
    throw new ApiError("PAYLOAD_TOO_LARGE", `The request body is larger than ${RAW_BODY_LIMIT} bytes.`, {
      cause: error,
      nothingSent: true,
    });
  }
}

function inputOf(
  valid: ReturnType<typeof validateRequest>,
  request: IncomingRequest,
  body: unknown,
): OperationInput<OperationId> {
  return {
    path: valid.path,
    query: valid.query,
    headers: valid.headers,
    body,
    rawQuery: request.rawQuery,
    rawHeaders: request.headers,
  } as unknown as OperationInput<OperationId>;
}

/** The answer of a runtime to an operation it does not serve. */
export function notServedResult(
  operation: OperationSpec,
  deps: Pick<SharedDeps, "log" | "requestId" | "runtime">,
): AnyResult {
  const where = operation.runtimes.join(", ");
  return errorResult(
    new ApiError(
      "NOT_SERVED_BY_RUNTIME",
      `${operation.operationId} is not served by the ${deps.runtime} runtime; send it to a ${where === "node" ? "Node server" : "server"} (runtimes: ${where}).`,
      { details: [{ message: `served by: ${where}`, code: operation.operationId }] },
    ),
    deps,
  );
}

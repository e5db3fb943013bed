// The hand-written start of generated/operations.ts: codegen copies it there verbatim, then appends
// the operation table and the per-operation types (OperationId, OperationTypes) it refers to. Linted
// here; type-checked as part of generated/.
// biome-ignore lint/correctness/noUnusedImports: SpecOperations is used by the per-operation types codegen appends
import type { components, operations as SpecOperations } from "./openapi.js";

/** Where an operation is served (`x-runtimes`). */
export type Runtime = "edge" | "node";
/** The HTTP methods the spec uses. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One row of the operation table: everything the servers and the SDK need to know about an operation. */
export interface OperationSpec {
  readonly operationId: string;
  readonly method: HttpMethod;
  /** The OpenAPI path template, e.g. `/api/customers/{id}`. */
  readonly path: string;
  /** The same path for Fastify (`:id`, catch-all `*`). */
  readonly fastifyPath: string;
  /** The same path for itty-router (`:id`, catch-all `:path+`). */
  readonly ittyPath: string;
  readonly runtimes: readonly Runtime[];
  /** `x-idempotent`: may be retried or failed over after it may have reached a server. */
  readonly idempotent: boolean;
  /** Accepts an `Idempotency-Key` header (every non-idempotent operation does). */
  readonly acceptsIdempotencyKey: boolean;
  /** Security requirements: alternatives (OR) of scheme names (AND); empty means public. */
  readonly security: readonly (readonly string[])[];
  readonly tags: readonly string[];
  readonly pathParams: readonly string[];
  /** The `x-catch-all` path parameter, whose value may contain `/`. */
  readonly catchAll: string | null;
  /** Unknown query parameters are passed through (a form-exploded free-form object parameter). */
  readonly freeFormQuery: boolean;
  /** Declared header parameters, lower case. */
  readonly headerParams: readonly string[];
  readonly body: {
    readonly required: boolean;
    readonly contentTypes: readonly string[];
    readonly raw: boolean;
  } | null;
  /** Served as a WebSocket (`x-websocket`), outside the HTTP route builders. */
  readonly websocket: boolean;
  /** Every declared response status. */
  readonly responses: readonly string[];
}

declare const rawBodyBrand: unique symbol;
/**
 * A body the gateway streams without reading it: a Web `ReadableStream` in the Worker, a Node
 * `Readable` in the Node server. Handlers only pass it along; each adapter knows its real type.
 */
export type RawBody = { readonly [rawBodyBrand]: true };

/** Response headers a handler may set. */
export type ResponseHeaders = Readonly<Record<string, string>>;

/** A JSON response: `body` is serialised by the adapter. */
export interface JsonResult<S extends number, B> {
  readonly status: S;
  readonly body: B;
  readonly headers?: ResponseHeaders;
}
/** A response without a body. */
export interface EmptyResult<S extends number> {
  readonly status: S;
  readonly headers?: ResponseHeaders;
}
/** A non-JSON response (an image, a page): bytes, text or a stream, with its content type. */
export interface RawResult<S extends number> {
  readonly status: S;
  readonly raw: RawBody | Uint8Array | string;
  readonly contentType: string;
  readonly headers?: ResponseHeaders;
}
/** An upstream response passed back unchanged: any status, its headers and its streamed body. */
export interface PassthroughResult {
  readonly status: number;
  readonly raw: RawBody | Uint8Array | string | null;
  readonly headers: ResponseHeaders;
}
/** Any handler result, as the adapters see it. */
export type AnyResult =
  | JsonResult<number, unknown>
  | EmptyResult<number>
  | RawResult<number>
  | PassthroughResult;

/** The error body of both runtimes. */
export type ErrorBody = components["schemas"]["Error"];
/** The stable error codes (`ErrorCode` in the spec). */
export type ErrorCode = components["schemas"]["ErrorCode"];
/** A named schema of the spec. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

/** What a handler receives, validated: path parameters, query, declared headers and body. */
export interface OperationInput<Op extends OperationId> {
  readonly path: OperationTypes[Op]["path"];
  readonly query: OperationTypes[Op]["query"];
  readonly headers: OperationTypes[Op]["headers"];
  readonly body: OperationTypes[Op]["body"];
  /** The query string as received (without `?`), for pass-through operations. */
  readonly rawQuery: string;
  /** Every request header (lower-case names), for operations that pass some of them on. */
  readonly rawHeaders: Readonly<Record<string, string>>;
}
/** What a handler may return: one of the success responses the spec declares, nothing else. */
export type OperationResult<Op extends OperationId> = OperationTypes[Op]["result"];
/** A handler of one operation; errors are thrown (`ApiError`), not returned. */
export type Handler<Op extends OperationId, Ctx> = (
  input: OperationInput<Op>,
  ctx: Ctx,
) => Promise<OperationResult<Op>>;
/** A handler with its operation's types erased, as the adapters hold it. */
export type AnyHandler<Ctx> = (input: OperationInput<OperationId>, ctx: Ctx) => Promise<AnyResult>;

/**
 * Response validation against the spec. For the status of a response the operation's declaration is
 * found (the exact status, then a `2XX`-style range, then `default`), the content type must be one it
 * declares, and a JSON body must match its schema. Every non-2xx the gateway produces itself must be
 * the `Error` shape, with `statusCode` equal to the status and a `code` of that status. Pass-through
 * operations may also answer with an upstream's own status and body, but only when an upstream was
 * actually reached (or the answer is a replay of a stored one).
 *
 * Ajv compiles the schemas at test time from `generated/openapi.json`: this runs in Node (inside
 * workerd the precompiled validators of `generated/` would be needed).
 */

import { mediaType } from "@n2store/core";
import type { ErrorBody, OperationId } from "@n2store/generated";
import { ERROR_STATUSES } from "@n2store/generated";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { isPassthrough, type JsonSchema, matchOperation, openapi, type SpecOperation } from "./spec.js";

// The CJS default exports of ajv and ajv-formats, as seen from ESM.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;
type Ajv = InstanceType<typeof Ajv2020>;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The spec's schemas as plain JSON Schema: `#/components/schemas/X` becomes `spec#/$defs/X`, and
 * what Ajv does not take (examples, the discriminator's `mapping`, vendor extensions) is dropped.
 * Without its discriminator a `oneOf` still validates: its branches differ by a `const`.
 */
function plain(value: unknown): Json {
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (typeof value === "object" && value !== null) {
    const out: Record<string, Json> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string" && inner.startsWith("#/components/schemas/")) {
        out[key] = `spec#/$defs/${inner.slice("#/components/schemas/".length)}`;
      } else if (
        key !== "examples" &&
        key !== "example" &&
        key !== "discriminator" &&
        !key.startsWith("x-")
      ) {
        out[key] = plain(inner);
      }
    }
    return out;
  }
  return value as Json;
}

/** What the suite learned about one response. */
export interface Verdict {
  /** The operation the request went to; null when no operation has this method and path. */
  readonly operationId: OperationId | null;
  /** The declaration the status fell under (`200`, `2XX`, `default`), or null when undeclared. */
  readonly declared: string | null;
  /** The response is an upstream's own answer passed back unchanged, not the gateway's. */
  readonly passthrough: boolean;
  /** The body, parsed, when it is JSON. */
  readonly json: unknown;
  /** The body when it is the gateway's own error. */
  readonly error: ErrorBody | null;
  /** Every way the response breaks the spec; empty when it keeps it. */
  readonly violations: readonly string[];
}

/** A response to check, with its body already read. */
export interface ResponseToCheck {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  /** Whether an upstream (a fake) received a request while this one was in flight. */
  readonly upstreamReached: boolean;
}

function isJsonType(type: string | null): boolean {
  return type !== null && (type === "application/json" || type.endsWith("+json"));
}

/** A media type's parameters (`; version=0.0.4`), names in lower case, quotes removed. */
function mediaParameters(contentType: string): Map<string, string> {
  const parameters = new Map<string, string>();
  for (const part of contentType.split(";").slice(1)) {
    const equals = part.indexOf("=");
    if (equals > 0) {
      parameters.set(
        part.slice(0, equals).trim().toLowerCase(),
        part
          .slice(equals + 1)
          .trim()
          .replace(/^"(.*)"$/, "$1"),
      );
    }
  }
  return parameters;
}

/**
 * The declared media type a response's type falls under: exact, then `type/*`, then `*\/*`. A
 * declared type with parameters (Prometheus's `text/plain; version=0.0.4`) takes a response of that
 * type carrying at least those parameters, with those values (others, such as charset, may come too).
 */
function declaredMedia(
  declared: readonly string[],
  type: string | null,
  contentType: string | null,
): string | null {
  if (type !== null && declared.includes(type)) {
    return type;
  }
  if (type !== null && contentType !== null) {
    const given = mediaParameters(contentType);
    const parameterised = declared.find((key) => {
      if (mediaType(key) !== type || !key.includes(";")) {
        return false;
      }
      return [...mediaParameters(key)].every(([name, value]) => given.get(name) === value);
    });
    if (parameterised !== undefined) {
      return parameterised;
    }
  }
  const wildcard = type === null ? undefined : `${type.split("/", 1)[0]}/*`;
  if (wildcard !== undefined && declared.includes(wildcard)) {
    return wildcard;
  }
  return declared.includes("*/*") ? "*/*" : null;
}

function isEmptySchema(schema: JsonSchema | undefined): boolean {
  return (
    schema === undefined ||
    schema === true ||
    (typeof schema === "object" && Object.keys(schema).every((key) => key === "description"))
  );
}

/** Whether a body looks like the gateway's error (so it must be exactly the Error shape). */
function looksLikeGatewayError(json: unknown): boolean {
  return (
    typeof json === "object" &&
    json !== null &&
    !Array.isArray(json) &&
    typeof (json as { code?: unknown }).code === "string" &&
    (json as { statusCode?: unknown }).statusCode !== undefined
  );
}

function snippet(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Validates responses against the spec (one instance compiles each schema once). */
export class ResponseValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ReturnType<Ajv["compile"]>>();

  constructor() {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, allowUnionTypes: true });
    addFormats(this.ajv);
    this.ajv.addFormat("binary", true);
    this.ajv.addSchema({ $id: "spec", $defs: plain(openapi.components.schemas) } as never);
  }

  /** Validates `value` against a schema of the spec; returns Ajv's complaints (empty when valid). */
  validate(schema: JsonSchema, value: unknown): string[] {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile(plain(schema) as never);
      this.compiled.set(key, validate);
    }
    if (validate(value)) {
      return [];
    }
    return (validate.errors ?? []).map(
      (error) =>
        `${error.instancePath === "" ? "(body)" : error.instancePath} ${error.message ?? "is not valid"}`,
    );
  }

  /** Checks one response; see the module comment for the rules. */
  check(response: ResponseToCheck): Verdict {
    const { status, headers } = response;
    const url = new URL(response.url);
    const where = `${response.method} ${url.pathname}${url.search.length > 80 ? `${url.search.slice(0, 80)}…` : url.search}`;
    const type = mediaType(headers.get("content-type"));
    const text = new TextDecoder().decode(response.body);
    let json: unknown;
    let jsonProblem: string | null = null;
    if (response.body.byteLength > 0 && isJsonType(type)) {
      try {
        json = JSON.parse(text);
      } catch {
        jsonProblem = `the body says ${type} but is not JSON: ${snippet(text)}`;
      }
    }
    const violations: string[] = [];
    if (response.method === "OPTIONS" && status === 204) {
      // A CORS preflight: answered by the gateway for every path (README, CORS), never an operation.
      if (response.body.byteLength > 0) {
        violations.push("a CORS preflight's 204 has a body");
      }
      return this.verdict(null, null, false, undefined, null, violations, where, status, text);
    }
    if (response.method === "HEAD") {
      // HEAD is GET without the body (RFC 9110 9.3.2): the GET operation's statuses, and no bytes.
      if (response.body.byteLength > 0) {
        violations.push("a HEAD answer has a body");
      }
      const get = matchOperation("GET", url.pathname);
      if (
        get === null ? status < 400 || status >= 500 : this.declaredStatus(get.operation, status) === null
      ) {
        violations.push(`HEAD answered ${status}, which GET ${url.pathname} does not declare`);
      }
      return this.verdict(
        get?.operation.id ?? null,
        null,
        false,
        undefined,
        null,
        violations,
        where,
        status,
        text,
      );
    }
    const match = matchOperation(response.method, url.pathname);

    if (match === null) {
      // No operation answers this method and path: only the gateway's own 4xx, in the Error shape.
      const error = this.checkError(status, headers, json, jsonProblem, violations);
      if (status < 400 || status >= 500) {
        violations.push(`no operation has this method and path, yet the answer is ${status}, not a 4xx`);
      }
      return this.verdict(null, null, false, json, error, violations, where, status, text);
    }

    const operation = match.operation;
    const declared = this.declaredStatus(operation, status);
    if (declared === null) {
      violations.push(
        `${operation.id} does not declare ${status} (it declares ${Object.keys(operation.responses).join(", ")})`,
      );
    }
    const replayed = headers.get("idempotent-replayed") === "true";
    let passthrough = false;
    if (isPassthrough(operation) && declared !== null) {
      const exact = operation.responses[String(status)] !== undefined;
      if (!exact) {
        // Under `2XX` or `default`: only an upstream's own answer (or the replay of one) may be here.
        passthrough = true;
        if (!response.upstreamReached && !replayed) {
          violations.push(
            `${operation.id} answered ${status} without reaching an upstream: the gateway's own statuses must be declared explicitly, not left to ${declared}`,
          );
        }
      } else if (status >= 400 && !looksLikeGatewayError(json) && (response.upstreamReached || replayed)) {
        // The upstream itself answered a status the gateway also uses for its own errors.
        passthrough = true;
      }
    }

    let error: ErrorBody | null = null;
    if (!passthrough && declared !== null) {
      this.checkContent(
        operation,
        declared,
        headers.get("content-type"),
        response.body.byteLength,
        json,
        jsonProblem,
        violations,
      );
    }
    if (!passthrough && status >= 400) {
      error = this.checkError(status, headers, json, jsonProblem, violations);
    } else if (passthrough && looksLikeGatewayError(json)) {
      // A gateway error that slipped under `default` is still held to the Error shape.
      error = this.checkError(status, headers, json, jsonProblem, violations);
    }
    return this.verdict(operation.id, declared, passthrough, json, error, violations, where, status, text);
  }

  private verdict(
    operationId: OperationId | null,
    declared: string | null,
    passthrough: boolean,
    json: unknown,
    error: ErrorBody | null,
    violations: string[],
    where: string,
    status: number,
    text: string,
  ): Verdict {
    return {
      operationId,
      declared,
      passthrough,
      json,
      error,
      violations: violations.map(
        (violation) =>
          `${where} -> ${status}${operationId === null ? "" : ` (${operationId})`}: ${violation}; body: ${snippet(text)}`,
      ),
    };
  }

  /** The declaration a status falls under: exact, then `NXX`, then `default`. */
  private declaredStatus(operation: SpecOperation, status: number): string | null {
    const exact = String(status);
    if (operation.responses[exact] !== undefined) {
      return exact;
    }
    const range = `${String(status)[0]}XX`;
    if (operation.responses[range] !== undefined) {
      return range;
    }
    return operation.responses.default !== undefined ? "default" : null;
  }

  private checkContent(
    operation: SpecOperation,
    declared: string,
    contentType: string | null,
    bytes: number,
    json: unknown,
    jsonProblem: string | null,
    violations: string[],
  ): void {
    const type = mediaType(contentType);
    const content = operation.responses[declared]?.content;
    const declaredTypes = Object.keys(content ?? {});
    if (declaredTypes.length === 0) {
      if (bytes > 0) {
        violations.push(`${declared} declares no body, yet ${bytes} bytes came`);
      }
      return;
    }
    if (bytes === 0 && type === null) {
      if (!declaredTypes.includes("*/*")) {
        violations.push(`the body is empty, but ${declared} declares ${declaredTypes.join(", ")}`);
      }
      return;
    }
    const media = declaredMedia(declaredTypes, type, contentType);
    if (media === null) {
      violations.push(
        `content type ${contentType ?? "(none)"} is not declared (${declaredTypes.join(", ")})`,
      );
      return;
    }
    const schema = content?.[media]?.schema;
    if (!isJsonType(type) || isEmptySchema(schema)) {
      return;
    }
    if (jsonProblem !== null) {
      violations.push(jsonProblem);
      return;
    }
    if (bytes === 0) {
      violations.push(`the body is empty, but ${declared} declares a ${media} body`);
      return;
    }
    for (const problem of this.validate(schema as JsonSchema, json)) {
      violations.push(`the body does not match the schema of ${declared} ${media}: ${problem}`);
    }
  }

  /** Holds a gateway error to the Error shape, its status and its request id. */
  private checkError(
    status: number,
    headers: Headers,
    json: unknown,
    jsonProblem: string | null,
    violations: string[],
  ): ErrorBody | null {
    if (mediaType(headers.get("content-type")) !== "application/json") {
      violations.push(
        `a gateway error must be application/json, got ${headers.get("content-type") ?? "nothing"}`,
      );
      return null;
    }
    if (jsonProblem !== null || json === undefined) {
      violations.push(jsonProblem ?? "a gateway error must have a body");
      return null;
    }
    const problems = this.validate({ $ref: "#/components/schemas/Error" }, json);
    for (const problem of problems) {
      violations.push(`not the Error shape: ${problem}`);
    }
    if (problems.length > 0) {
      return null;
    }
    const error = json as ErrorBody;
    if (error.statusCode !== status) {
      violations.push(`Error.statusCode is ${error.statusCode}, the status is ${status}`);
    }
    if (ERROR_STATUSES[error.code] !== status) {
      violations.push(`${error.code} belongs with ${ERROR_STATUSES[error.code]}, not ${status}`);
    }
    const requestId = headers.get("x-request-id");
    if (error.requestId !== undefined && requestId !== null && error.requestId !== requestId) {
      violations.push(`Error.requestId ${error.requestId} differs from X-Request-Id ${requestId}`);
    }
    return error;
  }
}

/**
 * Reading the spec: the one loader of openapi.yaml's structure that codegen and the contract suite
 * share. `$ref`s are resolved here (OAS 3.1 §4.8.23), an operation's parameters are merged here
 * (path-level, overridden by operation-level ones of the same name and location, §4.8.9), and the
 * project's vocabulary (x-runtimes, x-idempotent, x-catch-all, the Error shape of every 4xx/5xx, the
 * status of every error code) is checked here, once.
 */

const METHODS = ["get", "post", "put", "patch", "delete"] as const;
export const RUNTIMES = ["edge", "node"] as const;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
type Method = (typeof METHODS)[number];
export type Runtime = (typeof RUNTIMES)[number];

/** One operation of the spec, resolved and checked: the row of the generated operation table. */
export interface OperationRow {
  operationId: string;
  method: Uppercase<Method>;
  path: string;
  fastifyPath: string;
  ittyPath: string;
  runtimes: Runtime[];
  idempotent: boolean;
  acceptsIdempotencyKey: boolean;
  security: string[][];
  tags: string[];
  pathParams: string[];
  catchAll: string | null;
  freeFormQuery: boolean;
  headerParams: string[];
  body: { required: boolean; contentTypes: string[]; raw: boolean } | null;
  websocket: boolean;
  responses: string[];
  successResponses: SuccessResponse[];
}

/** How a 1xx-3xx (or `2XX`/`default`) response is returned by a handler. */
type SuccessResponse =
  | { status: string; kind: "json"; contentType: string }
  | { status: string; kind: "raw"; contentTypes: string[] }
  | { status: string; kind: "empty" }
  | { status: string; kind: "passthrough" };

export interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: JsonObject;
  style?: string;
  explode?: boolean;
  "x-catch-all"?: boolean;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Follows a local `$ref` (`#/components/...`), as OAS 3.1 §4.8.23 Reference Object allows. */
export function deref<T>(spec: JsonObject, value: unknown): T {
  let current = value;
  const seen = new Set<string>();
  while (isObject(current) && typeof current.$ref === "string") {
    const ref = current.$ref;
    if (!ref.startsWith("#/") || seen.has(ref)) {
      throw new Error(`unsupported or circular $ref ${ref}`);
    }
    seen.add(ref);
    current = ref
      .slice(2)
      .split("/")
      .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
      .reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), spec);
    if (current === undefined) {
      throw new Error(`unresolved $ref ${ref}`);
    }
  }
  return current as T;
}

/**
 * The parameters of one operation: the path item's, overridden by the operation's own with the same
 * name and location (OAS 3.1 §4.8.9), each `$ref` resolved.
 */
export function operationParameters(
  spec: JsonObject,
  pathItem: JsonObject,
  operation: JsonObject,
): Parameter[] {
  const byKey = new Map<string, Parameter>();
  for (const raw of [
    ...(Array.isArray(pathItem.parameters) ? pathItem.parameters : []),
    ...(Array.isArray(operation.parameters) ? operation.parameters : []),
  ]) {
    const param = deref<Parameter>(spec, raw);
    byKey.set(`${param.in}:${param.name}`, param);
  }
  return [...byKey.values()];
}

/**
 * Whether a parameter stands for the query's unknown parameters, passed on by pass-through operations:
 * a form-exploded free-form object (OAS 3.1 §4.8.12.4.1), not a key of the query itself.
 */
export function isFreeFormQuery(param: Parameter): boolean {
  return (
    param.in === "query" &&
    param.style === "form" &&
    param.explode === true &&
    param.schema?.type === "object"
  );
}

/** The path item and operation object of a row, `$ref`s resolved. */
export function operationObject(
  spec: JsonObject,
  row: Pick<OperationRow, "path" | "method">,
): {
  pathItem: JsonObject;
  operation: JsonObject;
} {
  const pathItem = deref<JsonObject>(spec, (spec.paths as JsonObject)[row.path]);
  return { pathItem, operation: pathItem[row.method.toLowerCase()] as JsonObject };
}

function toFastifyPath(path: string, catchAll: string | null): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === catchAll ? "*" : `:${name}`));
}

function toIttyPath(path: string, catchAll: string | null): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === catchAll ? `:${name}+` : `:${name}`));
}

/** Reads every operation, checks the project's vocabulary and returns the table rows in spec order. */
export function readOperations(spec: JsonObject): OperationRow[] {
  const problems: string[] = [];
  const rows: OperationRow[] = [];
  const seenIds = new Set<string>();
  const paths = isObject(spec.paths) ? spec.paths : {};
  for (const [path, rawItem] of Object.entries(paths)) {
    const item = deref<JsonObject>(spec, rawItem);
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) {
        continue;
      }
      const where = `${method.toUpperCase()} ${path}`;
      const operationId = typeof op.operationId === "string" ? op.operationId : "";
      if (!/^[a-z][A-Za-z0-9]*$/.test(operationId)) {
        problems.push(`${where}: operationId must be a camelCase name, got "${operationId}"`);
      }
      if (seenIds.has(operationId)) {
        problems.push(`${where}: operationId ${operationId} is used twice`);
      }
      seenIds.add(operationId);

      const runtimes = op["x-runtimes"];
      if (
        !Array.isArray(runtimes) ||
        runtimes.length === 0 ||
        !runtimes.every((r) => RUNTIMES.includes(r as Runtime))
      ) {
        problems.push(`${where}: x-runtimes must be a non-empty list of ${RUNTIMES.join(", ")}`);
      }
      const idempotent = op["x-idempotent"];
      if (typeof idempotent !== "boolean") {
        problems.push(`${where}: x-idempotent must be true or false`);
      }

      const params = operationParameters(spec, item, op);
      const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
      const catchAllParams = params.filter((p) => p.in === "path" && p["x-catch-all"] === true);
      if (catchAllParams.length > 1) {
        problems.push(`${where}: at most one x-catch-all path parameter`);
      }
      const catchAll = catchAllParams[0]?.name ?? null;
      if (catchAll !== null && !path.endsWith(`{${catchAll}}`)) {
        problems.push(`${where}: the x-catch-all parameter {${catchAll}} must be the last path segment`);
      }
      // The SDK tells a catch-all template by its ending `{path}`, which keeps the browser bundle
      // free of a list of them; and only a catch-all may end so.
      if ((catchAll !== null && catchAll !== "path") || (catchAll === null && path.endsWith("{path}"))) {
        problems.push(
          `${where}: a path ending in {path} is a catch-all (x-catch-all), and a catch-all is named {path}`,
        );
      }
      for (const name of pathParams) {
        if (!params.some((p) => p.in === "path" && p.name === name)) {
          problems.push(`${where}: path parameter {${name}} is not declared`);
        }
      }
      const headerParams = params.filter((p) => p.in === "header").map((p) => p.name.toLowerCase());
      const acceptsIdempotencyKey = headerParams.includes("idempotency-key");
      if (idempotent === false && !acceptsIdempotencyKey) {
        problems.push(`${where}: a non-idempotent operation must accept the Idempotency-Key header`);
      }
      const freeFormQuery = params.some(isFreeFormQuery);

      let body: OperationRow["body"] = null;
      if (op.requestBody !== undefined) {
        const requestBody = deref<JsonObject>(spec, op.requestBody);
        const content = isObject(requestBody.content) ? requestBody.content : {};
        const contentTypes = Object.keys(content);
        body = { required: requestBody.required === true, contentTypes, raw: contentTypes.includes("*/*") };
      }

      const responses = isObject(op.responses) ? op.responses : {};
      const successResponses: SuccessResponse[] = [];
      for (const [status, rawResponse] of Object.entries(responses)) {
        const response = deref<JsonObject>(spec, rawResponse);
        const content = isObject(response.content) ? response.content : {};
        const types = Object.keys(content);
        const isError = /^[45]/.test(status);
        if (isError) {
          const schema = isObject(content["application/json"])
            ? content["application/json"].schema
            : undefined;
          if (!isObject(schema) || schema.$ref !== "#/components/schemas/Error" || types.length !== 1) {
            problems.push(`${where}: response ${status} must be application/json with the Error schema`);
          }
          continue;
        }
        if (status === "101") {
          continue;
        }
        if (status === "2XX" || status === "default") {
          successResponses.push({ status, kind: "passthrough" });
        } else if (types.length === 0) {
          successResponses.push({ status, kind: "empty" });
        } else if (types.length === 1 && types[0] === "application/json") {
          successResponses.push({ status, kind: "json", contentType: "application/json" });
        } else {
          successResponses.push({ status, kind: "raw", contentTypes: types });
        }
      }
      const websocket = op["x-websocket"] !== undefined;
      const runtimeList = (Array.isArray(runtimes) ? runtimes : []) as Runtime[];
      if (!runtimeList.includes("edge") && !("501" in responses)) {
        problems.push(`${where}: an operation the edge does not serve must declare the 501 it answers there`);
      }
      const security = Array.isArray(op.security)
        ? op.security
        : Array.isArray(spec.security)
          ? spec.security
          : [];
      rows.push({
        operationId,
        method: method.toUpperCase() as Uppercase<Method>,
        path,
        fastifyPath: toFastifyPath(path, catchAll),
        ittyPath: toIttyPath(path, catchAll),
        runtimes: RUNTIMES.filter((r) => runtimeList.includes(r)),
        idempotent: idempotent === true,
        acceptsIdempotencyKey,
        security: security.filter(isObject).map((requirement) => Object.keys(requirement)),
        tags: Array.isArray(op.tags) ? op.tags.map(String) : [],
        pathParams,
        catchAll,
        freeFormQuery,
        headerParams,
        body,
        websocket,
        responses: Object.keys(responses),
        successResponses,
      });
    }
  }
  if (problems.length > 0) {
    throw new Error(`openapi.yaml breaks the project's rules:\n  - ${problems.join("\n  - ")}`);
  }
  return rows;
}

/** One value of the spec's `ErrorCode` enum with its HTTP status (`x-error-statuses`). */
export interface ErrorCodeRow {
  readonly code: string;
  readonly status: number;
}

/**
 * The spec's error codes with their statuses: `ErrorCode.enum`, and `x-error-statuses` naming each
 * code's one HTTP status (4xx or 5xx). A code without a status, a status for no code, or a status
 * that is not an error status is a problem naming the code.
 */
export function readErrorCodes(spec: JsonObject): ErrorCodeRow[] {
  const schema = deref<JsonObject>(spec, { $ref: "#/components/schemas/ErrorCode" });
  const codes = Array.isArray(schema.enum) ? schema.enum.map(String) : [];
  const statuses = isObject(schema["x-error-statuses"]) ? schema["x-error-statuses"] : {};
  const problems: string[] = [];
  for (const code of codes) {
    const status = statuses[code];
    if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599) {
      problems.push(`ErrorCode ${code}: x-error-statuses must give it an HTTP status from 400 to 599`);
    }
  }
  for (const code of Object.keys(statuses)) {
    if (!codes.includes(code)) {
      problems.push(`ErrorCode: x-error-statuses names ${code}, which the enum does not have`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`openapi.yaml breaks the project's rules:\n  - ${problems.join("\n  - ")}`);
  }
  return codes.map((code) => ({ code, status: statuses[code] as number }));
}

/**
 * The spec as the contract suite reads it: `generated/openapi.json` (openapi.yaml converted by
 * codegen) joined to the generated operation table, and a matcher from a request's method and path to
 * the operation that answers it. `$ref`s are resolved and parameters merged by codegen's own reader
 * (`@n2store/scripts/spec`), so the suite cannot read the spec differently from what was generated.
 */
import { createRequire } from "node:module";
import {
  type OperationId,
  type OperationSpec,
  operationIds,
  operations,
  type Runtime,
} from "@n2store/generated";
import { deref, type JsonObject, operationParameters } from "@n2store/scripts/spec";

/** A JSON Schema of the spec (OpenAPI 3.1: JSON Schema 2020-12 plus `discriminator`). */
export type JsonSchema = boolean | SchemaObject;
/** A JSON Schema object; only the keywords the suite reads are named. */
export interface SchemaObject {
  readonly $ref?: string;
  readonly type?: string | readonly string[];
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly format?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: JsonSchema;
  readonly minProperties?: number;
  readonly oneOf?: readonly JsonSchema[];
  readonly anyOf?: readonly JsonSchema[];
  readonly default?: unknown;
  readonly [keyword: string]: unknown;
}

/** One media type of a request body or a response. */
interface MediaTypeObject {
  readonly schema?: JsonSchema;
}
/** A response of an operation, `$ref`s resolved. */
interface ResponseObject {
  readonly description?: string;
  readonly content?: Readonly<Record<string, MediaTypeObject>>;
}
/** A parameter of an operation, `$ref`s resolved. */
export interface ParameterObject {
  readonly name: string;
  readonly in: "path" | "query" | "header" | "cookie";
  readonly required?: boolean;
  readonly schema?: JsonSchema;
  readonly style?: string;
  readonly explode?: boolean;
  readonly "x-catch-all"?: boolean;
}
/** A request body, `$ref`s resolved. */
interface RequestBodyObject {
  readonly required?: boolean;
  readonly content: Readonly<Record<string, MediaTypeObject>>;
}

interface Ref {
  readonly $ref: string;
}
type Maybe<T> = T | Ref;
interface RawOperation {
  readonly operationId: string;
  readonly requestBody?: Maybe<RequestBodyObject>;
  readonly responses: Readonly<Record<string, Maybe<ResponseObject>>>;
}
type RawPathItem = Readonly<Record<string, unknown>>;

/** The parts of the OpenAPI document the suite reads. */
export interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Readonly<Record<string, RawPathItem>>;
  readonly components: {
    readonly schemas: Readonly<Record<string, JsonSchema>>;
    readonly [section: string]: Readonly<Record<string, unknown>>;
  };
}

const require = createRequire(import.meta.url);
/** `generated/openapi.json`, as codegen wrote it. */
export const openapi = require("@n2store/generated/openapi.json") as OpenApiDocument;

/** The document as codegen's reader takes it: plain JSON, which `openapi` is (read from JSON). */
const document = openapi as unknown as JsonObject;

/** The object a local `$ref` (`#/components/responses/X`) points at, following chains of refs. */
export function resolveRef<T>(value: Maybe<T>): T {
  return deref<T>(document, value);
}

/** One operation as the suite needs it: the generated row and its resolved OpenAPI object. */
export interface SpecOperation {
  readonly id: OperationId;
  readonly spec: OperationSpec;
  /** Path-level and operation-level parameters, resolved (the operation's win on a name clash). */
  readonly parameters: readonly ParameterObject[];
  readonly requestBody: RequestBodyObject | null;
  /** Declared responses by status key (`200`, `2XX`, `default`), resolved. */
  readonly responses: Readonly<Record<string, ResponseObject>>;
}

function load(id: OperationId): SpecOperation {
  const spec: OperationSpec = operations[id];
  const item = openapi.paths[spec.path];
  const raw = item?.[spec.method.toLowerCase()] as RawOperation | undefined;
  if (item === undefined || raw === undefined || raw.operationId !== id) {
    throw new Error(`openapi.json has no ${spec.method} ${spec.path} for ${id}; run npm run codegen`);
  }
  // Codegen's Parameter types a schema as plain JSON; here it is the suite's JsonSchema, same values.
  const parameters = operationParameters(
    document,
    item as JsonObject,
    raw as unknown as JsonObject,
  ) as readonly ParameterObject[];
  const responses: Record<string, ResponseObject> = {};
  for (const [status, response] of Object.entries(raw.responses)) {
    responses[status] = resolveRef(response);
  }
  return {
    id,
    spec,
    parameters,
    requestBody: raw.requestBody === undefined ? null : resolveRef(raw.requestBody),
    responses,
  };
}

/** Every operation of the spec, in spec order. */
export const specOperations: readonly SpecOperation[] = operationIds.map(load);
const byId = new Map(specOperations.map((operation) => [operation.id, operation]));

/** The operation with this id. */
export function specOperation(id: OperationId): SpecOperation {
  const operation = byId.get(id);
  if (operation === undefined) {
    throw new Error(`unknown operation ${id}`);
  }
  return operation;
}

/** Whether `runtime` serves the operation (`x-runtimes`). */
export function servedBy(operation: OperationSpec, runtime: Runtime): boolean {
  return (operation.runtimes as readonly string[]).includes(runtime);
}

/**
 * Pass-through operations answer with the upstream's own status and body (`2XX` and `default` are
 * `Passthrough` responses with an empty schema); their other declared statuses are the gateway's.
 */
export function isPassthrough(operation: SpecOperation): boolean {
  return operation.responses.default !== undefined;
}

interface Matcher {
  readonly operation: SpecOperation;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  /** Literal characters of the template: literal paths win over templated ones. */
  readonly weight: number;
}

const matchers: readonly Matcher[] = specOperations
  .map((operation) => {
    const names: string[] = [];
    const source = operation.spec.path
      .split(/(\{[^}]+\})/)
      .map((part) => {
        const name = /^\{(.+)\}$/.exec(part)?.[1];
        if (name === undefined) {
          return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        }
        names.push(name);
        return name === operation.spec.catchAll ? "(.+)" : "([^/]+)";
      })
      .join("");
    return {
      operation,
      pattern: new RegExp(`^${source}$`),
      names,
      weight: operation.spec.path.replace(/\{[^}]+\}/g, "").length,
    };
  })
  .sort((a, b) => b.weight - a.weight);

/**
 * The operation a request goes to, by method and (still percent-encoded) path, with its raw path
 * parameters; null when no operation of the spec has this method and path.
 */
export function matchOperation(
  method: string,
  pathname: string,
): { operation: SpecOperation; params: Record<string, string> } | null {
  for (const matcher of matchers) {
    if (matcher.operation.spec.method !== method.toUpperCase()) {
      continue;
    }
    const match = matcher.pattern.exec(pathname);
    if (match !== null) {
      const params: Record<string, string> = {};
      matcher.names.forEach((name, index) => {
        params[name] = match[index + 1] ?? "";
      });
      return { operation: matcher.operation, params };
    }
  }
  return null;
}

/** generated/operations.ts: the operation table, the handler types and the error codes. */
import {
  type ErrorCodeRow,
  type JsonObject,
  type OperationRow,
  operationObject,
  operationParameters,
  type Parameter,
} from "./spec.js";
import { BANNER, literal, template } from "./text.js";

function jsonBodyType(opId: string, contentType: string, required: boolean): string {
  const requestBody = `SpecOperations["${opId}"]["requestBody"]`;
  return `${required ? `NonNullable<${requestBody}>` : requestBody}["content"]["${contentType}"]`;
}

function operationTypes(spec: JsonObject, rows: OperationRow[]): string {
  const lines: string[] = [];
  lines.push("/** The validated input and the allowed results of every operation, by operationId. */");
  lines.push("export interface OperationTypes {");
  for (const row of rows) {
    const params = `SpecOperations["${row.operationId}"]["parameters"]`;
    const path = row.pathParams.length > 0 ? `NonNullable<${params}["path"]>` : "Record<string, never>";
    const queryBase = `NonNullable<${params}["query"]>`;
    const hasQuery = hasParams(spec, row, "query");
    const query = !hasQuery
      ? "Record<string, never>"
      : row.freeFormQuery
        ? `Omit<${queryBase}, "passthrough">`
        : queryBase;
    const headers =
      row.headerParams.length > 0
        ? `{ ${row.headerParams.map((name) => `readonly "${name}"?: string`).join("; ")} }`
        : "Record<string, never>";
    let body = "undefined";
    if (row.body !== null) {
      // A body the spec declares in several media types is any one of them (a JSON body of
      // /api/token may be a company request, which its form cannot).
      const typed = row.body.contentTypes.filter((t) => t !== "*/*");
      if (row.body.raw) {
        body = "RawBody | null";
      } else if (typed.length > 0) {
        body = typed
          .map((type) => jsonBodyType(row.operationId, type, row.body?.required === true))
          .join(" | ");
        if (!row.body.required) {
          body = `${body} | undefined`;
        }
      }
    }
    const results = row.successResponses.map((response): string => {
      const status = Number(response.status);
      if (response.kind === "json") {
        return `JsonResult<${status}, SpecOperations["${row.operationId}"]["responses"][${status}]["content"]["application/json"]>`;
      }
      if (response.kind === "raw") {
        return `RawResult<${status}>`;
      }
      return response.kind === "empty" ? `EmptyResult<${status}>` : "PassthroughResult";
    });
    const result = [...new Set(results)].join(" | ") || "never";
    lines.push(`  ${row.operationId}: {`);
    lines.push(`    path: ${path};`);
    lines.push(`    query: ${query};`);
    lines.push(`    headers: ${headers};`);
    lines.push(`    body: ${body};`);
    lines.push(`    result: ${result};`);
    lines.push("  };");
  }
  lines.push("}");
  return lines.join("\n");
}

function hasParams(spec: JsonObject, row: OperationRow, location: Parameter["in"]): boolean {
  const { pathItem, operation } = operationObject(spec, row);
  return operationParameters(spec, pathItem, operation).some((param) => param.in === location);
}

export function operationsModule(
  spec: JsonObject,
  rows: OperationRow[],
  errorCodes: readonly ErrorCodeRow[],
): string {
  const table = rows
    .map((row) => {
      const fields: [string, unknown][] = [
        ["operationId", row.operationId],
        ["method", row.method],
        ["path", row.path],
        ["fastifyPath", row.fastifyPath],
        ["ittyPath", row.ittyPath],
        ["runtimes", row.runtimes],
        ["idempotent", row.idempotent],
        ["acceptsIdempotencyKey", row.acceptsIdempotencyKey],
        ["security", row.security],
        ["tags", row.tags],
        ["pathParams", row.pathParams],
        ["catchAll", row.catchAll],
        ["freeFormQuery", row.freeFormQuery],
        ["headerParams", row.headerParams],
        ["body", row.body],
        ["websocket", row.websocket],
        ["responses", row.responses],
      ];
      return `  ${row.operationId}: {\n${fields.map(([k, v]) => `    ${k}: ${literal(v)},`).join("\n")}\n  },`;
    })
    .join("\n");
  const info = spec.info as JsonObject;
  const idsWhere = (predicate: (row: OperationRow) => boolean) =>
    rows
      .filter(predicate)
      .map((row) => literal(row.operationId))
      .join(", ");
  return `${BANNER}${template("operations-prelude.ts")}
/** \`info.version\` of the spec: the API version both servers report in \`/health\`. */
export const API_VERSION = ${literal(info.version)};

/** Every operation of the spec, in spec order. */
export const operations = {
${table}
} as const satisfies Record<string, OperationSpec>;

/** An operationId of the spec. */
export type OperationId = keyof typeof operations;
/** Every operationId, in spec order (the order the routers register them). */
export const operationIds: readonly OperationId[] = [${idsWhere(() => true)}];
/** Operations served over plain HTTP (everything but WebSockets). */
export const httpOperationIds = [${idsWhere((row) => !row.websocket)}] as const;
/** An operation served over plain HTTP. */
export type HttpOperationId = (typeof httpOperationIds)[number];
/** HTTP operations the edge Worker serves. */
export const edgeHttpOperationIds = [${idsWhere((row) => !row.websocket && row.runtimes.includes("edge"))}] as const;
/** An HTTP operation the edge Worker serves. */
export type EdgeHttpOperationId = (typeof edgeHttpOperationIds)[number];
/** HTTP operations the Node server serves. */
export const nodeHttpOperationIds = [${idsWhere((row) => !row.websocket && row.runtimes.includes("node"))}] as const;
/** An HTTP operation the Node server serves. */
export type NodeHttpOperationId = (typeof nodeHttpOperationIds)[number];

/** The values of the spec's \`ErrorCode\` enum, in spec order. */
export const ERROR_CODE_VALUES = ${literal(errorCodes.map((row) => row.code))} as const satisfies readonly ErrorCode[];

/** The one HTTP status of every error code (\`x-error-statuses\` on the spec's \`ErrorCode\`). */
export const ERROR_STATUSES = {
${errorCodes.map((row) => `  ${row.code}: ${row.status},`).join("\n")}
} as const satisfies Record<ErrorCode, number>;

${operationTypes(spec, rows)}
`;
}

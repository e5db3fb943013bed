import { describe, expect, it } from "vitest";
import { readOperations } from "../codegen/index.js";

type Spec = Parameters<typeof readOperations>[0];
type Operation = Record<string, unknown>;

const ERROR = { content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };

/**
 * The smallest spec the operation reader accepts: one path with one GET, shared parts under
 * components. `change` rewrites the operation; `path` and `pathItem` place it elsewhere.
 */
function spec(
  change: (operation: Operation) => void = () => {},
  { path = "/things/{id}", pathItem = {} }: { path?: string; pathItem?: Record<string, unknown> } = {},
): Spec {
  const operation: Operation = {
    operationId: "getThing",
    "x-runtimes": ["edge", "node"],
    "x-idempotent": true,
    parameters: [{ $ref: "#/components/parameters/Id" }],
    responses: {
      "200": { content: { "application/json": { schema: { type: "object" } } } },
      "400": { $ref: "#/components/responses/BadRequest" },
    },
  };
  change(operation);
  return {
    openapi: "3.1.0",
    paths: { [path]: { ...pathItem, get: operation } },
    components: {
      schemas: { Error: { type: "object" } },
      parameters: {
        Id: { name: "id", in: "path", required: true, schema: { type: "string" } },
        Key: { name: "Idempotency-Key", in: "header", schema: { type: "string" } },
      },
      responses: { BadRequest: ERROR },
    },
  } as unknown as Spec;
}

describe("readOperations", () => {
  it("reads an operation into its table row, $refs resolved", () => {
    const [row] = readOperations(spec());
    expect(row).toMatchObject({
      operationId: "getThing",
      method: "GET",
      path: "/things/{id}",
      fastifyPath: "/things/:id",
      ittyPath: "/things/:id",
      runtimes: ["edge", "node"],
      idempotent: true,
      acceptsIdempotencyKey: false,
      pathParams: ["id"],
      catchAll: null,
      freeFormQuery: false,
      body: null,
      responses: ["200", "400"],
      successResponses: [{ status: "200", kind: "json", contentType: "application/json" }],
    });
  });

  it("maps a catch-all to Fastify's * and itty-router's :path+", () => {
    const catchAll = { name: "path", in: "path", required: true, schema: { type: "string" } };
    const [row] = readOperations(
      spec(
        (op) => {
          op.parameters = [{ ...catchAll, "x-catch-all": true }];
        },
        { path: "/api/rest/{path}" },
      ),
    );
    expect(row).toMatchObject({ fastifyPath: "/api/rest/*", ittyPath: "/api/rest/:path+", catchAll: "path" });
  });

  it("lets an operation's parameter override the path item's of the same name and place", () => {
    const [row] = readOperations(
      spec(
        (op) => {
          op.parameters = [
            { $ref: "#/components/parameters/Id" },
            { name: "If-Match", in: "header", schema: { type: "string" } },
          ];
        },
        {
          pathItem: {
            parameters: [
              { name: "id", in: "path", required: true, schema: { type: "integer" } },
              { name: "If-Match", in: "header", schema: { type: "integer" } },
              { name: "X-Trace", in: "header", schema: { type: "string" } },
            ],
          },
        },
      ),
    );
    // Each declared twice (path item and operation) is read once; the path item's own one stays.
    expect(row?.pathParams).toEqual(["id"]);
    expect(row?.headerParams).toEqual(["if-match", "x-trace"]);
  });

  it("tells a free-form query only when it is a form-exploded object", () => {
    const query = (extra: Record<string, unknown>) =>
      spec((op) => {
        op.parameters = [
          { $ref: "#/components/parameters/Id" },
          { name: "query", in: "query", schema: { type: "object" }, ...extra },
        ];
      });
    expect(readOperations(query({ style: "form", explode: true }))[0]?.freeFormQuery).toBe(true);
    expect(readOperations(query({ style: "form" }))[0]?.freeFormQuery).toBe(false);
    expect(readOperations(query({ style: "deepObject", explode: true }))[0]?.freeFormQuery).toBe(false);
  });

  it("sorts success responses by how a handler returns them", () => {
    const [row] = readOperations(
      spec((op) => {
        op.responses = {
          "200": { content: { "application/json": {} } },
          "204": { description: "nothing" },
          "206": { content: { "image/png": {}, "image/webp": {} } },
          "2XX": { content: { "*/*": {} } },
          "400": ERROR,
        };
      }),
    );
    expect(row?.successResponses).toEqual([
      { status: "200", kind: "json", contentType: "application/json" },
      { status: "204", kind: "empty" },
      { status: "206", kind: "raw", contentTypes: ["image/png", "image/webp"] },
      { status: "2XX", kind: "passthrough" },
    ]);
  });

  it.each<[string, (op: Operation) => void, string]>([
    [
      "no x-runtimes",
      (op) => {
        delete op["x-runtimes"];
      },
      "GET /things/{id}: x-runtimes must be a non-empty list of edge, node",
    ],
    [
      "an unknown runtime",
      (op) => {
        op["x-runtimes"] = ["edge", "lambda"];
      },
      "x-runtimes must be",
    ],
    [
      "no x-idempotent",
      (op) => {
        delete op["x-idempotent"];
      },
      "GET /things/{id}: x-idempotent must be true or false",
    ],
    [
      "a non-idempotent operation without the Idempotency-Key header",
      (op) => {
        op["x-idempotent"] = false;
      },
      "GET /things/{id}: a non-idempotent operation must accept the Idempotency-Key header",
    ],
    [
      "an operationId that is not camelCase",
      (op) => {
        op.operationId = "get-thing";
      },
      'operationId must be a camelCase name, got "get-thing"',
    ],
    [
      "an undeclared path parameter",
      (op) => {
        op.parameters = [];
      },
      "GET /things/{id}: path parameter {id} is not declared",
    ],
    [
      "an error response without the Error schema",
      (op) => {
        (op.responses as Record<string, unknown>)["404"] = { content: { "text/plain": {} } };
      },
      "GET /things/{id}: response 404 must be application/json with the Error schema",
    ],
    [
      "a node-only operation without the edge's 501",
      (op) => {
        op["x-runtimes"] = ["node"];
      },
      "an operation the edge does not serve must declare the 501 it answers there",
    ],
    [
      "a catch-all that is not named {path}",
      (op) => {
        op.parameters = [
          { name: "id", in: "path", required: true, schema: { type: "string" }, "x-catch-all": true },
        ];
      },
      "a path ending in {path} is a catch-all (x-catch-all), and a catch-all is named {path}",
    ],
  ])("refuses %s, naming the operation", (_what, change, message) => {
    expect(() => readOperations(spec(change))).toThrow(message);
  });

  it("accepts the non-idempotent operation once it takes the Idempotency-Key header", () => {
    const [row] = readOperations(
      spec((op) => {
        op["x-idempotent"] = false;
        op.parameters = [{ $ref: "#/components/parameters/Id" }, { $ref: "#/components/parameters/Key" }];
      }),
    );
    expect(row).toMatchObject({ idempotent: false, acceptsIdempotencyKey: true });
  });

  it("refuses an operationId used twice and reports every problem at once", () => {
    const twice = spec((op) => {
      delete op["x-idempotent"];
    });
    const get = Object.values(twice.paths as Record<string, { get: unknown }>)[0]?.get;
    const both = { ...twice, paths: { ...(twice.paths as object), "/other/{id}": { get } } } as Spec;
    expect(() => readOperations(both)).toThrow(
      /GET \/things\/\{id\}: x-idempotent[\s\S]*GET \/other\/\{id\}: operationId getThing is used twice/,
    );
  });
});

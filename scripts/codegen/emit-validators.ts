/** generated/validators/: request validators as Ajv standalone code (no eval or new Function at run time). */
import Ajv2020Module from "ajv/dist/2020.js";
import standaloneCodeModule from "ajv/dist/standalone/index.js";
import addFormatsModule from "ajv-formats";
import {
  deref,
  isFreeFormQuery,
  isObject,
  type Json,
  type JsonObject,
  type OperationRow,
  operationObject,
  operationParameters,
} from "./spec.js";
import { BANNER, literal, template } from "./text.js";

// The CJS default exports of ajv and ajv-formats, as seen from ESM.
const Ajv2020 = Ajv2020Module.default;
const standaloneCode = standaloneCodeModule.default;
const addFormats = addFormatsModule.default;

function rewriteRefs(value: Json): Json {
  if (Array.isArray(value)) {
    return value.map(rewriteRefs);
  }
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string" && inner.startsWith("#/components/schemas/")) {
        out[key] = `n2store#/$defs/${inner.slice("#/components/schemas/".length)}`;
      } else if (key === "examples" || key === "example") {
        // Examples are documentation; leave them out of the validator code.
      } else if (key === "discriminator" && isObject(inner)) {
        // Ajv's discriminator takes propertyName only; the mapping is for type generators.
        out[key] = { propertyName: inner.propertyName ?? null };
      } else {
        out[key] = rewriteRefs(inner);
      }
    }
    return out;
  }
  return value;
}

function newAjv(coerce: boolean) {
  const ajv = new Ajv2020({
    code: { source: true, esm: true, lines: true, optimize: true },
    allErrors: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    discriminator: true,
    useDefaults: true,
    coerceTypes: coerce,
  });
  addFormats(ajv, ["date", "date-time", "email", "uri"]);
  ajv.addFormat("binary", true);
  return ajv;
}

/**
 * Ajv's ESM standalone output still says `require(...)` for its runtime helpers; turn those into
 * namespace imports so the module loads as ESM in Node, under vitest and in the Worker bundle.
 * Loaders disagree on what a CommonJS module's default import is (Node: module.exports; Babel-style
 * interop: exports.default), so `cjs()` normalises the namespace to module.exports either way.
 */
function toEsm(code: string): string {
  const imports = new Map<string, string>();
  const body = code.replace(/require\("([^"]+)"\)/g, (_, specifier: string) => {
    const file = specifier.endsWith(".js") ? specifier : `${specifier}.js`;
    let name = imports.get(file);
    if (name === undefined) {
      name = `runtime${imports.size}`;
      imports.set(file, name);
    }
    return name;
  });
  const header = [...imports]
    .map(
      ([file, name]) =>
        `import * as ${name}Namespace from ${literal(file)};\nconst ${name} = cjs(${name}Namespace);`,
    )
    .join("\n");
  const interop =
    "function cjs(namespace) {\n" +
    "  const value = namespace.default ?? namespace;\n" +
    '  return value.__esModule || value.default !== undefined || typeof value !== "function" ? value : { default: value };\n' +
    "}";
  return `${interop}\n${header}\n${body.replace(/^"use strict";/, "")}`;
}

interface ValidatorPlan {
  params: Map<string, JsonObject>;
  bodies: Map<string, JsonObject>;
  index: string[];
}

/**
 * Decides which validators to compile. Identical schemas (the catch-all path parameter of every
 * pass-through operation, say) share one compiled function, which keeps the Worker bundle small.
 */
function validatorPlan(spec: JsonObject, rows: OperationRow[]): ValidatorPlan {
  const params = new Map<string, JsonObject>();
  const bodies = new Map<string, JsonObject>();
  const byShape = new Map<string, string>();
  const share = (pool: Map<string, JsonObject>, name: string, schema: JsonObject): string => {
    const shape = `${pool === params ? "p" : "b"}:${JSON.stringify(schema)}`;
    const existing = byShape.get(shape);
    if (existing !== undefined) {
      return existing;
    }
    byShape.set(shape, name);
    pool.set(name, schema);
    return name;
  };
  const index: string[] = [];
  for (const row of rows) {
    const { pathItem, operation: op } = operationObject(spec, row);
    const parameters = operationParameters(spec, pathItem, op);
    const entry: string[] = [];
    for (const location of ["path", "query", "header"] as const) {
      // The free-form pass-through parameter is not a real key of the query: leave it out.
      const declared = parameters.filter((p) => p.in === location && !isFreeFormQuery(p));
      if (declared.length === 0) {
        continue;
      }
      const properties: JsonObject = {};
      const required: string[] = [];
      for (const p of declared) {
        const name = location === "header" ? p.name.toLowerCase() : p.name;
        properties[name] = rewriteRefs(p.schema ?? {});
        if (p.required) {
          required.push(name);
        }
      }
      // Unknown query parameters are ignored (and passed on by pass-through operations); unknown
      // headers are always allowed, since browsers and proxies add their own.
      const schema: JsonObject = { type: "object", properties, additionalProperties: true };
      if (required.length > 0) {
        schema.required = required;
      }
      const name = share(params, `${row.operationId}_${location}`, schema);
      entry.push(`${location === "header" ? "headers" : location}: params.${name}`);
    }
    if (row.body !== null && !row.body.raw) {
      const requestBody = deref<JsonObject>(spec, op.requestBody);
      const content = requestBody.content as JsonObject;
      const bodyEntries: string[] = [];
      row.body.contentTypes.forEach((contentType, i) => {
        const media = content[contentType] as JsonObject;
        const name = share(
          bodies,
          `${row.operationId}_body${i}`,
          rewriteRefs(media.schema ?? {}) as JsonObject,
        );
        bodyEntries.push(`${literal(contentType)}: bodies.${name}`);
      });
      entry.push(`body: { ${bodyEntries.join(", ")} }`);
    }
    index.push(`  ${row.operationId}: { ${entry.join(", ")} },`);
  }
  return { params, bodies, index };
}

function standalone(
  spec: JsonObject,
  schemas: Map<string, JsonObject>,
  coerce: boolean,
  extra: Map<string, string>,
) {
  const ajv = newAjv(coerce);
  const components = (spec.components as JsonObject).schemas as JsonObject;
  ajv.addSchema({ $id: "n2store", $defs: rewriteRefs(components) as JsonObject });
  const exports: Record<string, string> = {};
  for (const [key, schema] of schemas) {
    ajv.addSchema(schema, key);
    exports[key] = key;
  }
  for (const [key, ref] of extra) {
    exports[key] = ref;
  }
  return toEsm(standaloneCode(ajv, exports));
}

export function validatorModules(spec: JsonObject, rows: OperationRow[]): Record<string, string> {
  const plan = validatorPlan(spec, rows);
  const realtime = new Map([["RealtimeClientMessage", "n2store#/$defs/RealtimeClientMessage"]]);
  const header = BANNER;
  return {
    "validators/params.js": `${header}// Request path, query and header validators (strings coerced to the declared types).\n${standalone(spec, plan.params, true, new Map())}`,
    "validators/bodies.js": `${header}// Request body validators (no type coercion: JSON bodies must have the declared types).\n${standalone(spec, plan.bodies, false, realtime)}`,
    "validators/index.js": `${BANNER}import * as params from "./params.js";
import * as bodies from "./bodies.js";

/** The request validators of every operation; see index.d.ts. */
export const validators = {
${plan.index.join("\n")}
};

/** Validates a message a browser sends on the realtime socket. */
export const validateRealtimeClientMessage = bodies.RealtimeClientMessage;
`,
    "validators/index.d.ts": `${BANNER}${template("validators-index.d.ts")}`,
  };
}

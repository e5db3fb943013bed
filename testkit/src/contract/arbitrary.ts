/**
 * JSON Schema -> fast-check arbitraries, for the subset of JSON Schema the spec uses: `$ref`, `type`
 * (and type unions such as `[string, "null"]`), `const`, `enum`, `pattern` (`fc.stringMatching`),
 * `format: date`, length, value and item bounds, `uniqueItems`, `properties`/`required`/
 * `additionalProperties`/`minProperties`, `oneOf` and `anyOf`. Values stay inside the schema, but
 * reach for its corners: boundary numbers, huge integers, text with NUL, control and non-ASCII
 * characters. `invalidValue` gives values of the wrong type for the deliberately invalid requests.
 */
import fc from "fast-check";
import { type JsonSchema, resolveRef, type SchemaObject } from "./spec.js";

/** One character of generated text: mostly printable ASCII, some Vietnamese and emoji, a few controls. */
const textUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)) },
  { weight: 3, arbitrary: fc.constantFrom("ă", "â", "đ", "ê", "ô", "ơ", "ư", "Ệ", "ễ", "ữ", "中", "😀") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("\u0000", "\n", "\t", "\r", "\u001f", "\u007f", "\u2028", "\ufeff"),
  },
);

/** Generated text without a pattern, `minLength`..`maxLength` long (capped to keep requests small). */
export function text(minLength = 0, maxLength = minLength + 24): fc.Arbitrary<string> {
  return fc.string({
    unit: textUnit,
    minLength,
    maxLength: Math.max(minLength, Math.min(maxLength, minLength + 24)),
  });
}

function asObject(schema: JsonSchema): SchemaObject {
  if (schema === true) {
    return {};
  }
  if (schema === false) {
    throw new Error("a `false` schema has no values");
  }
  return schema.$ref === undefined ? schema : asObject(resolveRef<JsonSchema>(schema as never));
}

const SAFE = Number.MAX_SAFE_INTEGER;

function integers(schema: SchemaObject): fc.Arbitrary<number> {
  const min = schema.minimum ?? -SAFE;
  const max = schema.maximum ?? SAFE;
  const low = Math.max(min, -SAFE);
  const high = Math.min(max, SAFE);
  // Corners: the bounds themselves and, where the schema sets no maximum, integers JavaScript
  // cannot hold exactly (1e300 is an `integer` to JSON Schema).
  const corners = [low, high, 0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1e20, 1e300].filter(
    (value) => value >= min && value <= max,
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.integer({ min: Math.max(low, -1000), max: Math.min(high, Math.max(low, -1000) + 2000) }),
    },
    { weight: 3, arbitrary: fc.maxSafeInteger().filter((value) => value >= low && value <= high) },
    { weight: 2, arbitrary: fc.constantFrom(...corners) },
  );
}

function strings(schema: SchemaObject): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? Math.max(min, 64);
  const fits = (value: string) => value.length >= min && value.length <= max;
  if (schema.format === "date") {
    return fc
      .date({
        min: new Date("2000-01-01T00:00:00Z"),
        max: new Date("2099-12-31T00:00:00Z"),
        noInvalidDate: true,
      })
      .map((date) => date.toISOString().slice(0, 10));
  }
  if (schema.pattern !== undefined) {
    const pattern = new RegExp(schema.pattern);
    return fc
      .stringMatching(pattern)
      .map((value) => (value.length > max ? value.slice(0, max) : value))
      .filter((value) => fits(value) && pattern.test(value));
  }
  return text(min, max);
}

function objects(schema: SchemaObject, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(properties)) {
    model[name] = schemaArbitrary(property, depth + 1);
  }
  const declared = fc.record(model, { requiredKeys: [...required].filter((name) => name in model) });
  const extra = schema.additionalProperties;
  let arbitrary: fc.Arbitrary<Record<string, unknown>> = declared;
  if (extra !== undefined && extra !== false) {
    const values = extra === true ? fc.jsonValue({ maxDepth: 1 }) : schemaArbitrary(extra, depth + 1);
    const names = fc
      .string({ unit: textUnit, minLength: 1, maxLength: 10 })
      .filter((name) => !(name in model));
    arbitrary = fc
      .tuple(declared, fc.dictionary(names, values, { maxKeys: Object.keys(model).length === 0 ? 4 : 2 }))
      .map(([known, more]) => ({ ...more, ...known }));
  }
  const minProperties = schema.minProperties ?? 0;
  return minProperties > 0
    ? arbitrary.filter((value) => Object.keys(value).length >= minProperties)
    : arbitrary;
}

function ofType(type: string, schema: SchemaObject, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case "string":
      return strings(schema);
    case "integer":
      return integers(schema);
    case "number":
      return fc.double({
        noNaN: true,
        noDefaultInfinity: true,
        min: schema.minimum ?? -1e12,
        max: schema.maximum ?? 1e12,
      });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const items = schemaArbitrary(schema.items ?? true, depth + 1);
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.min(schema.maxItems ?? minLength + 4, minLength + 4);
      return schema.uniqueItems === true
        ? fc.uniqueArray(items, { minLength, maxLength, selector: (value) => JSON.stringify(value) })
        : fc.array(items, { minLength, maxLength });
    }
    case "object":
      return objects(schema, depth);
    default:
      throw new Error(`no arbitrary for JSON Schema type ${type}`);
  }
}

/** Values valid against `schema` (a schema of the spec; `$ref`s to its components are followed). */
export function schemaArbitrary(input: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const schema = asObject(input);
  if (depth > 6) {
    return fc.constant(null);
  }
  if (schema.const !== undefined) {
    return fc.constant(schema.const);
  }
  if (schema.enum !== undefined) {
    return fc.constantFrom(...schema.enum);
  }
  const branches = schema.oneOf ?? schema.anyOf;
  if (branches !== undefined) {
    return fc.oneof(...branches.map((branch) => schemaArbitrary(branch, depth + 1)));
  }
  const type = schema.type ?? (schema.properties !== undefined ? "object" : undefined);
  if (type === undefined) {
    return fc.jsonValue({ maxDepth: 2 });
  }
  if (Array.isArray(type)) {
    return fc.oneof(...type.map((one) => ofType(one, schema, depth)));
  }
  return ofType(type as string, schema, depth);
}

/** A value that is (most likely) of the wrong type for any field. */
export const invalidValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  text(0, 12),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);

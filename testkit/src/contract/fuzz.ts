/**
 * Spec-driven fuzzing: for every operation a target serves, requests generated from the operation's
 * parameter and body schemas (see arbitrary.ts), valid ones and deliberately broken ones (wrong
 * types, missing required fields, unknown fields, malformed JSON, wrong media types, bad path and
 * query values, missing or wrong keys). A fixed seed makes every run send the same requests.
 *
 * What must hold: every response keeps the spec (validate.ts: declared status, content type, body
 * schema, every gateway 4xx in the Error shape), and no 5xx comes back except a declared 502/504
 * from an upstream, an upstream's own 5xx passed through, or (on a Worker without its store) the
 * declared 503 IDEMPOTENCY_STORE_UNAVAILABLE.
 */
import type { OperationId } from "@n2store/generated";
import fc from "fast-check";
import type { AllFakes } from "../fakes/index.js";
import { FAKE_CREDENTIALS, tposPasswordGrant } from "../fakes/index.js";
import { API_KEY, SEPAY_KEY } from "../servers/index.js";
import { invalidValue, schemaArbitrary, text } from "./arbitrary.js";
import { validatedTarget } from "./context.js";
import {
  type JsonSchema,
  type ParameterObject,
  type SpecOperation,
  servedBy,
  specOperations,
} from "./spec.js";
import type { StartedTarget } from "./target.js";
import type { ResponseValidator, Verdict } from "./validate.js";

/** How much to fuzz. */
export interface FuzzOptions {
  /** The seed of every run; printed, so a failure can be replayed (`CONTRACT_FUZZ_SEED`). */
  readonly seed: number;
  /** Requests per operation (`CONTRACT_FUZZ_RUNS`). */
  readonly runsPerOperation: number;
  /** The whole run stops here even if operations are left (reported, never silent). */
  readonly budgetMs: number;
}

/** The default seed: fixed, so every CI run sends the same requests. */
const DEFAULT_FUZZ_SEED = 20_261_125;

/** What a fuzz run found. */
export interface FuzzReport {
  readonly runtime: string;
  readonly seed: number;
  readonly requests: number;
  readonly counts: {
    ok: number;
    clientErrors: number;
    declared5xx: number;
    upstream5xx: number;
    unexpected5xx: number;
  };
  readonly operations: number;
  readonly stoppedEarly: boolean;
  /** Every broken promise: spec violations, unexpected 5xx, requests that failed or hung. */
  readonly problems: readonly string[];
  /** One line: `fuzz node: seed=…, N requests, K 4xx, 0 unexpected 5xx`. */
  readonly summary: string;
}

/** One generated request. */
interface FuzzRequest {
  readonly variant: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
}

const VARIANTS = [
  "valid",
  "valid",
  "valid",
  "valid",
  "wrong-type",
  "missing-required",
  "unknown-field",
  "malformed-json",
  "wrong-media-type",
  "empty-body",
  "bad-path",
  "bad-query",
  "no-key",
  "wrong-key",
] as const;
type Variant = (typeof VARIANTS)[number];

/** Values the fuzzer mixes into valid requests so that some of them get past the upstreams' checks. */
interface Secrets {
  readonly tposToken: string;
  readonly cdnUrl: string;
}

const PAGE = FAKE_CREDENTIALS.pageIds[0];

function urls(secrets: Secrets): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      `${secrets.cdnUrl}/img/fuzz.png`,
      `${secrets.cdnUrl}/echo/fuzz`,
      `${secrets.cdnUrl}/nothing`,
      `${secrets.cdnUrl}/loop`,
      "http://127.0.0.1:1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:7f00:1]/",
      "https://example.com/",
      "ftp://example.com/",
      "http://user:pass@example.com/",
      "//example.com/x",
    ),
    text(1, 40),
  );
}

/** A schema-valid value with, where it helps, a real credential or id swapped in (by `pick`). */
function hinted(operation: SpecOperation, name: string, value: unknown, pick: number): unknown {
  const use = pick % 2 === 0;
  switch (`${operation.id}:${name}`) {
    case "getFacebookAvatar:id":
      return use ? FAKE_CREDENTIALS.psids.inWindow : value;
    case "getFacebookAvatar:page":
      return use ? PAGE : value;
    default:
      break;
  }
  if (operation.spec.tags.includes("pancake") && name === "jwt") {
    return use ? FAKE_CREDENTIALS.pancake.jwt : value;
  }
  return value;
}

/** Body fields made real half of the time, so valid bodies also get past the upstreams. */
function hintBody(operation: SpecOperation, body: unknown, pick: number): unknown {
  if (pick % 2 !== 0 || typeof body !== "object" || body === null || Array.isArray(body)) {
    return body;
  }
  const real = body as Record<string, unknown>;
  switch (operation.id) {
    case "createTposToken":
      return real.grant_type === "password"
        ? {
            ...real,
            username: FAKE_CREDENTIALS.tpos.username,
            password: FAKE_CREDENTIALS.tpos.password,
            client_id: "tmtWebApp",
          }
        : real;
    case "sendFacebookMessage":
      return {
        ...real,
        pageId: PAGE,
        psid: FAKE_CREDENTIALS.psids.inWindow,
        pageToken: FAKE_CREDENTIALS.graphPageTokens[PAGE],
      };
    case "receiveSepayWebhook":
      return { ...real, transactionDate: "2026-11-25 14:02:37" };
    case "startRealtime":
      return { ...real, token: FAKE_CREDENTIALS.pancake.jwt, userId: FAKE_CREDENTIALS.pancake.userId };
    default:
      return real;
  }
}

/** Any generated value as text (fast-check's dictionaries have no prototype, so no toString). */
function asText(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? "undefined");
}

function encodePath(value: string, catchAll: boolean): string {
  return catchAll ? value.split("/").map(encodeURIComponent).join("/") : encodeURIComponent(value);
}

function paramArbitrary(parameter: ParameterObject, secrets: Secrets): fc.Arbitrary<unknown> {
  if (parameter.name === "url" && parameter.in === "query") {
    return urls(secrets);
  }
  return schemaArbitrary(parameter.schema ?? true);
}

/** The arbitrary of one operation's requests: a variant, then valid parts broken as it says. */
function requestArbitrary(operation: SpecOperation, secrets: Secrets): fc.Arbitrary<FuzzRequest> {
  const pathParams = operation.parameters.filter((p) => p.in === "path");
  const queryParams = operation.parameters.filter((p) => p.in === "query" && p.style !== "form");
  const freeForm = operation.parameters.find((p) => p.in === "query" && p.style === "form");
  const headerParams = operation.parameters.filter((p) => p.in === "header");
  const media = Object.entries(operation.requestBody?.content ?? {});
  const record = <T>(parameters: readonly ParameterObject[]): fc.Arbitrary<Record<string, unknown>> =>
    fc.record(
      Object.fromEntries(parameters.map((p) => [p.name, paramArbitrary(p, secrets)])) as Record<
        string,
        fc.Arbitrary<T>
      >,
      { requiredKeys: parameters.filter((p) => p.required === true).map((p) => p.name) },
    );
  const bodies =
    media.length === 0
      ? fc.constant(null)
      : fc.oneof(
          ...media.map(([type, content]) =>
            schemaArbitrary((content.schema ?? true) as JsonSchema).map((value) => ({ type, value })),
          ),
        );
  return fc
    .record({
      variant: fc.constantFrom(...VARIANTS),
      path: record(pathParams),
      query: record(queryParams),
      free: freeForm === undefined ? fc.constant({}) : fc.dictionary(text(1, 8), text(0, 16), { maxKeys: 4 }),
      headers: record(headerParams),
      body: bodies,
      pick: fc.nat(99),
      wrong: invalidValue,
      noise: text(0, 30),
      rawType: fc.constantFrom(
        "application/json",
        "text/plain",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
      ),
    })
    .map((parts) => build(operation, parts, secrets));
}

interface Parts {
  variant: Variant;
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  free: Record<string, string>;
  headers: Record<string, unknown>;
  body: { type: string; value: unknown } | null;
  pick: number;
  wrong: unknown;
  noise: string;
  rawType: string;
}

function build(operation: SpecOperation, parts: Parts, secrets: Secrets): FuzzRequest {
  const { spec } = operation;
  const variant = parts.variant;
  // Path: each parameter encoded; a bad-path request breaks the first one.
  let path = spec.path;
  for (const [index, parameter] of operation.parameters.filter((p) => p.in === "path").entries()) {
    const catchAll = spec.catchAll === parameter.name;
    let value = asText(hinted(operation, parameter.name, parts.path[parameter.name], parts.pick));
    if (variant === "bad-path" && index === 0) {
      const broken = [
        `${value}/../..`,
        `${value}//x`,
        "x".repeat(2049),
        asText(parts.wrong),
        "%E0%A4%A",
        "Infinity",
      ];
      value = broken[parts.pick % broken.length] ?? value;
      path = path.replace(`{${parameter.name}}`, value === "%E0%A4%A" ? value : encodePath(value, catchAll));
      continue;
    }
    path = path.replace(`{${parameter.name}}`, encodePath(value, catchAll));
  }
  // Query: declared parameters (made real where that helps), then free-form pass-through ones.
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(parts.query)) {
    query.append(name, asText(hinted(operation, name, value, parts.pick)));
  }
  for (const [name, value] of Object.entries(parts.free)) {
    query.append(name, value);
  }
  if (
    spec.tags.includes("pancake") &&
    spec.path.startsWith("/api/pancake-official") &&
    parts.pick % 2 === 0
  ) {
    query.set("page_access_token", FAKE_CREDENTIALS.pageAccessTokens[PAGE] ?? "");
  }
  const declared = operation.parameters.filter((p) => p.in === "query" && p.style !== "form");
  if (variant === "bad-query" && declared.length > 0) {
    const target = declared[parts.pick % declared.length] as ParameterObject;
    const broken = [asText(parts.wrong), "", "Infinity", "-1", "1e400", "x".repeat(5000), "%00"];
    query.set(target.name, broken[parts.pick % broken.length] ?? "");
  }
  // Headers: declared ones (an Idempotency-Key), the operation's key, TPOS's token.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(parts.headers)) {
    headers[name.toLowerCase()] = asText(value);
  }
  const schemes = new Set(spec.security.flat());
  if (schemes.has("sepayApiKey")) {
    if (variant !== "no-key") {
      // A header value is bytes (fetch refuses characters past U+00FF): the noise goes percent-encoded.
      headers.authorization =
        variant === "wrong-key" ? `Apikey ${encodeURIComponent(parts.noise)}x` : `Apikey ${SEPAY_KEY}`;
    }
  } else if (schemes.size > 0 && variant !== "no-key") {
    if (variant === "wrong-key") {
      headers["x-api-key"] = `${API_KEY}-${parts.pick}`;
    } else if (parts.pick % 3 === 0) {
      headers.authorization = `Bearer ${API_KEY}`;
    } else {
      headers["x-api-key"] = API_KEY;
    }
  }
  if ((spec.path.startsWith("/api/rest") || spec.path.startsWith("/api/odata")) && parts.pick % 2 === 0) {
    headers.authorization = `Bearer ${secrets.tposToken}`;
  }
  // Body: JSON or form by the chosen media type, or broken as the variant says.
  let body: string | Uint8Array | undefined;
  const bodySpec = spec.body;
  if (bodySpec !== null && parts.body !== null) {
    if (bodySpec.raw) {
      const raw = [JSON.stringify(parts.body.value), parts.noise, `{"Ids": [${parts.pick}`, ""];
      body = raw[parts.pick % raw.length];
      headers["content-type"] = parts.rawType;
    } else {
      let value = hintBody(operation, parts.body.value, parts.pick);
      const object = typeof value === "object" && value !== null && !Array.isArray(value);
      const keys = object ? Object.keys(value as object) : [];
      if (variant === "wrong-type" && object && keys.length > 0) {
        value = { ...(value as object), [keys[parts.pick % keys.length] as string]: parts.wrong };
      } else if (variant === "missing-required" && object && keys.length > 0) {
        const { [keys[parts.pick % keys.length] as string]: _dropped, ...rest } = value as Record<
          string,
          unknown
        >;
        value = rest;
      } else if (variant === "unknown-field" && object) {
        value = { ...(value as object), [`zz${parts.noise.slice(0, 6)}`]: parts.wrong };
      }
      const type = variant === "wrong-media-type" ? parts.rawType : parts.body.type;
      headers["content-type"] = type;
      if (variant === "malformed-json") {
        const json = JSON.stringify(value);
        body = [json.slice(0, Math.max(1, parts.pick % json.length)), parts.noise, "{", "[1,]", '{"a":}'][
          parts.pick % 5
        ];
        headers["content-type"] = "application/json";
      } else if (variant === "empty-body") {
        body = undefined;
      } else if (parts.body.type === "application/x-www-form-urlencoded" && object) {
        body = new URLSearchParams(
          Object.entries(value as Record<string, unknown>).map(([k, v]): [string, string] => [
            k,
            typeof v === "string" ? v : JSON.stringify(v),
          ]),
        ).toString();
      } else {
        body = JSON.stringify(value);
      }
    }
  }
  const search = query.toString();
  return {
    variant,
    path: `${path}${search === "" ? "" : `?${search}`}`,
    headers,
    ...(body === undefined ? {} : { body }),
  };
}

function describeRequest(operation: SpecOperation, request: FuzzRequest): string {
  const body =
    request.body === undefined ? "" : ` body=${JSON.stringify(asText(request.body).slice(0, 200))}`;
  return `${operation.id} [${request.variant}] ${operation.spec.method} ${request.path.slice(0, 200)} headers=${JSON.stringify(request.headers)}${body}`;
}

/** Whether a 5xx is one the spec allows here. */
function allowed5xx(
  operation: SpecOperation,
  status: number,
  verdict: Verdict,
  target: StartedTarget,
): "declared" | "upstream" | null {
  if (verdict.passthrough) {
    return "upstream";
  }
  const code = verdict.error?.code;
  if (
    (status === 502 || status === 504) &&
    operation.responses[String(status)] !== undefined &&
    code !== undefined
  ) {
    return "declared";
  }
  if (status === 503 && code === "IDEMPOTENCY_STORE_UNAVAILABLE" && !target.idempotencyStore) {
    return "declared";
  }
  return null;
}

/** Fuzzes every operation the target serves; never throws for what it finds, it reports it. */
export async function fuzzTarget(input: {
  target: StartedTarget;
  fakes: AllFakes;
  validator: ResponseValidator;
  options: Partial<FuzzOptions>;
}): Promise<FuzzReport> {
  const { target, fakes, validator } = input;
  const seed = input.options.seed ?? (Number(process.env.CONTRACT_FUZZ_SEED) || DEFAULT_FUZZ_SEED);
  const runs = input.options.runsPerOperation ?? (Number(process.env.CONTRACT_FUZZ_RUNS) || 25);
  const budgetMs = input.options.budgetMs ?? 60_000;
  const started = Date.now();
  let verdict: Verdict | undefined;
  const checked = validatedTarget(target, validator, fakes, (v) => {
    verdict = v;
  });
  const token = await checked.fetch(
    new Request(`${target.baseUrl}/api/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: tposPasswordGrant(),
    }),
  );
  const secrets: Secrets = {
    tposToken: ((await token.json()) as { access_token?: string }).access_token ?? "",
    cdnUrl: fakes.cdn.url,
  };
  const counts = { ok: 0, clientErrors: 0, declared5xx: 0, upstream5xx: 0, unexpected5xx: 0 };
  const problems: string[] = [];
  let requests = 0;
  let operations = 0;
  let stoppedEarly = false;
  const served = specOperations.filter((operation) => servedBy(operation.spec, target.name));
  for (const operation of served) {
    if (Date.now() - started > budgetMs) {
      stoppedEarly = true;
      break;
    }
    operations += 1;
    const operationSeed = seed + specOperations.indexOf(operation);
    const samples = fc.sample(requestArbitrary(operation, secrets), { seed: operationSeed, numRuns: runs });
    for (const request of samples) {
      requests += 1;
      verdict = undefined;
      let response: Response;
      try {
        response = await checked.fetch(
          new Request(`${target.baseUrl}${request.path}`, {
            method: operation.spec.method,
            headers: request.headers,
            ...(request.body === undefined ? {} : { body: request.body }),
            signal: AbortSignal.timeout(20_000),
          }),
        );
        await response.arrayBuffer();
      } catch (error) {
        problems.push(
          `${describeRequest(operation, request)} -> the request failed: ${(error as Error).message} (seed ${operationSeed})`,
        );
        continue;
      }
      const seen = verdict as Verdict | undefined;
      if (seen === undefined) {
        continue;
      }
      for (const violation of seen.violations) {
        problems.push(
          `${violation}\n    sent: ${describeRequest(operation, request)} (seed ${operationSeed})`,
        );
      }
      const status = response.status;
      if (status < 400) {
        counts.ok += 1;
      } else if (status < 500) {
        counts.clientErrors += 1;
      } else {
        const kind = allowed5xx(operation, status, seen, target);
        if (kind === "declared") {
          counts.declared5xx += 1;
        } else if (kind === "upstream") {
          counts.upstream5xx += 1;
        } else {
          counts.unexpected5xx += 1;
          problems.push(
            `${describeRequest(operation, request)} -> unexpected ${status} ${JSON.stringify(seen.json)} (seed ${operationSeed})`,
          );
        }
      }
    }
  }
  // The realtime fuzz may have started the relay with made-up credentials: stop it.
  if (served.some((operation) => operation.id === ("stopRealtime" satisfies OperationId))) {
    await checked.fetch(
      new Request(`${target.baseUrl}/api/realtime/stop`, {
        method: "POST",
        headers: { "x-api-key": API_KEY },
      }),
    );
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const summary =
    `fuzz ${target.name}: seed=${seed}, ${requests} requests, ${counts.clientErrors} 4xx, ${counts.unexpected5xx} unexpected 5xx` +
    ` (${operations} operations, ${counts.ok} 2xx/3xx, ${counts.declared5xx} declared 502/503/504, ${counts.upstream5xx} upstream 5xx passed through, ${problems.length} problems, ${seconds} s${stoppedEarly ? ", stopped at the time budget" : ""})`;
  return { runtime: target.name, seed, requests, counts, operations, stoppedEarly, problems, summary };
}

// The SDK as its users get it: `npm run check:pack --workspace sdk` (CI runs it, .ci/run).
//   1. Clones the repository's committed HEAD into a temporary directory, runs `npm ci` there, then
//      `npm pack --workspace sdk`, whose prepack builds dist/. So nothing of this checkout (a stale or
//      missing dist/, files never committed) can reach the tarball; uncommitted changes are not in it.
//   2. Checks the tarball: every file package.json points at is there, nothing but dist/ and the
//      README, changelog and licence is, and the README links to and names no file it does not hold.
//   3. Installs the tarball into a new project, compiles test/consumer/consumer.ts there with the
//      repository's TypeScript (NodeNext and Bundler resolution, declarations checked), and runs it
//      against a stand-in gateway on 127.0.0.1, checking what its calls sent.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";

const sdk = fileURLToPath(new URL("..", import.meta.url));
const tsc = createRequire(import.meta.url).resolve("typescript/lib/tsc.js");
const problems: string[] = [];

/**
 * The environment of every command: this one's without npm's own variables, since `npm run` puts
 * its configuration there (`npm_config_workspace` among it) and the clone's npm must start clean.
 */
const env = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== "INIT_CWD"),
);

/** Runs a command to completion; its output, or an error holding it. */
function run(command: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 600_000 });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.status !== 0) {
    throw new Error(
      `\`${command} ${args.join(" ")}\` in ${cwd} failed (${result.status ?? result.signal}):\n${output}`,
    );
  }
  return output;
}

function check(ok: boolean, problem: string): void {
  if (!ok) {
    problems.push(problem);
  }
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------------------------
// 1. A clean clone, packed
// ---------------------------------------------------------------------------------------------

const root = run("git", ["rev-parse", "--show-toplevel"], sdk).trim();
const head = run("git", ["rev-parse", "HEAD"], root).trim();
if (run("git", ["status", "--porcelain"], root).trim() !== "") {
  console.log(`note: packing the committed HEAD ${head.slice(0, 9)}; uncommitted changes are not in it`);
}
const work = mkdtempSync(join(tmpdir(), "n2store-sdk-pack-"));
const clone = join(work, "repo");
let started = Date.now();
run("git", ["clone", "--quiet", root, clone], work);
run("git", ["checkout", "--quiet", "--detach", head], clone);
run("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], clone);
console.log(`cloned ${head.slice(0, 9)} and ran npm ci in ${seconds(started)}`);

started = Date.now();
const packed = join(work, "packed");
mkdirSync(packed);
run("npm", ["pack", "--workspace", "sdk", "--pack-destination", packed], clone);
const tarballName = readdirSync(packed).find((name) => name.endsWith(".tgz"));
if (tarballName === undefined) {
  throw new Error(`npm pack wrote no tarball into ${packed}`);
}
const tarball = join(packed, tarballName);
const files = run("tar", ["-tzf", tarball], packed)
  .split("\n")
  .filter((line) => line !== "" && !line.endsWith("/"))
  .map((line) => line.replace(/^package\//, ""))
  .sort();
run("tar", ["-xzf", tarball, "-C", packed], packed);
const unpacked = join(packed, "package");
console.log(`packed ${tarballName}: ${files.length} files, in ${seconds(started)}`);

// ---------------------------------------------------------------------------------------------
// 2. What the tarball holds
// ---------------------------------------------------------------------------------------------

const manifest = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8")) as Record<string, unknown>;
/** Every file path a field of package.json names (exports, types, unpkg, jsdelivr), without `./`. */
const pointedAt = new Set<string>();
const collect = (value: unknown): void => {
  if (typeof value === "string") {
    pointedAt.add(posix.normalize(value));
  } else if (typeof value === "object" && value !== null) {
    Object.values(value).forEach(collect);
  }
};
for (const field of ["exports", "types", "unpkg", "jsdelivr"]) {
  collect(manifest[field]);
}
for (const path of pointedAt) {
  check(files.includes(path), `package.json points at ${path}, which the tarball does not hold`);
}
// The declarations those import (spec.d.ts, ...) are checked by compiling the consumer below.
const besideDist = ["README.md", "CHANGELOG.md", "LICENSE", "package.json"];
for (const path of besideDist) {
  check(files.includes(path), `the tarball has no ${path}`);
}
for (const path of files) {
  check(
    path.startsWith("dist/") || besideDist.includes(path),
    `the tarball holds ${path}, which is not part of the package`,
  );
}

// The README as npm shows it: relative links must resolve inside the package, and it must not name
// files of the repository that a user of the package does not have (generated/policy.ts, notes/...).
const readme = readFileSync(join(unpacked, "README.md"), "utf8");
for (const match of readme.matchAll(/\]\(([^)\s]+)[^)]*\)/g)) {
  const target = match[1] as string;
  if (/^([a-z]+:|#)/i.test(target)) {
    continue;
  }
  const path = posix.normalize(target.split("#")[0] as string).replace(/^\.\//, "");
  check(files.includes(path), `README.md links to ${target}, which the package does not hold`);
}
const tracked = run("git", ["ls-files"], clone).split("\n");
const unshipped = new Set([
  ...tracked.filter((path) => !path.startsWith("sdk/") && path.includes("/")),
  ...tracked
    .filter((path) => path.startsWith("sdk/"))
    .map((path) => path.slice("sdk/".length))
    .filter((path) => !files.includes(path)),
]);
for (const match of readme.matchAll(/`([^`\s]+)`/g)) {
  const named = (match[1] as string).replace(/^\.\//, "");
  check(
    !unshipped.has(named),
    `README.md names ${named}, a file of the repository that the package does not hold`,
  );
}

// ---------------------------------------------------------------------------------------------
// 3. A consumer project: install, compile, run
// ---------------------------------------------------------------------------------------------

started = Date.now();
const consumer = join(work, "consumer");
mkdirSync(consumer);
writeFileSync(
  join(consumer, "package.json"),
  `${JSON.stringify({ name: "n2store-sdk-consumer", private: true, type: "module" }, null, 2)}\n`,
);
const installed = run("npm", ["install", tarball, "--no-audit", "--no-fund", "--prefer-offline"], consumer);
for (const line of installed.split("\n").filter((l) => /^npm warn/i.test(l))) {
  problems.push(`installing the tarball warns: ${line}`);
}
cpSync(join(clone, "sdk/test/consumer/consumer.ts"), join(consumer, "consumer.ts"));
// What a strict consumer has: no Node types (the SDK is Web-only), and the package's declarations
// checked too (skipLibCheck off), so a declaration that only compiles inside the repository fails.
const compilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  skipLibCheck: false,
  target: "ES2022",
  lib: ["ES2022", "DOM", "DOM.Iterable"],
  types: [],
};
const configs = {
  "tsconfig.bundler.json": {
    ...compilerOptions,
    module: "ESNext",
    moduleResolution: "Bundler",
    noEmit: true,
  },
  "tsconfig.nodenext.json": {
    ...compilerOptions,
    module: "NodeNext",
    moduleResolution: "NodeNext",
    outDir: "out",
  },
};
for (const [name, options] of Object.entries(configs)) {
  writeFileSync(
    join(consumer, name),
    `${JSON.stringify({ compilerOptions: options, files: ["consumer.ts"] }, null, 2)}\n`,
  );
  try {
    run(process.execPath, [tsc, "-p", name], consumer);
  } catch (error) {
    problems.push(`the consumer does not compile with ${name}:\n${(error as Error).message}`);
  }
}
console.log(`installed the tarball into a new project and compiled the consumer in ${seconds(started)}`);

/** One request the stand-in gateway received. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const seen: Seen[] = [];
const errorBody = (statusCode: number, code: string, message: string) => ({
  success: false,
  statusCode,
  code,
  error: code,
  message,
  requestId: "stand-in",
});
const tokenBody = (accessToken: string) => ({
  access_token: accessToken,
  token_type: "bearer",
  expires_in: 1_295_999,
  refresh_token: `${accessToken}-refresh`,
});

/** The gateway's answers to the consumer's calls, as the spec describes them, and nothing else. */
function answer({ method, url, headers, body }: Seen): [number, unknown] {
  const path = new URL(url, "http://stand-in").pathname;
  if (method === "POST" && path === "/api/token") {
    if (headers["content-type"] === "application/x-www-form-urlencoded") {
      const form = new URLSearchParams(body);
      return form.get("grant_type") === "password" && form.get("username") === "shop-staff"
        ? [200, tokenBody("user-token")]
        : [401, errorBody(401, "TPOS_TOKEN_REJECTED", "TPOS refused the password")];
    }
    if (headers["content-type"]?.startsWith("application/json")) {
      if (headers["x-api-key"] !== "consumer-key") {
        return [401, errorBody(401, "UNAUTHORIZED", "an N2Store API key is needed")];
      }
      return isDeepStrictEqual(JSON.parse(body), { companyId: 1 })
        ? [200, tokenBody("shop-token")]
        : [400, errorBody(400, "VALIDATION_FAILED", `unexpected body ${body}`)];
    }
    return [415, errorBody(415, "UNSUPPORTED_MEDIA_TYPE", String(headers["content-type"]))];
  }
  if (method === "GET" && (path.startsWith("/api/odata/") || path.startsWith("/api/rest/"))) {
    return headers.authorization === "Bearer user-token"
      ? [200, { value: [{ Id: 1 }] }]
      : [401, { Message: "Authorization has been denied for this request." }];
  }
  return [404, errorBody(404, "ROUTE_NOT_FOUND", `${method} ${path}`)];
}

const server = createServer((request, response) => {
  let body = "";
  request.setEncoding("utf8");
  request.on("data", (chunk: string) => {
    body += chunk;
  });
  request.on("end", () => {
    const call: Seen = {
      method: request.method ?? "",
      url: request.url ?? "",
      headers: request.headers,
      body,
    };
    seen.push(call);
    const [status, json] = answer(call);
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify(json));
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
try {
  const module = (await import(pathToFileURL(join(consumer, "out/consumer.js")).href)) as {
    run(baseUrl: string): Promise<Record<string, unknown>>;
  };
  const result = await module.run(baseUrl);
  const expected = {
    userToken: "user-token",
    shopToken: "shop-token",
    ordersStatus: 200,
    orders: { value: [{ Id: 1 }] },
    restStatus: 200,
  };
  check(
    isDeepStrictEqual(result, expected),
    `the consumer got ${JSON.stringify(result)}, not ${JSON.stringify(expected)}`,
  );
  const odata = seen.find((call) => call.url.startsWith("/api/odata/"));
  check(
    odata?.url === "/api/odata/SaleOnline_Order/ODataService.GetView?$top=20",
    `the OData call went to ${odata?.url}: the catch-all keeps its slashes and the query its names`,
  );
  check(odata?.headers["x-tpos-lang"] === "vi", "params.header's x-tpos-lang was not sent");
  const form = seen.find((call) => call.headers["content-type"] === "application/x-www-form-urlencoded");
  check(
    form !== undefined && new URLSearchParams(form.body).get("client_id") === "tmtWebApp",
    `the form grant was not sent form-encoded: ${JSON.stringify(seen[0])}`,
  );
} catch (error) {
  problems.push(`running the consumer failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  server.close();
}

if (problems.length > 0) {
  console.error(`\nthe packed SDK fails ${problems.length} check(s):\n- ${problems.join("\n- ")}`);
  console.error(`(left in ${work} to look at)`);
  process.exit(1);
}
rmSync(work, { recursive: true, force: true });
console.log(
  `ok: ${tarballName} from a clean clone holds ${files.length} files; the consumer compiled (Bundler, NodeNext) and its ${seen.length} calls sent what the README says`,
);

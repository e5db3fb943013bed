/**
 * The deploy files of the Node fallback, checked where no Docker daemon or Render account exists:
 * render.yaml against the fields Render's Blueprint reference documents, compose.yaml for what it
 * promises (two instances, one PostgreSQL, a balancer that alone is trusted for X-Forwarded-For),
 * the Dockerfile for its stages, user, command and health check, and every variable they set against
 * the names the server reads. `.ci/run` builds and runs the image where a daemon answers.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (path: string) => readFileSync(resolve(ROOT, path), "utf8");

/** Every variable the Node server reads: the names of .env.example (set or commented out). */
const KNOWN = new Set(
  [...read(".env.example").matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1] as string),
);
/** Variables that hold secrets: never a value in a committed file. */
const SECRETS = [
  "N2STORE_API_KEYS",
  "SEPAY_API_KEY",
  "IDEMPOTENCY_SCOPE_SECRET",
  "TPOS_PASSWORD",
  "TPOS_PASSWORD_2",
];

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is checked by expectations, not by types.
type Loose = any;

/** The fields of Render's Blueprint reference (render.com/docs/blueprint-spec), by object. */
const RENDER = {
  root: ["services", "databases", "envVarGroups", "previews", "projects", "ungrouped", "version"],
  service: [
    "type",
    "name",
    "runtime",
    "repo",
    "branch",
    "rootDir",
    "region",
    "plan",
    "previewPlan",
    "numInstances",
    "scaling",
    "buildCommand",
    "preDeployCommand",
    "startCommand",
    "dockerfilePath",
    "dockerContext",
    "dockerCommand",
    "image",
    "registryCredential",
    "healthCheckPath",
    "maxShutdownDelaySeconds",
    "autoDeploy",
    "autoDeployTrigger",
    "buildFilter",
    "domains",
    "envVars",
    "disk",
    "pullRequestPreviewsEnabled",
    "previews",
    "ipAllowList",
  ],
  database: [
    "name",
    "databaseName",
    "user",
    "plan",
    "previewPlan",
    "region",
    "postgresMajorVersion",
    "diskSizeGB",
    "previewDiskSizeGB",
    "ipAllowList",
    "highAvailability",
    "readReplicas",
  ],
  envVar: ["key", "value", "generateValue", "sync", "fromDatabase", "fromService", "fromGroup"],
  regions: ["oregon", "ohio", "virginia", "frankfurt", "singapore"],
  runtimes: ["docker", "image", "node", "python", "ruby", "go", "rust", "elixir", "static"],
  databaseProperties: ["connectionString", "host", "port", "user", "password", "database"],
};

const unknownKeys = (object: Record<string, unknown>, known: readonly string[]) =>
  Object.keys(object).filter((key) => !known.includes(key));

describe("render.yaml", () => {
  const blueprint: Loose = parse(read("render.yaml"));

  it("uses only fields Render's Blueprint reference documents", () => {
    expect(unknownKeys(blueprint, RENDER.root)).toEqual([]);
    for (const service of blueprint.services) {
      expect(unknownKeys(service, RENDER.service), service.name).toEqual([]);
      expect(RENDER.regions).toContain(service.region);
      expect(RENDER.runtimes).toContain(service.runtime);
      for (const variable of service.envVars) {
        expect(unknownKeys(variable, RENDER.envVar), variable.key).toEqual([]);
        const sources = ["value", "generateValue", "sync", "fromDatabase", "fromService", "fromGroup"];
        expect(
          sources.filter((source) => source in variable),
          variable.key,
        ).toHaveLength(1);
      }
    }
    for (const database of blueprint.databases) {
      expect(unknownKeys(database, RENDER.database), database.name).toEqual([]);
      expect(RENDER.regions).toContain(database.region);
    }
  });

  it("deploys this Dockerfile as a web service checked on /health, with its PostgreSQL", () => {
    const [service] = blueprint.services;
    expect(service).toMatchObject({ type: "web", runtime: "docker", healthCheckPath: "/health" });
    expect(existsSync(resolve(ROOT, service.dockerContext, service.dockerfilePath))).toBe(true);
    const variables = new Map<string, Loose>(service.envVars.map((v: Loose) => [v.key, v]));
    const database = variables.get("DATABASE_URL").fromDatabase;
    expect(blueprint.databases.map((d: Loose) => d.name)).toContain(database.name);
    expect(RENDER.databaseProperties).toContain(database.property);
    // Render's balancer is in front: the client's address comes from X-Forwarded-For.
    expect(variables.get("TRUST_PROXY")?.value).toBe("1");
    expect(blueprint.databases[0].region).toBe(service.region);
  });

  it("sets only variables the server reads, and asks for every secret instead of holding it", () => {
    const [service] = blueprint.services;
    for (const variable of service.envVars) {
      expect(KNOWN, variable.key).toContain(variable.key);
    }
    for (const secret of SECRETS) {
      const variable = service.envVars.find((v: Loose) => v.key === secret);
      expect(variable, secret).toEqual({ key: secret, sync: false });
    }
  });
});

describe("compose.yaml", () => {
  const compose: Loose = parse(read("compose.yaml"), { merge: true });
  const gateways = Object.entries<Loose>(compose.services).filter(([name]) => name.startsWith("gateway"));

  it("runs two gateway instances of one image on one PostgreSQL, each waiting for it", () => {
    expect(gateways.map(([name]) => name)).toEqual(["gateway-a", "gateway-b"]);
    const ids = new Set<string>();
    for (const [name, gateway] of gateways) {
      expect(gateway.build, name).toBe(".");
      expect(gateway.image, name).toBe("n2store-gateway:local");
      expect(gateway.depends_on.postgres, name).toEqual({ condition: "service_healthy" });
      expect(new URL(gateway.environment.DATABASE_URL).host, name).toBe("postgres:5432");
      ids.add(gateway.environment.INSTANCE_ID);
      for (const key of Object.keys(gateway.environment)) {
        expect(KNOWN, `${name}: ${key}`).toContain(key);
      }
    }
    expect(ids.size).toBe(2);
    expect(compose.services.postgres.healthcheck.test).toContain("pg_isready");
  });

  it("balances over both instances, and trusts X-Forwarded-For from the balancer only", () => {
    const balancer = compose.services.balancer;
    const targets = balancer.command.filter((_: string, i: number) => balancer.command[i - 1] === "--to");
    expect(targets).toEqual(["gateway-a:3000", "gateway-b:3000"]);
    const address = balancer.networks.gateway.ipv4_address;
    const [subnet] = compose.networks.gateway.ipam.config;
    expect(address.split(".").slice(0, 3)).toEqual(subnet.subnet.split(".").slice(0, 3));
    for (const [name, gateway] of gateways) {
      expect(gateway.environment.TRUST_PROXY, name).toBe(address);
    }
  });

  it("publishes its ports on loopback only, and holds no secret", () => {
    for (const [name, service] of Object.entries<Loose>(compose.services)) {
      for (const port of service.ports ?? []) {
        expect(port, name).toMatch(/^127\.0\.0\.1:/);
      }
    }
    for (const [, gateway] of gateways) {
      expect(gateway.environment.N2STORE_API_KEYS).toMatch(/^\$\{N2STORE_API_KEYS:\?/);
      expect(gateway.environment.SEPAY_API_KEY).toMatch(/^\$\{SEPAY_API_KEY/);
    }
  });

  it.skipIf(spawnSync("docker", ["compose", "version"]).status !== 0)(
    "is a valid Compose file (docker compose config)",
    () => {
      const result = spawnSync("docker", ["compose", "-f", "compose.yaml", "config", "--quiet"], {
        cwd: ROOT,
        env: { ...process.env, N2STORE_API_KEYS: "k" },
      });
      expect(result.stderr.toString()).toBe("");
      expect(result.status).toBe(0);
    },
  );
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  const instructions = dockerfile
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"));
  const stages = instructions.filter((line) => line.startsWith("FROM "));
  const final = instructions.slice(instructions.lastIndexOf(stages.at(-1) as string));

  it("builds in stages and runs node dist/main.js as an unprivileged user, checked on /health", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const user = final.filter((line) => line.startsWith("USER ")).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)(:|$)/);
    expect(final.filter((line) => line.startsWith("CMD ")).at(-1)).toBe('CMD ["node", "dist/main.js"]');
    expect(final.filter((line) => line.startsWith("WORKDIR ")).at(-1)).toBe("WORKDIR /app/server-node");
    expect(final.find((line) => line.startsWith("HEALTHCHECK "))).toContain("/health");
    expect(final.some((line) => line.startsWith("EXPOSE 3000"))).toBe(true);
    // No compiler, sources or tests in the image: only the bundle, its dependencies and its data.
    expect(final.filter((line) => /^COPY (?!--from)/.test(line)).join("\n")).not.toMatch(/src\/|test\//);
  });

  it("copies only files that exist, and ignores local state and secrets", () => {
    for (const line of instructions.filter((l) => l.startsWith("COPY ") && !l.includes("--from"))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const source of sources) {
        expect(existsSync(resolve(ROOT, source)), line).toBe(true);
      }
    }
    const ignored = read(".dockerignore").split("\n");
    for (const pattern of ["**/node_modules", "**/dist", ".data", "**/.env", ".git"]) {
      expect(ignored, pattern).toContain(pattern);
    }
  });
});

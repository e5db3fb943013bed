// The SDK inside a real Worker runtime (workerd through Miniflare, local only): the source is bundled
// as a Worker would ship it, and a scripted fetch stands in for the servers, so nothing leaves the process.
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const worker = `
import { createClient, isN2StoreNetworkError } from ${JSON.stringify(fileURLToPath(new URL("../src/index.ts", import.meta.url)))};

export default {
  async fetch() {
    const seen = [];
    const fetch = async (req) => {
      const url = new URL(req.url);
      seen.push(url.origin + " " + req.method + " " + url.pathname + " " + (req.headers.get("idempotency-key") ? "key" : "-"));
      if (url.origin === "http://edge.test") throw new TypeError("Network connection lost.");
      if (url.pathname === "/health") return Response.json({ status: "ok", runtime: "node" });
      return Response.json({ message_id: "m" });
    };
    const body = { pageId: "1", psid: "2", message: "m", pageToken: "t" };
    const api = createClient({ servers: ["http://edge.test", "http://node.test"], fetch, prewarm: false });
    const keyed = await api.POST("/api/facebook-send", { body });
    const keyless = await api.POST("/api/facebook-send", { body, idempotencyKey: false }).catch((e) => e);
    const hanging = createClient({
      servers: ["http://slow.test"],
      fetch: (req) => new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason))),
      timeoutMs: 200,
    });
    const late = await hanging.GET("/health").catch((e) => e);
    const nodes = await api.serversFor("node");
    api.close();
    hanging.close();
    return Response.json({
      keyed: keyed.data,
      keyless: { branded: isN2StoreNetworkError(keyless), reason: keyless.reason, maybeDelivered: keyless.maybeDelivered },
      late: { reason: late.reason, attempts: late.attempts },
      nodes,
      seen,
    });
  },
};
`;

let mf: Miniflare | undefined;
beforeAll(async () => {
  const out = await build({
    stdin: { contents: worker, loader: "js", resolveDir: fileURLToPath(new URL(".", import.meta.url)) },
    bundle: true,
    format: "esm",
    platform: "neutral",
    write: false,
    logLevel: "warning",
  });
  mf = new Miniflare({
    modules: true,
    script: out.outputFiles[0]?.text ?? "",
    compatibilityDate: "2026-04-01",
  });
}, 30_000);
afterAll(async () => {
  await mf?.dispose();
});

describe("in workerd", () => {
  it("fails over, keys, times out and classifies errors with the Workers runtime's own APIs", async () => {
    const res = await (mf as Miniflare).dispatchFetch("http://localhost/");
    expect(await res.json()).toEqual({
      keyed: { message_id: "m" },
      // A Worker's fetch failure is a bare TypeError: "maybe delivered", so a keyless POST stays put.
      keyless: { branded: true, reason: "network", maybeDelivered: true },
      late: { reason: "timeout", attempts: 1 },
      nodes: ["http://node.test"],
      seen: [
        "http://edge.test POST /api/facebook-send key",
        "http://node.test POST /api/facebook-send key",
        "http://edge.test POST /api/facebook-send -",
        "http://edge.test GET /health -",
        "http://node.test GET /health -",
      ],
    });
  }, 30_000);
});

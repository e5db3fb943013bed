// The SDK inside a real Worker runtime (workerd through Miniflare, local only): the source is bundled
// as a Worker would ship it, and a scripted fetch stands in for the servers, so nothing leaves the process.
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const worker = `
import { createClient, isN2StoreNetworkError } from ${JSON.stringify(fileURLToPath(new URL("../src/index.ts", import.meta.url)))};
import { createFailoverFetch } from ${JSON.stringify(fileURLToPath(new URL("../src/fetch.ts", import.meta.url)))};

export default {
  async fetch() {
    const seen = [];
    const fetch = async (req) => {
      const url = new URL(req.url);
      seen.push(url.origin + " " + req.method + " " + url.pathname + " " + (req.headers.get("idempotency-key") ? "key" : "-"));
      if (url.origin === "http://edge.test") throw new TypeError("Network connection lost.");
      if (url.pathname === "/health") return Response.json({ status: "ok", runtime: "node" });
      if (url.pathname.endsWith("/upload_contents")) {
        const got = await req.formData();
        return Response.json({ page_ids: got.get("page_ids") }, { status: got.get("page_ids") === "1,2" ? 200 : 400 });
      }
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
    // The fetch-compatible entry: a hand-built message and a form, then a URL of another origin.
    const raw = createFailoverFetch({ servers: ["http://edge.test", "http://node.test"], fetch: (i, n) => fetch(new Request(i, n)), prewarm: false });
    const form = new FormData();
    form.append("page_ids", "1,2");
    const rawSend = await raw("http://edge.test/api/facebook-send", { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" }, redirect: "manual" });
    const rawForm = await raw(new Request("http://edge.test/api/pancake-official/pages/1/upload_contents", { method: "POST", body: form }));
    const other = await raw("http://other.test/x").then((r) => r.status);
    api.close();
    hanging.close();
    raw.close();
    return Response.json({
      raw: { send: rawSend.status, form: rawForm.status, other, active: raw.state().active },
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
      raw: { send: 200, form: 200, other: 200, active: "http://node.test" },
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
        "http://edge.test POST /api/facebook-send key",
        "http://node.test POST /api/facebook-send key",
        "http://edge.test POST /api/pancake-official/pages/1/upload_contents key",
        "http://node.test POST /api/pancake-official/pages/1/upload_contents key",
        "http://other.test GET /x -",
      ],
    });
  }, 30_000);
});

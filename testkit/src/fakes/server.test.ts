import { createHash } from "node:crypto";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { createFaultControl } from "./faults.js";
import type { FakeServer } from "./server.js";
import { sendJson, startFakeServer, streamGenerated } from "./server.js";

let srv: FakeServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

async function start(): Promise<FakeServer> {
  srv = await startFakeServer({
    echo: true,
    handler: (req, res) => {
      if (req.path === "/stream") {
        streamGenerated(res, Number(req.query.get("bytes")), "application/octet-stream");
        return;
      }
      sendJson(res, 200, { ok: true, path: req.path });
    },
  });
  return srv;
}

describe("startFakeServer", () => {
  it("listens on 127.0.0.1 with an ephemeral port and records requests", async () => {
    const s = await start();
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${s.url}/a/b?x=1&x=2`, {
      method: "PUT",
      body: "hello",
      headers: { "X-Test": "yes" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, path: "/a/b" });
    const rec = s.requests[0];
    expect(rec?.method).toBe("PUT");
    expect(rec?.path).toBe("/a/b");
    expect(rec?.query.getAll("x")).toEqual(["1", "2"]);
    expect(rec?.headers["x-test"]).toBe("yes");
    expect(rec?.body).toBe("hello");
    expect(rec?.bodySha256).toBe(createHash("sha256").update("hello").digest("hex"));
  });

  it("echo describes the request, hashing bodies it does not keep", async () => {
    const s = await start();
    const big = "x".repeat(200_000);
    const res = await fetch(`${s.url}/echo/deep/path?q=1`, {
      method: "POST",
      body: big,
      headers: { authorization: "Bearer t" },
    });
    const echo = (await res.json()) as Record<string, unknown>;
    expect(echo).toMatchObject({
      method: "POST",
      path: "/echo/deep/path",
      query: "q=1",
      params: { q: ["1"] },
      bodyLength: 200_000,
      bodySha256: createHash("sha256").update(big).digest("hex"),
      body: null,
    });
    expect((echo.headers as Record<string, string>).authorization).toBe("Bearer t");
  });

  it("streams generated bodies of the requested size", async () => {
    const s = await start();
    const res = await fetch(`${s.url}/stream?bytes=3000000`);
    expect(res.headers.get("content-length")).toBe("3000000");
    expect((await res.arrayBuffer()).byteLength).toBe(3_000_000);
  });
});

describe("faults", () => {
  it("status answers the given status and body for the next N matching requests only", async () => {
    const s = await start();
    s.fault.set({ mode: "status", status: 503, body: { down: true } }, { times: 2, match: "/token" });
    expect((await fetch(`${s.url}/other`)).status).toBe(200);
    const r1 = await fetch(`${s.url}/token`);
    expect(r1.status).toBe(503);
    expect(await r1.json()).toEqual({ down: true });
    expect((await fetch(`${s.url}/token`)).status).toBe(503);
    expect((await fetch(`${s.url}/token`)).status).toBe(200);
    expect(s.fault.active).toBe(0);
    expect(s.fault.applied).toBe(2);
  });

  it("hang never answers but the request is recorded, and close() frees the socket", async () => {
    const s = await start();
    s.fault.set({ mode: "hang" });
    await expect(fetch(`${s.url}/x`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(s.requests).toHaveLength(1);
    // A raw request left hanging must be torn down by close(), not by a timeout.
    const closed = new Promise<string>((resolve) => {
      const req = request(`${s.url}/y`, () => resolve("answered"));
      req.on("error", (e) => resolve(e.message));
      req.end();
    });
    // Recorded once the request has reached the server: wait for that, not for a fixed time.
    await expect.poll(() => s.requests.length, { timeout: 5000 }).toBe(2);
    const t0 = Date.now();
    await s.close();
    expect(await closed).toMatch(/socket hang up|ECONNRESET/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("reset destroys the connection without a response", async () => {
    const s = await start();
    s.fault.set({ mode: "reset" }, { times: 1, method: "POST" });
    expect((await fetch(`${s.url}/x`)).status).toBe(200); // GET does not match
    await expect(fetch(`${s.url}/x`, { method: "POST", body: "{}" })).rejects.toThrow();
    expect(s.requests.at(-1)?.method).toBe("POST");
    expect((await fetch(`${s.url}/x`, { method: "POST" })).status).toBe(200);
  });

  it("garbage html is a 200 that is not JSON", async () => {
    const s = await start();
    s.fault.set({ mode: "garbage" }, { match: /^\/api\// });
    const res = await fetch(`${s.url}/api/x`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    await expect(res.json()).rejects.toThrow();
  });

  it("garbage truncated cuts a chunked JSON body", async () => {
    const s = await start();
    s.fault.set({ mode: "garbage", kind: "truncated" });
    const res = await fetch(`${s.url}/x`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it("slow delays the answer", async () => {
    const s = await start();
    s.fault.set({ mode: "slow", ms: 150 }, { times: 1 });
    const t0 = Date.now();
    expect((await fetch(`${s.url}/x`)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("clear disarms every rule and bad times are refused", () => {
    const f = createFaultControl();
    f.set({ mode: "hang" });
    f.set({ mode: "reset" }, { match: (m) => m === "DELETE" });
    expect(f.take("DELETE", "/a")?.mode).toBe("hang");
    f.clear();
    expect(f.take("DELETE", "/a")).toBeUndefined();
    expect(() => f.set({ mode: "hang" }, { times: 0 })).toThrow(RangeError);
  });
});

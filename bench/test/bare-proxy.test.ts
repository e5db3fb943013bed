import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { service } from "../src/measure.js";

// The second floor must proxy what the gateway proxies, or the bench compares unlike work.
describe("bare node:http + undici proxy (the second floor)", () => {
  const children: ChildProcess[] = [];
  let upstreamUrl = "";
  let bareUrl = "";

  beforeAll(async () => {
    const upstream = await service("upstream", "bench/src/upstream-server.ts", {}, "UPSTREAM");
    children.push(upstream.child);
    upstreamUrl = upstream.url;
    const bare = await service("bare", "bench/src/bare-proxy.ts", { UPSTREAM_URL: upstream.url }, "BARE");
    children.push(bare.child);
    bareUrl = bare.url;
  });

  afterAll(() => {
    for (const child of children) {
      child.kill("SIGTERM");
    }
  });

  it("answers /api/rest/* with the upstream's /rest/* status, type, length and body", async () => {
    const [proxied, direct] = await Promise.all([
      fetch(`${bareUrl}/api/rest/v2.0/bench?x=1`),
      fetch(`${upstreamUrl}/rest/v2.0/bench?x=1`),
    ]);
    expect(proxied.status).toBe(200);
    expect(proxied.headers.get("content-type")).toBe(direct.headers.get("content-type"));
    expect(proxied.headers.get("content-length")).toBe(direct.headers.get("content-length"));
    const body = await proxied.text();
    expect(body).toBe(await direct.text());
    expect(String(Buffer.byteLength(body))).toBe(proxied.headers.get("content-length"));
  });

  it("serves many requests on one keep-alive connection", async () => {
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${bareUrl}/api/rest/v2.0/bench/${i}`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
  });

  it("answers 404 outside its one route", async () => {
    const response = await fetch(`${bareUrl}/api/proxy?url=x`);
    expect(response.status).toBe(404);
  });
});

import { Readable } from "node:stream";
import { UpstreamFailure } from "@n2store/core";
import type { AnyResult } from "@n2store/generated";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { sendResult } from "../src/adapter/reply.js";

const apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A server whose one route answers `result()`, with a header every reply carries (as CORS is). */
async function serve(result: () => AnyResult) {
  const app = Fastify();
  apps.push(app);
  app.addHook("onRequest", (_request, reply, done) => {
    reply.header("x-request-id", "r-1");
    done();
  });
  app.get("/", async (_request, reply) => sendResult(reply, result()));
  await app.ready();
  return app;
}

const streamed = (raw: Readable): AnyResult =>
  ({
    status: 201,
    raw,
    headers: { "content-length": "5", "x-content-type-options": "nosniff" },
    contentType: "text/plain",
  }) as unknown as AnyResult;

describe("sendResult with a streamed body", () => {
  it("pipes it with the reply's headers and the result's, and the result's status", async () => {
    const app = await serve(() => streamed(Readable.from([Buffer.from("he"), Buffer.from("llo")])));
    const response = await app.inject({ url: "/" });
    expect(response.statusCode).toBe(201);
    expect(response.body).toBe("hello");
    expect(response.headers).toMatchObject({
      "x-request-id": "r-1",
      "x-content-type-options": "nosniff",
      "content-type": "text/plain",
      "content-length": "5",
    });
  });

  it("answers with the one error shape when the body fails before its first byte", async () => {
    const failing = new Readable({
      read() {
        this.destroy(new UpstreamFailure("reset", "socket hang up"));
      },
    });
    const app = await serve(() => streamed(failing));
    const response = await app.inject({ url: "/" });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({
      statusCode: 500,
      code: "INTERNAL",
      requestId: expect.any(String),
    });
    // The reply's own headers stay; the failed body's do not.
    expect(response.headers["x-request-id"]).toBe("r-1");
    expect(response.headers["x-content-type-options"]).toBeUndefined();
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
  });

  it("sends no body to HEAD", async () => {
    const app = await serve(() => streamed(Readable.from([Buffer.from("hello")])));
    const response = await app.inject({ method: "HEAD", url: "/" });
    expect(response.statusCode).toBe(201);
    expect(response.body).toBe("");
  });
});

import { API_VERSION, type OperationInput } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import type { NodeDeps, RuntimeHealth, SharedDeps } from "../deps.js";
import { testDeps as sharedTestDeps } from "../testing/deps.js";
import { getHealth, getServerTime } from "./system.js";

const NOW = Date.UTC(2026, 10, 25, 15, 4, 5, 678);

function testDeps(runtime: "edge" | "node", health: RuntimeHealth = {}): SharedDeps {
  return sharedTestDeps({ runtime, health, now: NOW });
}

function noInput<Op extends "getHealth" | "getServerTime">(): OperationInput<Op> {
  return {
    path: {},
    query: {},
    headers: {},
    body: undefined,
    rawQuery: "",
    rawHeaders: {},
  } as OperationInput<Op>;
}

describe("getHealth", () => {
  it("reports ok with the runtime, the API version and the clock's time, uncached", async () => {
    const idempotencyStore = { configured: true, reachable: true, latencyMs: 4.2 };
    const result = await getHealth(noInput(), testDeps("edge", { idempotencyStore }));
    expect(result).toEqual({
      status: 200,
      headers: { "cache-control": "no-store" },
      body: {
        status: "ok",
        runtime: "edge",
        version: API_VERSION,
        time: "2026-11-25T15:04:05.678Z",
        idempotencyStore,
      },
    });
  });

  it("reports degraded when the edge's configured idempotency store does not answer", async () => {
    const idempotencyStore = { configured: true, reachable: false };
    const result = await getHealth(noInput(), testDeps("edge", { idempotencyStore }));
    expect(result.body).toMatchObject({ status: "degraded", runtime: "edge", idempotencyStore });
  });

  it("stays ok on an edge run without a store (keyed sends go to the Node server by design)", async () => {
    const idempotencyStore = { configured: false, reachable: false };
    const result = await getHealth(noInput(), testDeps("edge", { idempotencyStore }));
    expect(result.body).toMatchObject({ status: "ok", idempotencyStore });
  });

  it("reports degraded, with the database state, when the database is unreachable", async () => {
    const database = { reachable: false, driver: "postgres" } as const;
    const result = await getHealth(
      noInput(),
      testDeps("node", { database, instanceId: "i-1", uptimeSeconds: 3 }),
    );
    expect(result.body).toMatchObject({ status: "degraded", runtime: "node", database, instanceId: "i-1" });
  });

  it("reports ok when the database answers", async () => {
    const database = { reachable: true, driver: "pglite", latencyMs: 1.5 } as const;
    const result = await getHealth(noInput(), testDeps("node", { database }));
    expect(result.body.status).toBe("ok");
    expect(result.body.database).toEqual(database);
  });

  it("stays ok when the realtime relay is down (only the database degrades health)", async () => {
    const result = await getHealth(
      noInput(),
      testDeps("node", { realtime: { state: "stopped", isLeader: false, browserClients: 0 } }),
    );
    expect(result.body.status).toBe("ok");
  });
});

describe("getServerTime", () => {
  it("reports the clock's instant in UTC, milliseconds, seconds and Vietnam time", async () => {
    const deps = { ...testDeps("node") } as unknown as NodeDeps;
    const result = await getServerTime(noInput(), deps);
    const now = new Date(NOW);
    expect(result.headers).toEqual({ "cache-control": "no-store" });
    expect(result.body).toMatchObject({
      utc: "2026-11-25T15:04:05.678Z",
      unix_timestamp: NOW,
      unix_seconds: Math.floor(NOW / 1000),
      vietnam_time: "2026-11-25T22:04:05.678+07:00",
      timezone_offset_minutes: -now.getTimezoneOffset(),
      server_time_string: now.toString(),
    });
    expect(typeof result.body.timezone).toBe("string");
  });

  it("rolls Vietnam time over to the next day after 17:00 UTC", async () => {
    const deps = {
      ...testDeps("node"),
      clock: { now: () => Date.UTC(2026, 11, 31, 17, 30) },
    } as unknown as NodeDeps;
    const result = await getServerTime(noInput(), deps);
    expect(result.body.vietnam_time).toBe("2027-01-01T00:30:00.000+07:00");
  });
});

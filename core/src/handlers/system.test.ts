import { API_VERSION } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import type { RuntimeHealth, SharedDeps } from "../deps.js";
import { testDeps as sharedTestDeps } from "../testing/deps.js";
import { emptyInput } from "../testing/input.js";
import { getHealth } from "./system.js";

const NOW = Date.UTC(2026, 10, 25, 15, 4, 5, 678);

function testDeps(runtime: "edge" | "node", health: RuntimeHealth = {}): SharedDeps {
  return sharedTestDeps({ runtime, health, now: NOW });
}

const noInput = emptyInput<"getHealth">;

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

import { describe, expect, it } from "vitest";
import type { NodeDeps } from "../../deps.js";
import { testDeps } from "../../testing/deps.js";
import { emptyInput } from "../../testing/input.js";
import { getServerTime } from "./server-time.js";

const NOW = Date.UTC(2026, 10, 25, 15, 4, 5, 678);
const noInput = emptyInput<"getServerTime">();
const nodeDeps = (now: number) => testDeps({ runtime: "node", now }) as unknown as NodeDeps;

describe("getServerTime", () => {
  it("reports the clock's instant in UTC, milliseconds, seconds and Vietnam time", async () => {
    const deps = nodeDeps(NOW);
    const result = await getServerTime(noInput, deps);
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
    const deps = nodeDeps(Date.UTC(2026, 11, 31, 17, 30));
    const result = await getServerTime(noInput, deps);
    expect(result.body.vietnam_time).toBe("2027-01-01T00:30:00.000+07:00");
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { FailoverOptions, ServerState } from "../../src/options.js";
import { createProber } from "../../src/policy/probe.js";
import { health, json, scripted, serverState } from "../helpers.js";

const A = "http://127.0.0.1:8787";
const B = "http://127.0.0.1:3000";
const C = "http://127.0.0.1:3001";

let close = () => {};
/** A prober over scripted servers that all answer `/health` as Node servers unless told otherwise. */
function setup(servers: ServerState[], options: Partial<FailoverOptions> = {}, reply = () => health("node")) {
  const script = scripted(reply);
  const good: string[] = [];
  // As the breaker's `healthy` does, a good answer is the last time the server was seen.
  const healthy = (s: ServerState) => {
    s.lastSeen = Date.now();
    good.push(s.url);
  };
  const [probe, called, failed, stop] = createProber(healthy, servers, script.fetch, {
    servers: [],
    ...options,
  });
  close = stop;
  return { probe, called, failed, stop, good, ...script };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  close();
  vi.useRealTimers();
});

describe("probe", () => {
  it("learns the runtime from /health and reports the server healthy", async () => {
    const s = serverState(A);
    const { probe, good, calls } = setup([s], {}, () => health("edge"));
    expect(await probe(s)).toBe(true);
    expect(s.runtime).toBe("edge");
    expect(good).toEqual([A]);
    expect(calls.map((c) => `${c.base}${c.path}`)).toEqual([`${A}/health`]);
  });

  it("shares a probe in flight instead of sending a second one", async () => {
    const s = serverState(A);
    const { probe, calls } = setup([s]);
    const [first, second] = await Promise.all([probe(s), probe(s)]);
    expect([first, second]).toEqual([true, true]);
    expect(calls).toHaveLength(1);
  });

  it("answers false, without counting a failure, for an error status or a body that is not the gateway's", async () => {
    const s = serverState(A);
    for (const reply of [() => json(503, { status: "down" }), () => new Response("<html>")]) {
      const { probe, good } = setup([s], {}, reply);
      expect(await probe(s)).toBe(false);
      expect(good).toEqual([]);
      expect(s).toMatchObject({ runtime: undefined, failures: 0 });
    }
  });
});

describe("background loop", () => {
  it("probes a down server about every probeIntervalMs while calls are made, and not once idle", async () => {
    const s = serverState(A, { down: true });
    const { called, probes } = setup([s], { probeIntervalMs: 1_000, idleAfterMs: 10_000 });
    called();
    await vi.advanceTimersByTimeAsync(10_000);
    // Every 800-1 200 ms (±20%) for ten seconds.
    expect(probes(A)).toBeGreaterThanOrEqual(8);
    expect(probes(A)).toBeLessThanOrEqual(12);
    const before = probes(A);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probes(A)).toBeLessThanOrEqual(before + 1);
  });

  it("sends nothing while the page is hidden", async () => {
    vi.stubGlobal("document", { visibilityState: "hidden" });
    const { called, probes } = setup([serverState(A, { down: true })], { probeIntervalMs: 1_000 });
    called();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probes()).toBe(0);
  });

  it("keeps a keepWarm server warm every keepWarmMs, and stops for good on close", async () => {
    const s = serverState(B, { keepWarm: true, lastSeen: Date.now() });
    const { called, stop, probes } = setup([serverState(A), s], {
      probeIntervalMs: 1_000,
      keepWarmMs: 5_000,
    });
    for (let i = 0; i < 20; i++) {
      called();
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(probes(A)).toBe(0);
    expect(probes(B)).toBeGreaterThanOrEqual(3);
    expect(probes(B)).toBeLessThanOrEqual(4);
    stop();
    const before = probes();
    called();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(probes()).toBe(before);
  });
});

describe("pre-warming", () => {
  it("probes the servers after a failed one that have not answered for keepWarmMs, skipping down ones", async () => {
    const [a, b, c, d] = [
      serverState(A),
      serverState(B, { down: true }),
      serverState(C),
      serverState("http://127.0.0.1:3002"),
    ];
    d.lastSeen = Date.now();
    const { failed, probes } = setup([a, b, c, d], { keepWarmMs: 60_000 });
    failed(a);
    await vi.advanceTimersByTimeAsync(0);
    expect([probes(A), probes(B), probes(C), probes("http://127.0.0.1:3002")]).toEqual([0, 0, 1, 0]);
  });

  it("does not pre-warm when prewarm is false", async () => {
    const [a, b] = [serverState(A), serverState(B)];
    const { failed, probes } = setup([a, b], { prewarm: false });
    failed(a);
    await vi.advanceTimersByTimeAsync(0);
    expect(probes()).toBe(0);
  });
});

describe("probe timeout", () => {
  it("gives up on a server that does not answer within probeTimeoutMs", async () => {
    vi.useRealTimers(); // AbortSignal.timeout runs on the real clock
    const s = serverState(A);
    const { probe } = setup([s], { probeTimeoutMs: 20 }, () => "hang" as never);
    const started = performance.now();
    expect(await probe(s)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

/** The bound counter and histogram export exactly what prom-client's own would, for the same numbers. */
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { BoundCounter, BoundHistogram } from "../src/metric-series.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED = [0.0005, 0.001, 0.003, 0.05, 0.05, 0.7, 2, 30];

describe("bound metrics", () => {
  it("export a histogram in prom-client's text, bucket by bucket, with _sum and _count", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Histogram({
      name: "h_seconds",
      help: "h",
      labelNames: ["operation"],
      buckets: BUCKETS,
      registers: [theirs],
    });
    const bound = new BoundHistogram("h_seconds", "h", BUCKETS, [ours]);
    const series = bound.labels({ operation: "tposRestGet" });
    bound.labels({ operation: "unused" });
    for (const value of OBSERVED) {
      reference.labels("tposRestGet").observe(value);
      series.observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('h_seconds_bucket{le="0.01",operation="tposRestGet"} 3');
  });

  it("export a zeroed histogram series before its first observation, as prom-client's zero() does", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    new Histogram({
      name: "u",
      help: "u",
      labelNames: ["upstream"],
      buckets: BUCKETS,
      registers: [theirs],
    }).zero({
      upstream: "tpos",
    });
    new BoundHistogram("u", "u", BUCKETS, [ours]).labels({ upstream: "tpos" }, { zeroed: true });
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it("export counters in prom-client's text, and reset with the registry", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Counter({
      name: "c_total",
      help: "c",
      labelNames: ["operation", "status"],
      registers: [theirs],
    });
    const bound = new BoundCounter("c_total", "c", [ours]);
    const ok = bound.labels({ operation: "a", status: "200" });
    const failed = bound.labels({ operation: "a", status: "502" });
    for (let i = 0; i < 3; i++) {
      ok.inc();
      reference.labels("a", "200").inc();
    }
    failed.inc();
    reference.labels("a", "502").inc();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    ours.resetMetrics();
    expect(await ours.metrics()).toContain('c_total{operation="a",status="200"} 0');
  });
});

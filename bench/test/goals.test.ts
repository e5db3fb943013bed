import { describe, expect, it } from "vitest";
import { formatVerdict, type GoalFigures, judgeGoals } from "../src/goals.js";

const met: GoalFigures = {
  gatewayCpuUs: 60,
  expressCpuUs: 240,
  fastifyFloorCpuUs: 70,
  bareFloorCpuUs: 55,
  gatewayP50Us: 180,
  upstreamP50Us: 100,
  fanoutP99Ms: 12,
};

describe("judgeGoals", () => {
  it("says every goal holds when each figure is within it", () => {
    const verdicts = judgeGoals(met);
    expect(verdicts.map((v) => v.holds)).toEqual([true, true, true, true]);
    expect(verdicts.map((v) => v.value)).toEqual(["0.25", "0.86", "80 us", "12.0 ms"]);
  });

  it("holds at exactly a third of Express and exactly the Fastify floor", () => {
    const [express, floor] = judgeGoals({ ...met, gatewayCpuUs: 80, fastifyFloorCpuUs: 80 });
    expect(express?.holds).toBe(true);
    expect(floor?.holds).toBe(true);
  });

  it("misses each goal on its own figure", () => {
    expect(judgeGoals({ ...met, gatewayCpuUs: 81 })[0]?.holds).toBe(false);
    expect(judgeGoals({ ...met, fastifyFloorCpuUs: 59 })[1]?.holds).toBe(false);
    expect(judgeGoals({ ...met, gatewayP50Us: 201 })[2]?.holds).toBe(false);
    expect(judgeGoals({ ...met, fanoutP99Ms: 20 })[3]?.holds).toBe(false);
  });

  it("counts a figure the run did not measure as missed, shown as n/a", () => {
    const verdicts = judgeGoals({ ...met, expressCpuUs: Number.NaN, fanoutP99Ms: Number.NaN });
    expect(verdicts[0]).toMatchObject({ value: "n/a", holds: false });
    expect(verdicts[3]).toMatchObject({ value: "n/a", holds: false });
  });
});

describe("formatVerdict", () => {
  it("names the figure, the goal and the verdict", () => {
    const [first] = judgeGoals({ ...met, gatewayCpuUs: 120 });
    expect(first && formatVerdict(first)).toBe(
      "gateway CPU per request / Express: 0.50 (goal <= 0.33 (a third): MISSED)",
    );
  });
});

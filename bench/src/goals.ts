/**
 * Issue 15's goals, judged from one run's figures. Ratios of figures measured in the same
 * interleaved rounds are what this machine can compare (absolutes move with the other load on it),
 * so each goal is a ratio or a difference of two such figures.
 */

/** The figures the goals are judged on; NaN when the run did not measure one. */
export interface GoalFigures {
  /** CPU time of the server process per request, in µs, on `/api/rest/*`. */
  readonly gatewayCpuUs: number;
  readonly expressCpuUs: number;
  /** The minimal Fastify + undici proxy (the first floor). */
  readonly fastifyFloorCpuUs: number;
  /** The bare node:http + undici proxy (the second floor). */
  readonly bareFloorCpuUs: number;
  /** p50 at one connection, in µs. */
  readonly gatewayP50Us: number;
  readonly upstreamP50Us: number;
  /** One event to 1 000 browser sockets, p99 of the delivery time in ms. */
  readonly fanoutP99Ms: number;
}

/** One goal's verdict. */
export interface Verdict {
  readonly name: string;
  /** The measured figure, formatted. */
  readonly value: string;
  readonly goal: string;
  /** False when the figure misses the goal or was not measured. */
  readonly holds: boolean;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
const shown = (n: number, digits: number, unit = "") =>
  Number.isFinite(n) ? `${n.toFixed(digits)}${unit}` : "n/a";

/** The goals of issue 15 against one run's figures, in the order the issue lists them. */
export function judgeGoals(figures: GoalFigures): Verdict[] {
  const vsExpress = ratio(figures.gatewayCpuUs, figures.expressCpuUs);
  const vsFloor = ratio(figures.gatewayCpuUs, figures.fastifyFloorCpuUs);
  const added = figures.gatewayP50Us - figures.upstreamP50Us;
  return [
    {
      name: "gateway CPU per request / Express",
      value: shown(vsExpress, 2),
      goal: "<= 0.33 (a third)",
      // The goal is a third, not 0.33: compare the exact products, as a reader of the figures would.
      holds: Number.isFinite(vsExpress) && 3 * figures.gatewayCpuUs <= figures.expressCpuUs,
    },
    {
      name: "gateway CPU per request / Fastify floor",
      value: shown(vsFloor, 2),
      goal: "<= 1.00",
      holds: Number.isFinite(vsFloor) && figures.gatewayCpuUs <= figures.fastifyFloorCpuUs,
    },
    {
      name: "added p50 at one connection over the upstream alone",
      value: shown(added, 0, " us"),
      goal: "<= 100 us",
      holds: Number.isFinite(added) && added <= 100,
    },
    {
      name: "realtime fan-out to 1 000 sockets, p99",
      value: shown(figures.fanoutP99Ms, 1, " ms"),
      goal: "< 20 ms",
      holds: Number.isFinite(figures.fanoutP99Ms) && figures.fanoutP99Ms < 20,
    },
  ];
}

/** One line per verdict: `name: value (goal ..., holds|MISSED)`. */
export function formatVerdict(verdict: Verdict): string {
  return `${verdict.name}: ${verdict.value} (goal ${verdict.goal}: ${verdict.holds ? "holds" : "MISSED"})`;
}

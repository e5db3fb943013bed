/**
 * Reads a V8 CPU profile (`node --cpu-prof`'s .cpuprofile) as self time by function and by where
 * the code lives, the figures the profile summary reports. Self time only: a function's own
 * samples, not those of what it calls, so the rows add up to the process's sampled time.
 */

/** The part of a .cpuprofile this reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }[];
  /** When sampling began, in µs of the monotonic clock (`process.hrtime` of any process here). */
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A span of the monotonic clock, in µs: only samples taken within it are counted. */
export interface Window {
  readonly from: number;
  readonly to: number;
}

/** One row of the summary. */
export interface SelfTime {
  readonly name: string;
  readonly micros: number;
  /** Share of all sampled time, 0-100. */
  readonly percent: number;
}

/**
 * Where a function lives: its npm package, `node:` for Node's own JavaScript, `gateway` for the
 * bundled server (dist/main.js, which holds core and generated too), `(native)` for samples V8 gives
 * no script: C++ bindings such as the socket writes, the garbage collector, idle.
 */
export function placeOf(url: string): string {
  if (url === "") {
    return "(native)";
  }
  if (url.startsWith("node:")) {
    return "node:";
  }
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module?.[1] !== undefined) {
    return module[1];
  }
  return url.includes("/dist/main.js") ? "gateway" : url.replace(/^.*\//, "");
}

/** Self time by key, largest first, with each key's share of the whole. */
function rank(profile: CpuProfile, keyOf: (id: number) => string, window?: Window): SelfTime[] {
  const totals = new Map<string, number>();
  let all = 0;
  let at = profile.startTime;
  // timeDeltas[i] is the time before sample i; it is charged to that sample's function.
  profile.samples.forEach((id, index) => {
    const delta = Math.max(0, profile.timeDeltas[index] ?? 0);
    at += delta;
    if (window !== undefined && (at < window.from || at > window.to)) {
      return;
    }
    const key = keyOf(id);
    totals.set(key, (totals.get(key) ?? 0) + delta);
    all += delta;
  });
  return [...totals]
    .map(([name, micros]) => ({ name, micros, percent: all === 0 ? 0 : (100 * micros) / all }))
    .sort((a, b) => b.micros - a.micros);
}

/**
 * Self time by function (`name place:line`) and by place, largest first; with `window`, of the
 * samples taken within it only (the load, not the start-up and warm-up before it).
 */
export function selfTimes(
  profile: CpuProfile,
  window?: Window,
): { functions: SelfTime[]; places: SelfTime[] } {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const frame = (id: number) => frames.get(id) ?? { functionName: "?", url: "", lineNumber: -1 };
  return {
    functions: rank(
      profile,
      (id) => {
        const { functionName, url, lineNumber } = frame(id);
        const name = functionName === "" ? "(anonymous)" : functionName;
        return url === "" ? name : `${name} ${placeOf(url)}:${lineNumber + 1}`;
      },
      window,
    ),
    places: rank(profile, (id) => placeOf(frame(id).url), window),
  };
}

/**
 * The bench's measuring tools: helper processes, throughput under load (wrk or autocannon) with the
 * server's CPU time per request, latency at one connection, and interleaved rounds with medians.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Pool } from "undici";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const quick = process.argv.includes("--quick");
/** Throughput and latency are measured in ROUNDS interleaved rounds (see `interleaved`). */
export const ROUNDS = quick ? 1 : 5;
export const DURATION_S = quick ? 2 : 3;
export const CONNECTIONS = 32;
export const LATENCY_REQUESTS = quick ? 1000 : 2000;

/** Starts a helper process and waits for the line that carries its URL. */
export async function service(
  name: string,
  script: string,
  env: Record<string, string>,
  marker: string,
  nodeArgs: readonly string[] = [],
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", resolve(ROOT, script)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      const match = new RegExp(`${marker} (http://\\S+)`).exec(chunk.toString());
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return { url, child };
}

export const WRK = spawnSync("wrk", ["--version"], { encoding: "utf8" }).error === undefined;

/** wrk's latency figure ("812.00us", "1.27ms", "2.01s") in milliseconds. */
function ms(text: string | undefined): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text ?? "");
  if (match === null) {
    return Number.NaN;
  }
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (100 on Linux unless configured). */
const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** CPU time (user + system) a process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) in parentheses; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

/**
 * Requests per second and latency percentiles under CONNECTIONS concurrent keep-alive connections:
 * with wrk (C, one thread) when installed, which leaves more of the two cores to the servers than
 * autocannon (Node) does; else with autocannon. With `pid`, also the CPU time that server process
 * spent per request: unlike the rate, it does not depend on how the load generator and the upstream
 * share the cores, so it compares the proxies' own work most directly.
 */
/** What one throughput run measured (a type, not an interface: `interleaved` takes records of numbers). */
export type Throughput = { rps: number; p50: number; p99: number; errors: number; cpuUs: number };

export async function throughput(url: string, pid?: number): Promise<Throughput> {
  const cpuBefore = pid === undefined ? 0 : cpuMicros(pid);
  const perRequest = (requests: number) =>
    pid === undefined || requests === 0 ? Number.NaN : Math.round((cpuMicros(pid) - cpuBefore) / requests);
  if (WRK) {
    const run = spawnSync("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${DURATION_S}s`, "--latency", url], {
      encoding: "utf8",
    });
    const out = run.stdout;
    const errors =
      /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? /Socket errors: .*?(\d+)/.exec(out)?.[1] ?? "0";
    return {
      rps: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)),
      p50: ms(/^\s*50%\s+(\S+)/m.exec(out)?.[1]),
      p99: ms(/^\s*99%\s+(\S+)/m.exec(out)?.[1]),
      errors: Number(errors),
      cpuUs: perRequest(Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)),
    };
  }
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, pipelining: 1 });
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuUs: perRequest(result.requests.total),
  };
}

/**
 * Warms each target up with one uncounted run, then measures each once per round, the targets in
 * turn, for ROUNDS rounds, and keeps for each figure the median of its rounds. On a shared machine
 * a slow spell then costs every target alike instead of whichever happened to run during it, so
 * the ratios hold even when absolutes move.
 * Error counts are summed over the rounds.
 */
export async function interleaved<K extends string, T extends Record<string, number>>(
  targets: Record<K, () => Promise<T>>,
): Promise<Record<K, T>> {
  const runs = new Map<K, T[]>();
  // One run of each, not counted: the first load of a process pays for its JIT compiling the hot
  // path (and, for the gateway, for connecting its pools), which the rounds are not about.
  for (const measure of Object.values(targets) as (() => Promise<T>)[]) {
    await measure();
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, measure] of Object.entries(targets) as [K, () => Promise<T>][]) {
      const list = runs.get(name) ?? [];
      list.push(await measure());
      runs.set(name, list);
    }
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  const out = {} as Record<K, T>;
  for (const [name, list] of runs) {
    const first = list[0] as T;
    out[name] = Object.fromEntries(
      // Errors are counted over every round, never hidden by a median.
      Object.keys(first).map((field) => {
        const values = list.map((run) => run[field] as number);
        return [field, field === "errors" ? values.reduce((a, b) => a + b, 0) : median(values)];
      }),
    ) as T;
  }
  return out;
}

/** p50/p99 in microseconds of sequential requests on one keep-alive connection. */
export async function latency(
  url: string,
  init: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string } = {},
): Promise<{ p50: number; p99: number }> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 1, pipelining: 1 });
  const path = `${target.pathname}${target.search}`;
  const once = async () => {
    const response = await pool.request({
      path,
      method: init.method ?? "GET",
      headers: init.headers ?? {},
      body: init.body ?? null,
    });
    await response.body.dump();
    if (response.statusCode >= 300) {
      throw new Error(`${url} answered ${response.statusCode}`);
    }
  };
  for (let i = 0; i < 300; i++) {
    await once();
  }
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_REQUESTS; i++) {
    const started = process.hrtime.bigint();
    await once();
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  await pool.close();
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0);
  return { p50: at(0.5), p99: at(0.99) };
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

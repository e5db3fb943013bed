/**
 * `npm run profile --workspace bench`: where the gateway's CPU goes on `/api/rest/*` under the
 * bench's load. Starts the bench's fake upstream and the gateway as `npm start` runs it (built, at
 * LOG_LEVEL=warn, as in the bench) with `--cpu-prof`, loads it for a fixed time, stops it (the
 * profile is written on exit) and prints self time by function and by package. The profile is kept
 * in .tmp/profile/<target>/ for Chrome DevTools or speedscope.
 *
 *   npm run profile --workspace bench [-- --seconds 20 --path /api/rest/v2.0/bench --target bare|fastify]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startAllFakes } from "@n2store/testkit/fakes";
import { gatewayEnv, startNodeProcess } from "@n2store/testkit/servers";
import { type CpuProfile, selfTimes } from "./cpu-profile.js";
import { cpuMicros, DURATION_S, service, throughput } from "./measure.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    path: { type: "string", default: "/api/rest/v2.0/bench" },
    top: { type: "string", default: "30" },
    // The floors, profiled the same way, show which costs any Node proxy pays here.
    target: { type: "string", default: "gateway" },
  },
});
const FLOORS: Readonly<Record<string, [script: string, marker: string]>> = {
  bare: ["bench/src/bare-proxy.ts", "BARE"],
  fastify: ["bench/src/minimal-proxy.ts", "MINIMAL"],
};
const seconds = Number(values.seconds);
const top = Number(values.top);
const out = resolve(ROOT, ".tmp/profile", values.target);

spawnSync(process.execPath, [resolve(ROOT, "server-node/scripts/build.mjs")], { stdio: "inherit" });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const upstream = await service("upstream", "bench/src/upstream-server.ts", {}, "UPSTREAM");
const fakes = await startAllFakes();
const profiling = ["--cpu-prof", `--cpu-prof-dir=${out}`];
const floor = FLOORS[values.target];
const target = floor
  ? await service(values.target, floor[0], { UPSTREAM_URL: upstream.url }, floor[1], profiling).then(
      ({ url, child }) => ({
        url,
        pid: child.pid ?? 0,
        stop: () =>
          new Promise<void>((stopped) => {
            child.once("exit", () => stopped());
            child.kill("SIGTERM");
          }),
      }),
    )
  : await startNodeProcess(
      "profile-node",
      {
        ...gatewayEnv(fakes, {
          TPOS_BASE_URL: upstream.url,
          PROXY_ALLOWED_HOSTS: new URL(upstream.url).host,
          UPSTREAM_TIMEOUT_MS: "15000",
        }),
        DATA_DIR: resolve(ROOT, ".tmp/bench-pglite"),
      },
      { built: true, quiet: true, nodeArgs: profiling },
    ).then((gateway) => ({ url: gateway.url, pid: gateway.process.pid ?? 0, stop: () => gateway.stop() }));
const pid = target.pid;
// The measured load's span on the monotonic clock, which the profile's sample times also use.
const window = { from: 0, to: Number.POSITIVE_INFINITY };
try {
  // Warm-up (JIT, pools), then the measured load, which alone should dominate the profile.
  await throughput(`${target.url}${values.path}`);
  const before = cpuMicros(pid);
  window.from = Number(process.hrtime.bigint() / 1000n);
  const deadline = Date.now() + seconds * 1000;
  let requests = 0;
  while (Date.now() < deadline) {
    requests += (await throughput(`${target.url}${values.path}`)).rps * DURATION_S;
  }
  window.to = Number(process.hrtime.bigint() / 1000n);
  const cpu = cpuMicros(pid) - before;
  console.log(
    `${values.path}: about ${requests} requests, ${Math.round(cpu / Math.max(1, requests))} us of CPU per request (${values.target})`,
  );
} finally {
  await target.stop();
  upstream.child.kill("SIGTERM");
  await fakes.close();
}

// tsx's loader runs on a thread of its own, which writes a profile too: the main thread's is the largest.
const file = readdirSync(out)
  .filter((name) => name.endsWith(".cpuprofile"))
  .sort((a, b) => statSync(resolve(out, b)).size - statSync(resolve(out, a)).size)[0];
if (file === undefined) {
  throw new Error(`no .cpuprofile in ${out}`);
}
const { functions, places } = selfTimes(
  JSON.parse(readFileSync(resolve(out, file), "utf8")) as CpuProfile,
  window,
);
const line = (row: { name: string; percent: number; micros: number }) =>
  `  ${row.percent.toFixed(1).padStart(5)} %  ${(row.micros / 1000).toFixed(0).padStart(6)} ms  ${row.name}`;
console.log(`\nSelf time by place (${resolve(out, file)}):`);
for (const row of places.slice(0, 15)) {
  console.log(line(row));
}
console.log(`\nSelf time by function, top ${top}:`);
for (const row of functions.slice(0, top)) {
  console.log(line(row));
}

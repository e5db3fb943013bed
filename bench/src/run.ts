/**
 * `npm run bench`: the gateway against a direct upstream and an Express baseline, side by side in
 * one run on loopback, with ratios. Every load is bounded (fixed duration or count) and stops by
 * itself; everything listens on 127.0.0.1. Prints a table and writes .tmp/bench.json.
 *
 *   npm run bench                 all benchmarks
 *   npm run bench -- --quick      shorter runs (for a smoke test)
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { startAllFakes, tposPasswordGrant } from "@n2store/testkit/fakes";
import { gatewayEnv, startNodeProcess } from "@n2store/testkit/servers";
import { Pool, request } from "undici";
import { benchFanout } from "./fanout.js";
import { formatVerdict, judgeGoals } from "./goals.js";
import {
  CONNECTIONS,
  DURATION_S,
  interleaved,
  LATENCY_REQUESTS,
  latency,
  ROUNDS,
  rssBytes,
  service,
  type Throughput,
  throughput,
  WRK,
} from "./measure.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const quick = process.argv.includes("--quick");

interface Row {
  readonly name: string;
  readonly value: string;
  readonly note?: string;
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};
function report(name: string, value: string, note?: string): void {
  rows.push(note === undefined ? { name, value } : { name, value, note });
  console.log(`  ${name}: ${value}${note ? ` (${note})` : ""}`);
}

const fmt = (n: number) => n.toLocaleString("en-US");
const ratio = (a: number, b: number) => (b === 0 ? "n/a" : `${(a / b).toFixed(2)}x`);

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `N2Store gateway benchmarks, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}`,
  );
  console.log(
    `Throughput: ${WRK ? "wrk (1 thread)" : "autocannon"}, ${CONNECTIONS} connections, ${DURATION_S} s a run; latency: ${LATENCY_REQUESTS} sequential requests on one connection a run; each figure the median of ${ROUNDS} interleaved run(s).\n`,
  );

  // The gateway runs as `npm start` runs it (built to plain JavaScript), at LOG_LEVEL=warn: no log line
  // per request, as the baselines write none. The SDK runs as published (dist/).
  spawnSync(process.execPath, [resolve(ROOT, "server-node/scripts/build.mjs")], { stdio: "inherit" });
  spawnSync("npm", ["run", "--silent", "build", "--workspace", "sdk"], { cwd: ROOT, stdio: "inherit" });
  const upstream = await service("upstream", "bench/src/upstream-server.ts", {}, "UPSTREAM");
  const express = await service(
    "express",
    "bench/src/express-baseline.ts",
    { UPSTREAM_URL: upstream.url },
    "EXPRESS",
  );
  const minimal = await service(
    "minimal",
    "bench/src/minimal-proxy.ts",
    { UPSTREAM_URL: upstream.url },
    "MINIMAL",
  );
  const bare = await service("bare", "bench/src/bare-proxy.ts", { UPSTREAM_URL: upstream.url }, "BARE");
  const fakes = await startAllFakes({ tpos: { tokenDelayMs: 200 } });
  const upstreamUrl = new URL(upstream.url);
  const gateway = await startNodeProcess(
    "bench-node",
    {
      ...gatewayEnv(fakes, {
        TPOS_BASE_URL: upstream.url,
        PROXY_ALLOWED_HOSTS: `${upstreamUrl.host},${new URL(fakes.cdn.url).host}`,
        UPSTREAM_TIMEOUT_MS: "15000",
      }),
      DATA_DIR: resolve(ROOT, ".tmp/bench-pglite"),
    },
    { built: true, quiet: true },
  );
  const gatewayPid = gateway.process.pid ?? 0;
  try {
    // -- 1. Pass-through throughput and latency -----------------------------------------------
    console.log("Pass-through (/api/rest/*) and generic proxy (/api/proxy):");
    const proxyTarget = encodeURIComponent(`${upstream.url}/bench`);
    const { direct, rest, floor, bareFloor, expressRest, proxy, expressProxy } = await interleaved({
      direct: () => throughput(`${upstream.url}/rest/v2.0/bench`, upstream.child.pid),
      rest: () => throughput(`${gateway.url}/api/rest/v2.0/bench`, gatewayPid),
      floor: () => throughput(`${minimal.url}/api/rest/v2.0/bench`, minimal.child.pid),
      bareFloor: () => throughput(`${bare.url}/api/rest/v2.0/bench`, bare.child.pid),
      expressRest: () => throughput(`${express.url}/api/rest/v2.0/bench`, express.child.pid),
      proxy: () => throughput(`${gateway.url}/api/proxy?url=${proxyTarget}`, gatewayPid),
      expressProxy: () => throughput(`${express.url}/api/proxy?url=${proxyTarget}`, express.child.pid),
    });
    // p50 and p99 of each; the error count where the gateway is measured; only the p50 of Express's
    // /api/proxy.
    const percentiles = (run: Throughput, show: { p99?: boolean; errors?: boolean } = {}) =>
      [
        `p50 ${run.p50} ms`,
        ...(show.p99 === false ? [] : [`p99 ${run.p99} ms`]),
        ...(show.errors === true ? [`${run.errors} errors`] : []),
      ].join(", ");
    for (const [name, run, note] of [
      ["upstream alone (direct)", direct, percentiles(direct)],
      ["gateway /api/rest/*", rest, percentiles(rest, { errors: true })],
      ["floor: minimal Fastify + undici /api/rest/*", floor, percentiles(floor)],
      ["second floor: bare node:http + undici Pool.stream() /api/rest/*", bareFloor, percentiles(bareFloor)],
      ["Express + http-proxy-middleware /api/rest/*", expressRest, percentiles(expressRest)],
      ["gateway /api/proxy", proxy, percentiles(proxy, { errors: true })],
      ["Express + http-proxy-middleware /api/proxy", expressProxy, percentiles(expressProxy, { p99: false })],
    ] as const) {
      report(name, `${fmt(run.rps)} req/s`, note);
    }
    report(
      "CPU per request, server process (rest)",
      `gateway ${rest.cpuUs} us, Fastify floor ${floor.cpuUs} us, bare floor ${bareFloor.cpuUs} us, Express ${expressRest.cpuUs} us`,
      `upstream alone ${direct.cpuUs} us; /api/proxy: gateway ${proxy.cpuUs} us, Express ${expressProxy.cpuUs} us`,
    );
    report(
      "requests per CPU-second, gateway / Express (rest)",
      ratio(expressRest.cpuUs, rest.cpuUs),
      `proxy ${ratio(expressProxy.cpuUs, proxy.cpuUs)}; floor / Express ${ratio(expressRest.cpuUs, floor.cpuUs)}`,
    );
    report("ratio gateway / Express (rest)", ratio(rest.rps, expressRest.rps), "goal >= 3x");
    report("ratio gateway / direct (rest)", ratio(rest.rps, direct.rps), "goal >= 0.50");
    report("ratio gateway / Express (proxy)", ratio(proxy.rps, expressProxy.rps));
    report("ratio gateway / floor (rest)", ratio(rest.rps, floor.rps), "the gateway's own cost");
    report(
      "ratio floor / Express (rest)",
      ratio(floor.rps, expressRest.rps),
      "the most a Fastify + undici proxy gains here",
    );
    report(
      "gateway's own CPU per request over the bare floor",
      `${rest.cpuUs - bareFloor.cpuUs} us`,
      `the Fastify floor's over it: ${floor.cpuUs - bareFloor.cpuUs} us`,
    );
    results.passThrough = { direct, rest, floor, bareFloor, expressRest, proxy, expressProxy };

    const {
      direct: directLatency,
      rest: restLatency,
      express: expressLatency,
      floor: floorLatency,
      bare: bareLatency,
      proxy: proxyLatency,
    } = await interleaved({
      direct: () => latency(`${upstream.url}/rest/v2.0/bench`),
      rest: () => latency(`${gateway.url}/api/rest/v2.0/bench`),
      express: () => latency(`${express.url}/api/rest/v2.0/bench`),
      floor: () => latency(`${minimal.url}/api/rest/v2.0/bench`),
      bare: () => latency(`${bare.url}/api/rest/v2.0/bench`),
      proxy: () => latency(`${gateway.url}/api/proxy?url=${proxyTarget}`),
    });
    report("latency at 1 connection, direct", `p50 ${directLatency.p50} us`, `p99 ${directLatency.p99} us`);
    report(
      "latency at 1 connection, gateway /api/rest",
      `p50 ${restLatency.p50} us`,
      `p99 ${restLatency.p99} us`,
    );
    report(
      "latency at 1 connection, Express",
      `p50 ${expressLatency.p50} us`,
      `p99 ${expressLatency.p99} us`,
    );
    report("added p50, gateway /api/rest", `${restLatency.p50 - directLatency.p50} us`, "goal <= 100 us");
    report("added p50, gateway /api/proxy", `${proxyLatency.p50 - directLatency.p50} us`);
    report(
      "added p50, floor (minimal Fastify + undici)",
      `${floorLatency.p50 - directLatency.p50} us`,
      "the second hop alone",
    );
    report(
      "added p50, bare floor (node:http + undici)",
      `${bareLatency.p50 - directLatency.p50} us`,
      "the least a Node proxy adds here",
    );
    report("gateway's own p50 over the floor", `${restLatency.p50 - floorLatency.p50} us`);
    report("added p50, Express", `${expressLatency.p50 - directLatency.p50} us`);
    results.latency = { directLatency, restLatency, floorLatency, bareLatency, expressLatency, proxyLatency };

    // -- 2. TPOS token: single flight and cache hits -------------------------------------------
    console.log("\nTPOS token (/api/token):");
    const tokenGateway = await startNodeProcess(
      "bench-token",
      {
        ...gatewayEnv(fakes),
        DATA_DIR: resolve(ROOT, ".tmp/bench-pglite-token"),
      },
      { built: true, quiet: true },
    );
    try {
      const form = tposPasswordGrant().toString();
      const before = fakes.tpos.tokenHits;
      const pool = new Pool(tokenGateway.url, { connections: 256 });
      const answers = await Promise.all(
        Array.from({ length: 1000 }, async () => {
          const response = await pool.request({
            path: "/api/token",
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: form,
          });
          await response.body.dump();
          return response.statusCode;
        }),
      );
      await pool.close();
      const upstreamCalls = fakes.tpos.tokenHits - before;
      report(
        "1000 concurrent cold requests, one credential",
        `${upstreamCalls} upstream call(s)`,
        `${answers.filter((s) => s === 200).length}/1000 answered 200`,
      );
      const hit = await latency(`${tokenGateway.url}/api/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form,
      });
      report("cache hit latency", `p50 ${hit.p50} us`, `p99 ${hit.p99} us`);
      results.token = { upstreamCalls, hit };
    } finally {
      await tokenGateway.stop();
    }

    // -- 3. A 50 MB image through /api/image-proxy ------------------------------------------------
    console.log("\nImage proxy (50 MB streamed):");
    const size = 50_000_000;
    // RSS is sampled every 10 ms during a transfer; growth is its peak over the value before it.
    const transfer = async () => {
      await new Promise((settle) => setTimeout(settle, 500));
      const before = rssBytes(gatewayPid);
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssBytes(gatewayPid));
      }, 10);
      const startedAt = performance.now();
      const image = await request(
        `${gateway.url}/api/image-proxy?url=${encodeURIComponent(fakes.cdn.bigUrl(size))}`,
      );
      let received = 0;
      for await (const chunk of image.body) {
        received += (chunk as Buffer).length;
      }
      clearInterval(sampler);
      return {
        status: image.statusCode,
        received,
        seconds: (performance.now() - startedAt) / 1000,
        growthMb: (peak - before) / 1024 / 1024,
      };
    };
    // The first transfer also warms the route (its pool, code paths, the allocator's first large
    // buffers); the next three show what a transfer costs in steady state. Freed chunks go back to
    // the allocator only when the garbage collector runs, so a single figure is noisy: three, median.
    const first = await transfer();
    const steady = [await transfer(), await transfer(), await transfer()];
    const growths = steady.map((t) => t.growthMb).sort((x, y) => x - y);
    const last = steady.at(-1) ?? first;
    report(
      "bytes received",
      `${fmt(last.received)}`,
      `status ${last.status}, ${(last.received / 1e6 / last.seconds).toFixed(0)} MB/s`,
    );
    report(
      "gateway RSS growth during a transfer",
      `${(growths[1] ?? Number.NaN).toFixed(1)} MB median of 3`,
      `max ${(growths[2] ?? Number.NaN).toFixed(1)} MB; the first, cold transfer ${first.growthMb.toFixed(1)} MB; goal < 10 MB`,
    );
    results.image = { first, steady };

    // -- 4. Realtime fan-out to 1000 browser sockets ---------------------------------------------
    console.log("\nRealtime fan-out (one Pancake event to 1000 browser sockets):");
    const fanout = await benchFanout(gateway.url, fakes, quick ? 5 : 20);
    report(
      "deliveries",
      `${fmt(fanout.deliveries)} of ${fmt(fanout.expected)}`,
      `${fanout.expected / 1000} events x 1000 sockets`,
    );
    report(
      "delivery time from upstream push",
      `p50 ${fanout.p50.toFixed(1)} ms`,
      `p99 ${fanout.p99.toFixed(1)} ms`,
    );
    results.fanout = fanout;

    // -- Issue 15's goals, from the figures above (ratios within this run's interleaved rounds) ---
    console.log("\nGoals (issue 15):");
    const verdicts = judgeGoals({
      gatewayCpuUs: rest.cpuUs,
      expressCpuUs: expressRest.cpuUs,
      fastifyFloorCpuUs: floor.cpuUs,
      bareFloorCpuUs: bareFloor.cpuUs,
      gatewayP50Us: restLatency.p50,
      upstreamP50Us: directLatency.p50,
      fanoutP99Ms: fanout.p99,
    });
    for (const verdict of verdicts) {
      console.log(`  ${formatVerdict(verdict)}`);
      rows.push({
        name: verdict.name,
        value: verdict.value,
        note: `goal ${verdict.goal}: ${verdict.holds ? "holds" : "missed"}`,
      });
    }
    results.goals = verdicts;

    // -- 5. SDK failover --------------------------------------------------------------------------
    console.log("\nSDK failover (@n2store/sdk, the primary behind a switchable loopback front):");
    const { benchFailover } = await import("./failover.js");
    results.failover = await benchFailover(gateway.url, quick ? 100 : 400, report);
  } finally {
    await gateway.stop();
    upstream.child.kill("SIGTERM");
    express.child.kill("SIGTERM");
    minimal.child.kill("SIGTERM");
    bare.child.kill("SIGTERM");
    await fakes.close();
  }

  // -- 6. Sizes --------------------------------------------------------------------------------
  console.log("\nSizes:");
  const out = resolve(ROOT, ".tmp/edge-bundle");
  const dry = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", out], {
    cwd: resolve(ROOT, "server-edge"),
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    encoding: "utf8",
  });
  if (dry.status === 0) {
    const bundle = readFileSync(resolve(out, "index.js"));
    report(
      "Worker bundle (wrangler deploy --dry-run)",
      `${(gzipSync(bundle, { level: 9 }).length / 1024).toFixed(1)} KB gzipped`,
      `${(bundle.length / 1024).toFixed(0)} KB minified; goal <= 100 KB gzipped`,
    );
  } else {
    report("Worker bundle", "wrangler deploy --dry-run failed", dry.stderr.slice(-200));
  }

  const sdkSize = spawnSync("npx", ["tsx", "scripts/size.ts"], {
    cwd: resolve(ROOT, "sdk"),
    encoding: "utf8",
  });
  const everything = /^everything \(main entry\)\s+(\d+) B min\s+(\d+) B min\+gzip/m.exec(sdkSize.stdout);
  if (everything !== null) {
    report(
      "SDK, everything (esbuild, with openapi-fetch)",
      `${fmt(Number(everything[2]))} B min+gzip`,
      `${fmt(Number(everything[1]))} B minified; budget ${fmt(6144)} B`,
    );
  } else {
    report("SDK size", "sdk/scripts/size.ts failed", (sdkSize.stdout + sdkSize.stderr).slice(-200));
  }

  mkdirSync(resolve(ROOT, ".tmp"), { recursive: true });
  writeFileSync(
    resolve(ROOT, ".tmp/bench.json"),
    `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, results, rows }, null, 2)}\n`,
  );
  console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(0)} s. Figures in .tmp/bench.json.`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

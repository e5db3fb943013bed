/**
 * The SDK's failover, measured: its client in front of two servers, the primary behind a loopback TCP
 * front this file switches between forwarding, refusing connections (its port closed) and
 * black-holing (connections accepted, never answered). Both servers are the same Node gateway, so
 * every difference is the SDK's own doing, not a difference between the runtimes.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { createClient } from "@n2store/sdk";

type Mode = "forward" | "refuse" | "blackhole";

/** A TCP listener on a fixed loopback port in front of `target`, whose behaviour can be switched. */
class SwitchableFront {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private mode: Mode = "forward";
  port = 0;

  constructor(private readonly target: URL) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Switches mode; open connections are cut so that kept-alive ones see the change too. */
  async set(mode: Mode): Promise<void> {
    this.mode = mode;
    for (const socket of this.sockets) {
      socket.destroy();
    }
    if (mode === "refuse") {
      await this.close();
    } else if (this.server === null) {
      await this.listen();
    }
  }

  private listen(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((listening, fail) => {
      server.once("error", fail);
      server.listen(this.port, "127.0.0.1", () => {
        const address = server.address();
        this.port = typeof address === "object" && address !== null ? address.port : 0;
        listening();
      });
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    if (this.mode === "blackhole") {
      socket.resume(); // read and drop: the request arrives, no answer ever leaves
      return;
    }
    const upstream = connect(Number(this.target.port), this.target.hostname);
    upstream.on("error", () => socket.destroy());
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) {
      socket.destroy();
    }
    if (server !== null) {
      await new Promise<void>((closed) => server.close(() => closed()));
    }
  }
}

const percentile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};
const sleep = (ms: number) => new Promise((settle) => setTimeout(settle, ms));

export interface FailoverFigures {
  readonly fallbackDirectP50Ms: number;
  readonly refusingFirstCallMs: number;
  readonly refusingP50Ms: number;
  readonly refusingP99Ms: number;
  readonly blackholeDownAfterMs: number;
  readonly blackholeWorstCallMs: number;
  readonly blackholeFailedCalls: number;
  readonly backOnPrimaryMs: number;
  readonly attemptTimeoutMs: number;
  readonly probeIntervalMs: number;
}

/**
 * Runs the three scenarios against `gatewayUrl` (whose `/api/rest/*` reaches a fast upstream) and
 * reports each figure through `report`.
 */
export async function benchFailover(
  gatewayUrl: string,
  calls: number,
  report: (name: string, value: string, note?: string) => void,
): Promise<FailoverFigures> {
  const attemptTimeoutMs = 1_000;
  const probeIntervalMs = 250;
  const front = new SwitchableFront(new URL(gatewayUrl));
  await front.set("forward");
  const options = { attemptTimeoutMs, probeIntervalMs, probeTimeoutMs: 500 };
  const path = { params: { path: { path: "v2.0/bench" } } } as const;
  const timed = async (api: ReturnType<typeof createClient>): Promise<number> => {
    const started = performance.now();
    const { response } = await api.GET("/api/rest/{path}", path); // reads the body
    if (!response.ok) {
      throw new Error(`the gateway answered ${response.status}`);
    }
    return performance.now() - started;
  };

  try {
    // 1. The primary refuses connections: the first call pays one refused connect and moves on;
    //    after three failures the primary is skipped until a probe finds it again. Calls through
    //    this client alternate with calls to the fallback alone, so both see the same machine.
    const servers = [
      { url: front.url, runtime: "node" as const },
      { url: gatewayUrl, runtime: "node" as const },
    ];
    const alone = createClient({ servers: [{ url: gatewayUrl, runtime: "node" }], ...options });
    const refusing = createClient({ servers, ...options });
    await timed(alone);
    await timed(refusing); // answered by the primary, its connection open
    await front.set("refuse");
    const refusingFirstCallMs = await timed(refusing);
    const direct: number[] = [];
    const through: number[] = [];
    for (let i = 0; i < calls; i++) {
      direct.push(await timed(alone));
      through.push(await timed(refusing));
    }
    alone.close();
    refusing.close();
    const fallbackDirectP50Ms = percentile(direct, 0.5);
    report(
      "primary refusing: first call",
      `${refusingFirstCallMs.toFixed(1)} ms`,
      `a call on the fallback alone: p50 ${fallbackDirectP50Ms.toFixed(2)} ms`,
    );
    report(
      "primary refusing: added latency at p50 afterwards",
      `${(percentile(through, 0.5) - fallbackDirectP50Ms).toFixed(2)} ms`,
      `p50 ${percentile(through, 0.5).toFixed(2)} ms vs ${fallbackDirectP50Ms.toFixed(2)} ms; the primary is marked down and skipped`,
    );

    // 2. The primary black-holed: a call every 20 ms; each one stuck on the primary moves on after
    //    its attempt timeout, and three such failures mark the primary down.
    await front.set("forward");
    const blackholed = createClient({ servers, ...options });
    await timed(blackholed);
    let downAt = Number.NaN;
    const offDown = blackholed.onDown((event) => {
      if (event.url === front.url && Number.isNaN(downAt)) {
        downAt = performance.now();
      }
    });
    await front.set("blackhole");
    const blackholedAt = performance.now();
    const inFlight: Promise<number>[] = [];
    let failed = 0;
    while (Number.isNaN(downAt) && performance.now() - blackholedAt < 10 * attemptTimeoutMs) {
      inFlight.push(
        timed(blackholed).catch(() => {
          failed += 1;
          return Number.NaN;
        }),
      );
      await sleep(20);
    }
    const during = (await Promise.all(inFlight)).filter((ms) => !Number.isNaN(ms));
    offDown();
    const blackholeDownAfterMs = downAt - blackholedAt;
    const blackholeWorstCallMs = Math.max(...during);
    report(
      "primary black-holed: marked down after",
      `${blackholeDownAfterMs.toFixed(0)} ms`,
      `attempt timeout ${attemptTimeoutMs} ms, down after 3 failures; ${inFlight.length} calls meanwhile, slowest ${blackholeWorstCallMs.toFixed(0)} ms, ${failed} failed`,
    );

    // 3. The primary answers again: the background probe (every 250 ms ±20 %) finds it, and calls
    //    go back to it.
    await front.set("forward");
    const recoveredAt = performance.now();
    let backAt = Number.NaN;
    while (performance.now() - recoveredAt < 10 * probeIntervalMs) {
      await timed(blackholed);
      if (blackholed.state().active === front.url) {
        backAt = performance.now();
        break;
      }
      await sleep(5);
    }
    blackholed.close();
    const backOnPrimaryMs = backAt - recoveredAt;
    report(
      "primary answers again: calls back on it after",
      `${backOnPrimaryMs.toFixed(0)} ms`,
      `probe interval ${probeIntervalMs} ms ±20 %`,
    );
    return {
      fallbackDirectP50Ms,
      refusingFirstCallMs,
      refusingP50Ms: percentile(through, 0.5),
      refusingP99Ms: percentile(through, 0.99),
      blackholeDownAfterMs,
      blackholeWorstCallMs,
      blackholeFailedCalls: failed,
      backOnPrimaryMs,
      attemptTimeoutMs,
      probeIntervalMs,
    };
  } finally {
    await front.close();
  }
}

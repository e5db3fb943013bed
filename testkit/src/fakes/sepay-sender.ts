/**
 * A stand-in for SePay's webhook SENDER: POSTs transaction JSON to the gateway and retries on
 * SePay's schedule (8 attempts, gaps 1,1,2,3,5,8,13 minutes) on non-2xx, connection errors and
 * timeouts. Time is scaled for tests. Facts: upstreams.md §4. Only loopback targets are allowed.
 */
import { createHmac } from "node:crypto";
import { setMaxListeners } from "node:events";
import { request } from "node:http";

/** A SePay webhook body (upstreams.md §4.1). */
export interface SepayTransaction {
  id: number;
  gateway: string;
  /** `YYYY-MM-DD HH:MM:SS`, Vietnam local time, no zone. */
  transactionDate: string;
  accountNumber: string;
  code: string | null;
  content: string;
  transferType: "in" | "out";
  transferAmount: number;
  accumulated: number;
  subAccount: string | null;
  referenceCode: string;
  description: string;
}

/** How the sender authenticates (chosen per webhook in SePay's dashboard). */
type SepayAuth =
  | { mode: "none" }
  | { mode: "apikey"; key: string }
  /** UNCERTAIN format (third-party receivers): `X-SePay-Signature: sha256=<hex HMAC(secret, "{ts}.{body}")>`. */
  | { mode: "hmac"; secret: string };

/** Options of `createSepaySender`. */
export interface SepaySenderOptions {
  /** The gateway's webhook URL; must be loopback (127.0.0.1, localhost or [::1]). */
  url: string;
  auth: SepayAuth;
  /** Per-attempt timeout, NOT scaled (SePay: 30 s). Tests of timeouts should pass a small value. */
  timeoutMs?: number;
  /** Gaps between attempts in minutes (default SePay's 1,1,2,3,5,8,13 → 8 attempts). */
  schedule?: number[];
  /** Real-time factor for the gaps: `10 / 60_000` turns one minute into 10 ms (default 1). */
  timeScale?: number;
}

/** One delivery attempt. */
interface SepayAttempt {
  /** `Date.now()` when the attempt started. */
  at: number;
  status?: number;
  /** First 2 KiB of the response body. */
  body?: string;
  /** Connection error code / message, or "timeout". */
  error?: string;
}

/** Outcome of `deliver`. */
interface SepayDelivery {
  delivered: boolean;
  attempts: SepayAttempt[];
}

/** The sender handle. */
export interface SepaySender {
  /** Delivers `payload`, retrying on SePay's schedule until a 2xx or the attempts run out. */
  deliver(payload: SepayTransaction): Promise<SepayDelivery>;
  /** Sends the same transaction (same `id`) again, as a dashboard replay does. */
  replay(payload: SepayTransaction): Promise<SepayDelivery>;
  /** Delivers the same transaction `n` times concurrently. */
  concurrentDuplicates(payload: SepayTransaction, n: number): Promise<SepayDelivery[]>;
  /** Builds a realistic transaction with a fresh id. */
  transaction(overrides?: Partial<SepayTransaction>): SepayTransaction;
  /** Every delivery made, in start order. */
  readonly deliveries: { payload: SepayTransaction; result: Promise<SepayDelivery> }[];
  /** Aborts pending waits and requests; unfinished deliveries resolve with `delivered:false`. */
  stop(): void;
}

/** SePay's retry gaps in minutes. */
const SEPAY_SCHEDULE_MINUTES = [1, 1, 2, 3, 5, 8, 13] as const;

let nextId = 40_000_000 + Math.floor(Math.random() * 1_000_000);
let balance = 125_000_000;

function vietnamTime(ms: number): string {
  return new Date(ms + 7 * 3_600_000).toISOString().slice(0, 19).replace("T", " ");
}

/** Builds a realistic incoming transfer with a process-unique `id`. */
export function sepayTransaction(overrides: Partial<SepayTransaction> = {}): SepayTransaction {
  const id = nextId++;
  const amount = overrides.transferAmount ?? 350_000;
  const type = overrides.transferType ?? "in";
  balance += type === "in" ? amount : -amount;
  const content = overrides.content ?? `N2S${id % 100_000} 0901234567 thanh toan don hang`;
  return {
    id,
    gateway: "MBBank",
    transactionDate: vietnamTime(Date.now()),
    accountNumber: "0123456789",
    code: `N2S${id % 100_000}`,
    content,
    transferType: type,
    transferAmount: amount,
    accumulated: balance,
    subAccount: null,
    referenceCode: `FT${String(id).padStart(12, "0")}`,
    description: `BankAPINotify ${content}`,
    ...overrides,
  };
}

/** Creates a sender aimed at a loopback webhook URL. */
export function createSepaySender(options: SepaySenderOptions): SepaySender {
  const target = new URL(options.url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname) || target.protocol !== "http:") {
    throw new Error(`the SePay sender only talks to http loopback URLs, got ${options.url}`);
  }
  const schedule = options.schedule ?? [...SEPAY_SCHEDULE_MINUTES];
  const scale = options.timeScale ?? 1;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const controller = new AbortController();
  // Concurrent-duplicate runs put one listener per in-flight request on the shared signal.
  setMaxListeners(0, controller.signal);
  const deliveries: SepaySender["deliveries"] = [];

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        controller.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      t.unref();
      controller.signal.addEventListener("abort", onAbort, { once: true });
    });

  const attempt = (body: string): Promise<SepayAttempt> =>
    new Promise((resolve) => {
      const at = Date.now();
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "user-agent": "SePay-Webhook/1.0 (fake)",
      };
      if (options.auth.mode === "apikey") {
        headers.authorization = `Apikey ${options.auth.key}`;
      } else if (options.auth.mode === "hmac") {
        const ts = String(Math.floor(at / 1000));
        const sig = createHmac("sha256", options.auth.secret).update(`${ts}.${body}`).digest("hex");
        headers["x-sepay-timestamp"] = ts;
        headers["x-sepay-signature"] = `sha256=${sig}`;
      }
      // agent:false → a fresh connection per attempt, so a reset or hang never poisons the next one.
      const req = request(
        target,
        { method: "POST", headers, agent: false, signal: controller.signal },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text = (text + chunk).slice(0, 2048);
          });
          res.on("end", () => resolve({ at, status: res.statusCode ?? 0, body: text }));
          res.on("error", (err) => resolve({ at, status: res.statusCode ?? 0, error: err.message }));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
      req.on("error", (err: NodeJS.ErrnoException) =>
        resolve({ at, error: err.message === "timeout" ? "timeout" : (err.code ?? err.message) }),
      );
      req.end(body);
    });

  const run = async (payload: SepayTransaction): Promise<SepayDelivery> => {
    const body = JSON.stringify(payload);
    const attempts: SepayAttempt[] = [];
    for (let i = 0; i <= schedule.length && !controller.signal.aborted; i++) {
      if (i > 0) {
        await wait((schedule[i - 1] ?? 0) * 60_000 * scale);
        if (controller.signal.aborted) {
          break;
        }
      }
      const a = await attempt(body);
      attempts.push(a);
      if (a.error === undefined && a.status !== undefined && a.status >= 200 && a.status < 300) {
        return { delivered: true, attempts };
      }
    }
    return { delivered: false, attempts };
  };

  const deliver = (payload: SepayTransaction): Promise<SepayDelivery> => {
    const result = run(payload);
    deliveries.push({ payload, result });
    return result;
  };

  return {
    deliver,
    replay: (payload) => deliver({ ...payload }),
    concurrentDuplicates: (payload, n) =>
      Promise.all(Array.from({ length: n }, () => deliver({ ...payload }))),
    transaction: sepayTransaction,
    deliveries,
    stop() {
      controller.abort();
    },
  };
}

import { createServer, type Server, type Socket } from "node:net";
import { expect } from "vitest";

/**
 * Loopback listeners that must never be reached: they count every TCP connection (not only HTTP
 * requests), on 127.0.0.1 and on [::1], so a test can prove an SSRF guard let nothing through.
 */
export interface SecretListeners {
  readonly port4: number;
  readonly port6: number | null;
  /** Connections received so far, on either address. */
  readonly hits: number;
  close(): Promise<void>;
}

async function listen(host: string): Promise<{ server: Server; port: number } | null> {
  const server = createServer((socket: Socket) => {
    counter.hits += 1;
    socket.end("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nSECRET");
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, resolve);
    });
  } catch {
    return null;
  }
  const address = server.address();
  return { server, port: typeof address === "object" && address !== null ? address.port : 0 };
}

const counter = { hits: 0 };

/** Starts the two secret listeners (IPv6 only where the machine has ::1). */
export async function startSecretListeners(): Promise<SecretListeners> {
  counter.hits = 0;
  const v4 = await listen("127.0.0.1");
  const v6 = await listen("::1");
  if (v4 === null) {
    throw new Error("cannot listen on 127.0.0.1");
  }
  return {
    port4: v4.port,
    port6: v6?.port ?? null,
    get hits() {
      return counter.hits;
    },
    async close() {
      await Promise.all(
        [v4, v6].map((entry) => entry && new Promise<void>((resolve) => entry.server.close(() => resolve()))),
      );
    },
  };
}

/**
 * Every spelling of a loopback target that must be refused (issue 7): dotted, short, decimal,
 * octal, hexadecimal, `0`, a trailing-dot localhost, IPv6 and IPv4-mapped IPv6, plus schemes and
 * userinfo. `port4`/`port6` are the secret listeners'.
 */
export function loopbackTargets(port4: number, port6: number | null): string[] {
  const targets = [
    `http://127.0.0.1:${port4}/`,
    `http://127.1:${port4}/`,
    `http://2130706433:${port4}/`,
    `http://0177.0.0.1:${port4}/`,
    `http://0x7f.0.0.1:${port4}/`,
    `http://0:${port4}/`,
    `http://localhost.:${port4}/`,
    `http://LOCALHOST:${port4}/`,
    `http://[::ffff:127.0.0.1]:${port4}/`,
    `http://user:pass@127.0.0.1:${port4}/`,
    `file:///etc/passwd`,
    `gopher://127.0.0.1:${port4}/_GET`,
    `data:text/plain,SECRET`,
    `ftp://127.0.0.1:${port4}/`,
  ];
  if (port6 !== null) {
    targets.push(`http://[::1]:${port6}/`);
  }
  return targets;
}

/** A proxying route of the gateway: method and path, the target going in `?url=`. */
export type ProxyRoute = readonly [method: string, path: string];

/**
 * Sends every target to every route of the gateway at `base`, and expects each to be refused in
 * the error shape: 400 INVALID_TARGET_URL or 403 TARGET_NOT_ALLOWED. Returns how many were refused.
 */
export async function expectEveryTargetRefused(
  base: string,
  targets: readonly string[],
  routes: readonly ProxyRoute[],
): Promise<number> {
  let refused = 0;
  for (const target of targets) {
    for (const [method, path] of routes) {
      const response = await fetch(`${base}${path}?url=${encodeURIComponent(target)}`, {
        method,
        signal: AbortSignal.timeout(10_000),
        ...(method === "POST" ? { body: "x", headers: { "content-type": "text/plain" } } : {}),
      });
      const body = (await response.json()) as { code?: string };
      expect([400, 403], `${method} ${path} ${target}`).toContain(response.status);
      expect(body.code, target).toMatch(/^(TARGET_NOT_ALLOWED|INVALID_TARGET_URL)$/);
      refused += 1;
    }
  }
  return refused;
}

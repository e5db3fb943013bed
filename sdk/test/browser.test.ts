/**
 * The packed SDK in a real browser (Debian's Chromium, driven by playwright-core): a page served
 * from its own origin loads the tarball's dist/ through an import map, calls the gateway's two
 * servers across origins (CORS), survives the primary going down, and receives a realtime event
 * relayed from the fake Pancake socket. Skipped, saying so, where /usr/bin/chromium is missing
 * (CI installs it).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { type AllFakes, conversationUpdate, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import {
  API_KEY,
  type EdgeServer,
  gatewayEnv,
  type NodeProcess,
  startEdgeServer,
  startNodeProcess,
  startTogether,
} from "@n2store/testkit/servers";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CHROMIUM = "/usr/bin/chromium";
const SDK = resolve(import.meta.dirname, "..");
const require = createRequire(import.meta.url);

if (!existsSync(CHROMIUM)) {
  console.warn(`browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)`);
}

/** npm pack, then unpack the tarball: the page loads exactly what users would install. */
function packSdk(into: string): string {
  execFileSync("npm", ["run", "build"], { cwd: SDK, stdio: "ignore" });
  const tarball = execFileSync("npm", ["pack", "--pack-destination", into, "--silent"], {
    cwd: SDK,
    encoding: "utf8",
  }).trim();
  execFileSync("tar", ["-xzf", join(into, tarball.split("\n").at(-1) ?? ""), "-C", into]);
  return join(into, "package");
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".html": "text/html",
};

/** The page's own origin: index.html, the unpacked SDK under /sdk/, openapi-fetch under /vendor/. */
async function servePage(packageDir: string): Promise<{ url: string; server: Server }> {
  const openapiFetch = require.resolve("openapi-fetch").replace(/index\.c?js$/, "index.mjs");
  const page = `<!doctype html><meta charset="utf-8"><title>SDK page</title>
<script type="importmap">{"imports":{"openapi-fetch":"/vendor/openapi-fetch.mjs"}}</script>
<script type="module">
  import { createClient, createRealtime } from "/sdk/dist/index.js";
  window.sdk = { createClient, createRealtime };
  window.ready = true;
</script>`;
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    let file: string | null = null;
    if (path === "/vendor/openapi-fetch.mjs") {
      file = openapiFetch;
    } else if (path.startsWith("/sdk/")) {
      // Serve only files inside the unpacked package.
      const candidate = resolve(packageDir, `.${path.slice("/sdk".length)}`);
      file = candidate.startsWith(`${packageDir}/`) ? candidate : null;
    }
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end(page);
    } else if (file !== null && existsSync(file)) {
      response
        .writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" })
        .end(readFileSync(file));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`,
    server,
  };
}

describe.skipIf(!existsSync(CHROMIUM))("the packed SDK in Chromium", () => {
  let fakes: AllFakes;
  let edge: EdgeServer;
  let node: NodeProcess;
  let page: { url: string; server: Server };
  let browser: Browser;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "n2store-browser-"));
    fakes = await startAllFakes();
    const env = gatewayEnv(fakes);
    [edge, node, page] = await startTogether(
      [startEdgeServer({ vars: env }), (started) => started.close()],
      [
        startNodeProcess("sdk-browser-node", { ...env, DATA_DIR: join(work, "pglite") }),
        (started) => started.stop(),
      ],
      [Promise.resolve(packSdk(work)).then(servePage), (started) => started.server.close()],
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    page?.server.close();
    await edge?.close();
    await node?.stop();
    await fakes?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("calls both servers across origins, survives the primary going down, and receives a realtime event", async () => {
    const tab = await browser.newPage();
    const failed: string[] = [];
    tab.on("requestfailed", (request) => failed.push(request.url()));
    await tab.goto(`${page.url}/`);
    await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);

    const servers = [edge.url, node.url];
    const health = await tab.evaluate(async (list) => {
      const { createClient } = (window as unknown as { sdk: typeof import("../src/index.js") }).sdk;
      const api = createClient({ servers: list, probeIntervalMs: 300, downAfter: 1 });
      (window as unknown as { api: unknown }).api = api;
      const first = await api.GET("/health");
      const active = api.state().active;
      const customers = await api.GET("/api/customers", { headers: { "x-api-key": "test-key-0123456789" } });
      return { runtime: first.data?.runtime, active, customers: customers.response.status };
    }, servers);
    // /health went to the primary; the node-only call went straight to the Node server, across CORS.
    expect(health).toEqual({ runtime: "edge", active: edge.url, customers: 200 });

    await edge.close();
    const afterDown = await tab.evaluate(async () => {
      const api = (window as unknown as { api: ReturnType<typeof import("../src/index.js").createClient> })
        .api;
      const results: (number | string)[] = [];
      for (let i = 0; i < 5; i++) {
        const { data } = await api.GET("/health");
        results.push(data?.runtime ?? "none");
      }
      return { results, active: api.state().active };
    });
    expect(afterDown.results).toEqual(["node", "node", "node", "node", "node"]);
    expect(afterDown.active).toBe(node.url);

    const started = await fetch(`${node.url}/api/realtime/start`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": API_KEY },
      body: JSON.stringify({
        token: FAKE_CREDENTIALS.pancake.jwt,
        userId: FAKE_CREDENTIALS.pancake.userId,
        pageIds: [...FAKE_CREDENTIALS.pageIds],
      }),
    });
    expect(started.status).toBe(200);
    const topic = `multiple_pages:${FAKE_CREDENTIALS.pancake.userId}`;
    await fakes.phoenix.waitFor(() => fakes.phoenix.joins.some((join) => join.topic === topic), 10_000);

    await tab.evaluate((key) => {
      const w = window as unknown as {
        sdk: typeof import("../src/index.js");
        api: ReturnType<typeof import("../src/index.js").createClient>;
        events: unknown[];
        live: { onState(fn: (e: { state: string }) => void): void };
      };
      w.events = [];
      const live = w.sdk.createRealtime(w.api, { apiKey: key });
      live.on("pages:update_conversation", (message) => w.events.push(message));
      w.live = live;
    }, API_KEY);
    const update = conversationUpdate({
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: "9484319011642026",
      snippet: "Chị ơi",
    });
    // Push until the browser's socket is authenticated and the event arrives.
    await expect
      .poll(
        async () => {
          fakes.phoenix.push(topic, "pages:update_conversation", update);
          return tab.evaluate(() => (window as unknown as { events: unknown[] }).events.length);
        },
        { timeout: 15_000, interval: 300 },
      )
      .toBeGreaterThan(0);
    const received = await tab.evaluate(() => (window as unknown as { events: unknown[] }).events[0]);
    expect(received).toMatchObject({
      type: "pages:update_conversation",
      payload: { conversation: { snippet: "Chị ơi" } },
    });
    expect(failed.filter((url) => url.startsWith(node.url))).toEqual([]);
    await tab.close();
  }, 90_000);
});

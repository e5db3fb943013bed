/**
 * The packed SDK in a real browser (Debian's Chromium, driven by playwright-core): a page served
 * from its own origin loads the tarball's dist/ through an import map, calls the gateway's two
 * servers across origins (CORS), survives the primary going down, and receives a realtime event
 * relayed from the fake Pancake socket. A second page is a shop page without a bundler: one
 * <script> tag loads the one-file build, and its hand-written `smartFetch` becomes the failover
 * fetch. Skipped, saying so, where /usr/bin/chromium is missing (CI installs it).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { type AllFakes, conversationUpdate, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { createTestDatabase } from "@n2store/testkit/postgres";
import {
  API_KEY,
  type EdgeServer,
  freePort,
  gatewayEnv,
  type NodeProcess,
  REALTIME_TOPIC,
  startEdgeServer,
  startNodeProcess,
  startRealtime,
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

/**
 * A shop page as the shop writes them (`shared/js/api-config.js`): URLs built by hand against the
 * Worker, and calls through `API_CONFIG.smartFetch`, which was plain `fetch`. With the SDK's script
 * build it is the failover fetch, one line. The servers' URLs come in the query string.
 */
const SHOP_PAGE = `<!doctype html><meta charset="utf-8"><title>orders-report</title>
<script src="/sdk/dist/n2store-sdk.iife.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  const WORKER_URL = params.get("worker");
  const FALLBACK_URL = params.get("fallback");
  const API_CONFIG = {
    WORKER_URL,
    buildUrl: {
      tposOData: (endpoint, qs) => WORKER_URL + "/api/odata/" + endpoint + (qs ? "?" + qs : ""),
      pancakeOfficial: (endpoint, pat) =>
        WORKER_URL + "/api/pancake-official/" + endpoint + "?page_access_token=" + pat,
      facebookSend: () => WORKER_URL + "/api/facebook-send",
    },
    smartFetch: N2StoreSDK.createFailoverFetch({ servers: [WORKER_URL, FALLBACK_URL] }),
  };
  window.API_CONFIG = API_CONFIG;
</script>`;

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
    if (path === "/" || path === "/shop.html") {
      response.writeHead(200, { "content-type": "text/html" }).end(path === "/" ? page : SHOP_PAGE);
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
  let env: Record<string, string>;
  let edgePort: number;
  // With DATABASE_URL: a fresh database of this file's own (the Node server would otherwise inherit
  // DATABASE_URL itself), which the edge shares through Hyperdrive, as deployed.
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const startEdge = () =>
    startEdgeServer({ vars: env, port: edgePort, ...(database ? { hyperdrive: database.url } : {}) });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "n2store-browser-"));
    fakes = await startAllFakes();
    env = gatewayEnv(fakes);
    database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    // A fixed port, so that a test can start the primary again where the pages expect it.
    edgePort = await freePort();
    [edge, node, page] = await startTogether(
      [startEdge(), (started) => started.close()],
      [
        startNodeProcess("sdk-browser-node", {
          ...env,
          ...(database ? { DATABASE_URL: database.url } : { DATA_DIR: join(work, "pglite") }),
        }),
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
    await database?.drop();
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

    const started = await startRealtime(node.url);
    expect(started.status).toBe(200);
    await fakes.phoenix.waitFor(
      () => fakes.phoenix.joins.some((join) => join.topic === REALTIME_TOPIC),
      10_000,
    );

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
          fakes.phoenix.push(REALTIME_TOPIC, "pages:update_conversation", update);
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

  it("gives a shop page's smartFetch failover with one <script>: its calls succeed on the fallback while the primary is stopped, and no message is sent twice", async () => {
    // The test above stops the primary; start it again where the page expects it.
    if (
      !(await fetch(`${edge.url}/health`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      edge = await startEdge();
    }
    const PAGE = FAKE_CREDENTIALS.pageIds[0];
    const conversation = fakes.pancakeStore.conversations.find(
      (c) => c.page_id === PAGE && c.type === "INBOX",
    );
    const shop = {
      tpos: FAKE_CREDENTIALS.tpos,
      page: PAGE,
      psid: FAKE_CREDENTIALS.psids.inWindow,
      pageToken: FAKE_CREDENTIALS.graphPageTokens[PAGE] ?? "",
      pat: FAKE_CREDENTIALS.pageAccessTokens[PAGE] ?? "",
      conversation: conversation?.id ?? "",
    };
    type Shop = typeof shop;
    const graphBefore = fakes.graph.sent.length;
    const pagesFmBefore = fakes.pagesFm.sent.length;
    const tab = await browser.newPage();
    const failed: string[] = [];
    tab.on("requestfailed", (request) => failed.push(request.url()));
    await tab.goto(`${page.url}/shop.html?${new URLSearchParams({ worker: edge.url, fallback: node.url })}`);
    await tab.waitForFunction(() => "API_CONFIG" in window);

    // What the page does, as the shop's code does it: bodies of several kinds, built by hand.
    const pageCalls = async ({ shop, tag, sends }: { shop: Shop; tag: string; sends: number }) => {
      type Api = {
        smartFetch: ((input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) & {
          state(): { active?: string };
          onFailover(fn: (e: { operation: string }) => void): () => void;
        };
        buildUrl: {
          tposOData(endpoint: string, qs?: string): string;
          pancakeOfficial(endpoint: string, pat: string): string;
          facebookSend(): string;
        };
        WORKER_URL: string;
      };
      const api = (window as unknown as { API_CONFIG: Api }).API_CONFIG;
      const moved: string[] = [];
      const off = api.smartFetch.onFailover((e) => moved.push(e.operation));
      const token = await api.smartFetch(`${api.WORKER_URL}/api/token`, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "password",
          username: shop.tpos.username,
          password: shop.tpos.password,
          client_id: shop.tpos.clientId,
        }),
      });
      const { access_token } = await token.json();
      const message = (i: number) => ({
        pageId: shop.page,
        psid: shop.psid,
        message: `${tag} ${i}`,
        pageToken: shop.pageToken,
      });
      const calls: Promise<Response>[] = [
        ...Array.from({ length: 6 }, () =>
          api.smartFetch(api.buildUrl.tposOData("Partner", "$top=1"), {
            headers: { Authorization: `Bearer ${access_token}`, tposappversion: "6.5.14.1" },
          }),
        ),
        ...Array.from({ length: sends }, (_, i) =>
          api.smartFetch(api.buildUrl.facebookSend(), {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(message(i)),
          }),
        ),
        // A Blob body, as a page that builds its payload as a file would send it.
        api.smartFetch(api.buildUrl.facebookSend(), {
          method: "POST",
          body: new Blob([JSON.stringify(message(sends))], { type: "application/json" }),
        }),
        // A Request object, replying through pages.fm's public API.
        api.smartFetch(
          new Request(
            api.buildUrl.pancakeOfficial(
              `pages/${shop.page}/conversations/${shop.conversation}/messages`,
              shop.pat,
            ),
            {
              method: "POST",
              headers: { "Content-Type": "application/json", Accept: "application/json" },
              body: JSON.stringify({ action: "reply_inbox", message: `${tag} reply` }),
            },
          ),
        ),
      ];
      const statuses = await Promise.all(
        calls.map((c) =>
          c.then(
            (r) => r.status,
            (e: Error) => `${e.name}: ${e.message}`,
          ),
        ),
      );
      // A call the page cancels rejects as fetch does.
      const aborted = await api
        .smartFetch(api.buildUrl.tposOData("Partner"), { signal: AbortSignal.abort() })
        .then(
          () => "resolved",
          (e: Error) => e.name,
        );
      off();
      return { token: token.status, statuses, aborted, moved, active: api.smartFetch.state().active };
    };

    const before = await tab.evaluate(pageCalls, { shop, tag: "trước", sends: 1 });
    expect(before.token).toBe(200);
    expect(before.statuses).toEqual(Array(9).fill(200));
    expect(before.aborted).toBe("AbortError");
    // The primary took every call it can run. With the shared key store (DATABASE_URL) that is all
    // of them; without one it refuses each keyed message before sending it (503), which then moves.
    expect(before.moved.sort()).toEqual(
      database
        ? []
        : ["POST /api/facebook-send", "POST /api/facebook-send", "POST /api/pancake-official/{path}"],
    );

    // Stop the primary, and open the page again: its smartFetch does not know yet, so every call
    // first meets a refused connection (a bare TypeError in a browser, "maybe delivered").
    await edge.close();
    await tab.reload();
    await tab.waitForFunction(() => "API_CONFIG" in window);
    const started = performance.now();
    const after = await tab.evaluate(pageCalls, { shop, tag: "sau", sends: 4 });
    const elapsed = performance.now() - started;
    expect(after.token).toBe(200);
    expect(after.statuses).toEqual(Array(12).fill(200));
    expect(after.aborted).toBe("AbortError");
    expect(after.active).toBe(node.url);
    // The token call and the calls that set out before the primary was marked down moved to the
    // fallback: the messages among them because they carry a key.
    expect(after.moved.length).toBeGreaterThanOrEqual(3);
    expect(after.moved).toContain("POST /api/token");
    expect(after.moved).toContain("POST /api/facebook-send");

    // Every message reached Graph and pages.fm exactly once.
    const texts = fakes.graph.sent
      .slice(graphBefore)
      .map((entry) => (entry.message as { text?: string }).text);
    expect(texts.sort()).toEqual(["sau 0", "sau 1", "sau 2", "sau 3", "sau 4", "trước 0", "trước 1"]);
    const replies = fakes.pagesFm.sent.slice(pagesFmBefore).map((entry) => entry.body.message);
    expect(replies.sort()).toEqual(["sau reply", "trước reply"]);
    expect(failed.filter((url) => url.startsWith(node.url))).toEqual([]);
    console.log(
      `sdk browser: shop page, primary stopped: ${after.statuses.length + 1} calls ok on the fallback in ${elapsed.toFixed(0)} ms, ` +
        `${after.moved.length} moved, ${texts.length} messages at Graph and ${replies.length} at pages.fm (0 duplicates)`,
    );
    await tab.close();
  }, 120_000);
});

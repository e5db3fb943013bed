/**
 * The SSRF set against every proxying route of the Node server, through real requests: every
 * spelling of loopback, a name that resolves to loopback (the DNS-level guard), a redirect from an
 * allowed host to loopback, other schemes and userinfo. The secret listeners count TCP connections:
 * none may arrive. (Private, link-local and metadata ranges are covered by the classifier's unit
 * tests in core, with no connection attempt.)
 */
import { FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { gatewayEnv, useStarted } from "@n2store/testkit/servers";
import { expectEveryTargetRefused, loopbackTargets, startSecretListeners } from "@n2store/testkit/ssrf";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/app.js";
import type { LookupAll } from "../src/upstream/undici-upstream.js";

describe("SSRF: nothing reaches a loopback listener through the Node server", () => {
  const fakes = useStarted(startAllFakes);
  const secret = useStarted(startSecretListeners);
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    // Names the allow-list admits but DNS points at loopback: only the connection guard can refuse them.
    const lookup: LookupAll = (hostname, _options, callback) => {
      if (hostname === "rebind.test") {
        callback(null, [{ address: "127.0.0.1", family: 4 }]);
      } else if (hostname === "rebind6.test") {
        callback(null, [{ address: "::1", family: 6 }]);
      } else {
        callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), []);
      }
    };
    const cdn = new URL(fakes().cdn.url);
    app = await buildApp({
      env: gatewayEnv(fakes(), {
        PROXY_ALLOWED_HOSTS: `${cdn.host},rebind.test,rebind6.test`,
        LOG_LEVEL: "warn",
      }),
      dataDir: null,
      logger: false,
      lookup,
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  it("refuses every target on every proxying route, and the listeners see no connection", async () => {
    const targets = [
      ...loopbackTargets(secret().port4, secret().port6),
      `http://rebind.test:${secret().port4}/`,
      ...(secret().port6 === null ? [] : [`http://rebind6.test:${secret().port6}/`]),
      fakes().cdn.redirectUrl(`http://127.0.0.1:${secret().port4}/`),
      fakes().cdn.redirectUrl(`http://2130706433:${secret().port4}/`, 307),
      fakes().cdn.redirectUrl(`http://rebind.test:${secret().port4}/`, 301),
      ...(secret().port6 === null ? [] : [fakes().cdn.redirectUrl(`http://[::1]:${secret().port6}/`, 308)]),
    ];
    const checked = await expectEveryTargetRefused(base, targets, [
      ["GET", "/api/proxy"],
      ["POST", "/api/proxy"],
      ["DELETE", "/api/proxy"],
      ["GET", "/api/image-proxy"],
    ]);
    // An avatar whose upstream redirects to loopback falls back to the placeholder.
    fakes().pancake.setContentBaseUrl(`http://127.0.0.1:${secret().port4}`);
    const avatar = await fetch(
      `${base}/api/fb-avatar?id=100000000000001&page=${FAKE_CREDENTIALS.pageIds[0]}`,
    );
    expect(avatar.status).toBe(200);
    expect(avatar.headers.get("x-avatar-source")).not.toBe("pancake");
    fakes().pancake.setContentBaseUrl(fakes().pancakeContent.url);

    console.log(
      `ssrf node: ${checked} refusals over ${targets.length} targets; secret listener hits: ${secret().hits}`,
    );
    expect(secret().hits).toBe(0);
  });

  it("still fetches an allowed host (the guard is not refusing everything)", async () => {
    const response = await fetch(
      `${base}/api/image-proxy?url=${encodeURIComponent(fakes().cdn.imageUrl("photo", "png"))}`,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
  });
});

/**
 * The SSRF set against every proxying route of the Worker in workerd. wrangler dev (Miniflare)
 * lets a Worker reach private addresses, so everything refused here is refused by our own code: IP
 * literals that are not public unicast (every spelling), hosts outside the allow-list (a Worker
 * cannot resolve DNS, so a name pointing at loopback is refused for not being allowed), and every
 * redirect hop. The secret listeners count TCP connections: none may arrive.
 */
import { startAllFakes } from "@n2store/testkit/fakes";
import { gatewayEnv, startEdgeServer, useStarted } from "@n2store/testkit/servers";
import { expectEveryTargetRefused, loopbackTargets, startSecretListeners } from "@n2store/testkit/ssrf";
import { describe, expect, it } from "vitest";

describe("SSRF: nothing reaches a loopback listener through the Worker", () => {
  const fakes = useStarted(startAllFakes);
  const secret = useStarted(startSecretListeners);
  const edge = useStarted(() => startEdgeServer({ vars: gatewayEnv(fakes()) }));

  it("refuses every target on every proxying route, and the listeners see no connection", async () => {
    const targets = [
      ...loopbackTargets(secret().port4, secret().port6),
      // /etc/hosts names of this machine that point at loopback, not on the allow-list.
      `http://vm:${secret().port4}/`,
      `http://localhost:${secret().port4}/`,
      fakes().cdn.redirectUrl(`http://127.0.0.1:${secret().port4}/`),
      fakes().cdn.redirectUrl(`http://0x7f.1:${secret().port4}/`, 307),
      fakes().cdn.redirectUrl(`http://vm:${secret().port4}/`, 301),
      ...(secret().port6 === null ? [] : [fakes().cdn.redirectUrl(`http://[::1]:${secret().port6}/`, 308)]),
    ];
    const checked = await expectEveryTargetRefused(edge().url, targets, [
      ["GET", "/api/proxy"],
      ["POST", "/api/proxy"],
      ["GET", "/api/image-proxy"],
    ]);
    console.log(
      `ssrf edge: ${checked} refusals over ${targets.length} targets; secret listener hits: ${secret().hits}`,
    );
    expect(secret().hits).toBe(0);
  }, 120_000);

  it("still fetches an allowed host through a redirect (the guard is not refusing everything)", async () => {
    const image = fakes().cdn.redirectUrl(fakes().cdn.imageUrl("photo", "png"));
    const response = await fetch(`${edge().url}/api/image-proxy?url=${encodeURIComponent(image)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
  });
});

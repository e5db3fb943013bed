import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { useStarted } from "../lifecycle.js";
import { FAKE_CREDENTIALS, startAllFakes } from "./index.js";

const fakes = useStarted(startAllFakes);

describe("startAllFakes", () => {
  it("exposes loopback URLs under the gateway's config names", () => {
    expect(Object.keys(fakes().env).sort()).toEqual(
      [
        "FACEBOOK_GRAPH_BASE_URL",
        "PANCAKE_BASE_URL",
        "PANCAKE_CONTENT_BASE_URL",
        "PANCAKE_PUBLIC_BASE_URL",
        "PANCAKE_WS_URL",
        "TPOS_BASE_URL",
      ].sort(),
    );
    for (const [name, url] of Object.entries(fakes().env)) {
      expect(url, name).toMatch(/^(http|ws):\/\/127\.0\.0\.1:\d+/);
    }
    expect(fakes().env.PANCAKE_WS_URL).toMatch(/\/socket\/websocket\?vsn=2\.0\.0$/);
  });

  it("wires the Pancake avatar redirect into the content fake and Graph pictures into the CDN", async () => {
    const psid = FAKE_CREDENTIALS.psids.inWindow;
    const avatar = await fetch(
      `${fakes().env.PANCAKE_BASE_URL}/api/v1/pages/${FAKE_CREDENTIALS.pageIds[0]}/avatar/${psid}`,
    );
    expect(avatar.status).toBe(200);
    expect(avatar.headers.get("content-type")).toBe("image/jpeg");
    const pic = await fetch(`${fakes().env.FACEBOOK_GRAPH_BASE_URL}/${psid}/picture`);
    expect(pic.status).toBe(200);
    expect(pic.url.startsWith(fakes().cdn.url)).toBe(true);
  });

  it("shares Pancake state between REST, pages.fm and realtime", async () => {
    const page = FAKE_CREDENTIALS.pageIds[1];
    const gen = await fetch(
      `${fakes().env.PANCAKE_BASE_URL}/api/v1/pages/${page}/generate_page_access_token?access_token=${FAKE_CREDENTIALS.pancake.jwt}`,
      {
        method: "POST",
      },
    );
    const { page_access_token } = (await gen.json()) as { page_access_token: string };
    const list = await fetch(
      `${fakes().env.PANCAKE_PUBLIC_BASE_URL}/api/public_api/v1/pages/${page}/conversations?page_access_token=${page_access_token}&since=0&until=1`,
    );
    expect(((await list.json()) as { success: boolean }).success).toBe(true);

    fakes().pancakeStore.expirePage(page);
    const ws = new WebSocket(fakes().env.PANCAKE_WS_URL ?? "");
    const reply = new Promise<unknown>((resolve) =>
      ws.once("message", (d) => resolve(JSON.parse(d.toString()))),
    );
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(
      JSON.stringify([
        "1",
        "1",
        `pages:${page}`,
        "phx_join",
        { accessToken: FAKE_CREDENTIALS.pancake.jwt, pageId: page },
      ]),
    );
    expect(((await reply) as unknown[])[4]).toEqual({
      status: "error",
      response: { message: "Gói cước hết hạn", error_code: 122 },
    });
    ws.terminate();
    fakes().reset();
    expect(fakes().pancakeStore.expiredPages.size).toBe(0);
    expect(fakes().pancake.requests).toHaveLength(0);
  });

  it("logs in to TPOS with the seeded credentials", async () => {
    const { username, password, clientId } = FAKE_CREDENTIALS.tpos;
    const res = await fetch(`${fakes().env.TPOS_BASE_URL}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", username, password, client_id: clientId }),
    });
    expect(res.status).toBe(200);
    expect(fakes().tpos.tokenHits).toBe(1);
  });
});

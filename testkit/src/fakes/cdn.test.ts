import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeCdn } from "./cdn.js";
import { createFakeCdn } from "./cdn.js";
import { TINY_JPEG, TINY_PNG } from "./images.js";

let cdn: FakeCdn;
beforeAll(async () => {
  cdn = await createFakeCdn();
});
afterAll(async () => {
  await cdn.close();
});

describe("CDN fake", () => {
  it("serves small valid PNG and JPEG images", async () => {
    const png = await fetch(cdn.imageUrl("a", "png"));
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(
      Buffer.from(await png.arrayBuffer())
        .subarray(0, 8)
        .equals(TINY_PNG.subarray(0, 8)),
    ).toBe(true);
    const jpg = await fetch(`${cdn.url}/img/b.jpg`);
    const bytes = Buffer.from(await jpg.arrayBuffer());
    expect(bytes.equals(TINY_JPEG)).toBe(true);
    expect(bytes.subarray(0, 2).toString("hex")).toBe("ffd8");
    expect((await fetch(`${cdn.url}/img/c.gif`)).status).toBe(404);
  });

  it("streams /big with and without Content-Length", async () => {
    const sized = await fetch(cdn.bigUrl(5_000_000));
    expect(sized.headers.get("content-type")).toBe("image/jpeg");
    expect(sized.headers.get("content-length")).toBe("5000000");
    expect((await sized.arrayBuffer()).byteLength).toBe(5_000_000);
    const chunked = await fetch(cdn.bigUrl(70_000, true));
    expect(chunked.headers.get("content-length")).toBeNull();
    expect((await chunked.arrayBuffer()).byteLength).toBe(70_000);
  });

  it("lets a test cancel a huge body after the first bytes", async () => {
    const res = await fetch(cdn.bigUrl(2_000_000_000));
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(first?.value?.byteLength).toBeGreaterThan(0);
    await reader?.cancel();
  });

  it("redirects anywhere, with the requested status, and loops", async () => {
    const r = await fetch(cdn.redirectUrl("http://169.254.169.254/latest/meta-data", 307), {
      redirect: "manual",
    });
    expect(r.status).toBe(307);
    expect(r.headers.get("location")).toBe("http://169.254.169.254/latest/meta-data");
    const loop = await fetch(cdn.loopUrl, { redirect: "manual" });
    expect(loop.status).toBe(302);
    expect(loop.headers.get("location")).toBe(cdn.loopUrl);
    await expect(fetch(cdn.loopUrl)).rejects.toThrow(); // fetch gives up after 20 redirects
    expect((await fetch(`${cdn.url}/redirect?to=x&status=200`)).status).toBe(400);
  });
});

import { inflateSync, crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { useStarted } from "../lifecycle.js";
import { createFakeCdn } from "./cdn.js";
import {
  ANIMATED_GIF,
  fakeVideo,
  imageSize,
  LOGO_SVG,
  PHOTO_JPEG,
  PHOTO_SIZE,
  photoPng,
  TINY_JPEG,
  TINY_PNG,
  VIDEO_BYTES,
  videoByteAt,
} from "./images.js";

const cdn = useStarted(createFakeCdn);

describe("CDN fake", () => {
  it("serves small valid PNG and JPEG images", async () => {
    const png = await fetch(cdn().imageUrl("a", "png"));
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(
      Buffer.from(await png.arrayBuffer())
        .subarray(0, 8)
        .equals(TINY_PNG.subarray(0, 8)),
    ).toBe(true);
    const jpg = await fetch(`${cdn().url}/img/b.jpg`);
    const bytes = Buffer.from(await jpg.arrayBuffer());
    expect(bytes.equals(TINY_JPEG)).toBe(true);
    expect(bytes.subarray(0, 2).toString("hex")).toBe("ffd8");
    expect((await fetch(`${cdn().url}/img/c.gif`)).status).toBe(404);
  });

  it("streams /big with and without Content-Length", async () => {
    const sized = await fetch(cdn().bigUrl(5_000_000));
    expect(sized.headers.get("content-type")).toBe("image/jpeg");
    expect(sized.headers.get("content-length")).toBe("5000000");
    expect((await sized.arrayBuffer()).byteLength).toBe(5_000_000);
    const chunked = await fetch(cdn().bigUrl(70_000, true));
    expect(chunked.headers.get("content-length")).toBeNull();
    expect((await chunked.arrayBuffer()).byteLength).toBe(70_000);
  });

  it("lets a test cancel a huge body after the first bytes", async () => {
    const res = await fetch(cdn().bigUrl(2_000_000_000));
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(first?.value?.byteLength).toBeGreaterThan(0);
    await reader?.cancel();
  });

  it("redirects anywhere, with the requested status, and loops", async () => {
    const r = await fetch(cdn().redirectUrl("http://169.254.169.254/latest/meta-data", 307), {
      redirect: "manual",
    });
    expect(r.status).toBe(307);
    expect(r.headers.get("location")).toBe("http://169.254.169.254/latest/meta-data");
    const loop = await fetch(cdn().loopUrl, { redirect: "manual" });
    expect(loop.status).toBe(302);
    expect(loop.headers.get("location")).toBe(cdn().loopUrl);
    await expect(fetch(cdn().loopUrl)).rejects.toThrow(); // fetch gives up after 20 redirects
    expect((await fetch(`${cdn().url}/redirect?to=x&status=200`)).status).toBe(400);
  });

  it("serves photos of a known size, a GIF, an SVG and a video with their types", async () => {
    const jpg = await fetch(cdn().photoUrl("jpg"));
    expect(jpg.headers.get("content-type")).toBe("image/jpeg");
    const jpgBytes = Buffer.from(await jpg.arrayBuffer());
    expect(jpgBytes.equals(PHOTO_JPEG)).toBe(true);
    expect(imageSize(jpgBytes)).toEqual({ format: "jpeg", ...PHOTO_SIZE });
    const png = Buffer.from(await (await fetch(cdn().photoUrl("png"))).arrayBuffer());
    expect(imageSize(png)).toEqual({ format: "png", ...PHOTO_SIZE });
    const sized = await fetch(cdn().sizedPhotoUrl(321, 123));
    expect(imageSize(new Uint8Array(await sized.arrayBuffer()))).toEqual({
      format: "png",
      width: 321,
      height: 123,
    });
    expect((await fetch(cdn().sizedPhotoUrl(4001, 10))).status).toBe(400);
    const gif = await fetch(cdn().gifUrl);
    expect(gif.headers.get("content-type")).toBe("image/gif");
    expect(Buffer.from(await gif.arrayBuffer()).equals(ANIMATED_GIF)).toBe(true);
    const svg = await fetch(cdn().svgUrl);
    expect([svg.headers.get("content-type"), await svg.text()]).toEqual(["image/svg+xml", LOGO_SVG]);
    const video = await fetch(cdn().videoUrl);
    expect(video.status).toBe(200);
    expect(video.headers.get("content-type")).toBe("video/mp4");
    expect(video.headers.get("accept-ranges")).toBe("bytes");
    expect(video.headers.get("content-length")).toBe(String(VIDEO_BYTES));
    expect(Buffer.from(await video.arrayBuffer()).equals(fakeVideo())).toBe(true);
    const html = await fetch(cdn().htmlUrl);
    expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
  });

  it("answers one byte range with 206 and Content-Range, as RFC 9110 §14 says", async () => {
    const cases: [string, number, number][] = [
      ["bytes=0-1023", 0, 1023],
      ["bytes=524288-525311", 524288, 525311],
      ["bytes=1048000-", 1048000, VIDEO_BYTES - 1],
      ["bytes=-100", VIDEO_BYTES - 100, VIDEO_BYTES - 1],
      ["bytes=1048500-9999999", 1048500, VIDEO_BYTES - 1],
      ["bytes=-9999999", 0, VIDEO_BYTES - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(cdn().videoUrl, { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${VIDEO_BYTES}`);
      expect(res.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(res.headers.get("accept-ranges")).toBe("bytes");
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes.length).toBe(end - start + 1);
      expect([bytes[0], bytes.at(-1)], range).toEqual([videoByteAt(start), videoByteAt(end)]);
    }
  });

  it("answers 416 with the size for a range it cannot satisfy", async () => {
    for (const range of [`bytes=${VIDEO_BYTES}-`, "bytes=2000000-2000010", "bytes=-0", "bytes=10-5"]) {
      const res = await fetch(cdn().videoUrl, { headers: { range } });
      expect(res.status, range).toBe(416);
      expect(res.headers.get("content-range"), range).toBe(`bytes */${VIDEO_BYTES}`);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it("answers the whole file for a Range it does not parse, several ranges, or a stale If-Range", async () => {
    const etag = (await fetch(cdn().videoUrl, { method: "HEAD" })).headers.get("etag") ?? "";
    expect(etag).toMatch(/^"[0-9a-f]{20}"$/);
    for (const headers of [
      { range: "items=0-10" },
      { range: "bytes=a-b" },
      { range: "bytes=0-10,20-30" },
      { range: "bytes=0-10", "if-range": '"old"' },
    ]) {
      const res = await fetch(cdn().videoUrl, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(VIDEO_BYTES);
    }
    const current = await fetch(cdn().videoUrl, { headers: { range: "bytes=0-10", "if-range": etag } });
    expect(current.status).toBe(206);
    await current.arrayBuffer();
  });

  it("serves ranges of images too, as a CDN serves any file", async () => {
    const res = await fetch(cdn().photoUrl("jpg"), { headers: { range: "bytes=0-1" } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).toString("hex")).toBe("ffd8");
  });
});

describe("images", () => {
  it("reads the size of every image the fakes serve", () => {
    expect(imageSize(TINY_PNG)).toEqual({ format: "png", width: 2, height: 2 });
    expect(imageSize(TINY_JPEG)).toEqual({ format: "jpeg", width: 2, height: 2 });
    expect(imageSize(PHOTO_JPEG)).toEqual({ format: "jpeg", width: 1200, height: 800 });
    expect(imageSize(ANIMATED_GIF)).toEqual({ format: "gif", width: 4, height: 4 });
    expect(imageSize(Buffer.from(LOGO_SVG))).toBeNull();
    expect(imageSize(fakeVideo())).toBeNull();
    expect(imageSize(new Uint8Array())).toBeNull();
  });

  it("writes a well-formed PNG: signature, chunk CRCs and a full IDAT", () => {
    const png = photoPng(7, 3);
    expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    const chunks: string[] = [];
    let at = 8;
    const idat: Buffer[] = [];
    while (at < png.length) {
      const length = png.readUInt32BE(at);
      const type = png.toString("latin1", at + 4, at + 8);
      const data = png.subarray(at + 8, at + 8 + length);
      expect(png.readUInt32BE(at + 8 + length), type).toBe(zlibCrc32(png.subarray(at + 4, at + 8 + length)));
      chunks.push(type);
      if (type === "IDAT") {
        idat.push(data);
      }
      at += 12 + length;
    }
    expect(chunks).toEqual(["IHDR", "IDAT", "IEND"]);
    expect(inflateSync(Buffer.concat(idat)).length).toBe((7 * 3 + 1) * 3);
    expect(photoPng(7, 3)).toBe(png); // cached
    expect(() => photoPng(0, 1)).toThrow(RangeError);
    expect(() => photoPng(4001, 1)).toThrow(RangeError);
  });

  it("makes a video whose bytes differ from one offset to the next", () => {
    const video = fakeVideo();
    expect(video.length).toBe(VIDEO_BYTES);
    expect(video.toString("latin1", 4, 8)).toBe("ftyp");
    expect(video[600_000]).toBe(videoByteAt(600_000));
    expect(video.subarray(1000, 1100).equals(video.subarray(2000, 2100))).toBe(false);
  });
});

/**
 * The Node server's ImageResizer (sharp) on real images: format kept, width bounded, quality
 * applied, EXIF orientation, and every way an image or its body can fail, plus the slots that bound
 * how many images are decoded at once. Sizes are read with testkit's own header reader, and checked
 * against sharp's.
 */
import { PassThrough, Readable } from "node:stream";
import { isImageResizeFailure, isUpstreamFailure, type ResizeOptions, UpstreamFailure } from "@n2store/core";
import type { RawBody } from "@n2store/generated";
import { imageSize, PHOTO_JPEG, photoPng, TINY_JPEG } from "@n2store/testkit/fakes";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { createSharpResizer } from "../src/images/sharp-resizer.js";

function body(bytes: Buffer): RawBody {
  return Readable.from([bytes]) as unknown as RawBody;
}

async function collect(stream: RawBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as unknown as Readable) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function resized(
  bytes: Buffer,
  type: string,
  options: ResizeOptions,
  resizer = createSharpResizer(),
): Promise<{ bytes: Buffer; contentType: string }> {
  const result = await resizer.resize(body(bytes), type, options);
  return { bytes: await collect(result.body), contentType: result.contentType };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("did not reject");
}

describe("createSharpResizer", () => {
  it("takes JPEG, PNG and WebP, and leaves GIF, SVG, AVIF and anything else alone", () => {
    const resizer = createSharpResizer();
    expect(
      ["image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp"].map(resizer.resizes),
    ).toEqual([true, true, true, true, true]);
    expect(
      ["image/gif", "image/svg+xml", "image/avif", "image/heic", "video/mp4", "text/html"].map(
        resizer.resizes,
      ),
    ).toEqual([false, false, false, false, false, false]);
  });

  it("makes the pages' w=900&q=70 of a 1200x800 JPEG a smaller JPEG 900 wide", async () => {
    const out = await resized(PHOTO_JPEG, "image/jpeg", { width: 900, quality: 70 });
    expect(out.contentType).toBe("image/jpeg");
    expect(imageSize(out.bytes)).toEqual({ format: "jpeg", width: 900, height: 600 });
    expect(out.bytes.length).toBeLessThan(PHOTO_JPEG.length);
    const meta = await sharp(out.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 900, 600]);
  });

  it("keeps a PNG a PNG: lossless without q, palette-quantised with it, both smaller", async () => {
    const original = photoPng(600, 400);
    const lossless = await resized(original, "image/png", { width: 300, quality: null });
    const palette = await resized(original, "image/png", { width: 300, quality: 70 });
    for (const out of [lossless, palette]) {
      expect(out.contentType).toBe("image/png");
      expect(imageSize(out.bytes)).toEqual({ format: "png", width: 300, height: 200 });
      expect(out.bytes.length).toBeLessThan(original.length);
    }
    expect((await sharp(palette.bytes).metadata()).isPalette).toBe(true);
    expect((await sharp(lossless.bytes).metadata()).isPalette).toBe(false);
    expect(palette.bytes.length).toBeLessThan(lossless.bytes.length);
  });

  it("keeps a WebP a WebP", async () => {
    const webp = await sharp(PHOTO_JPEG).webp({ quality: 95 }).toBuffer();
    const out = await resized(webp, "image/webp", { width: 300, quality: 50 });
    expect(out.contentType).toBe("image/webp");
    expect(imageSize(out.bytes)).toEqual({ format: "webp", width: 300, height: 200 });
    expect(out.bytes.length).toBeLessThan(webp.length);
  });

  it("re-encodes at the quality alone, keeping the size, when only q is given", async () => {
    const low = await resized(PHOTO_JPEG, "image/jpeg", { width: null, quality: 20 });
    expect(imageSize(low.bytes)).toEqual({ format: "jpeg", width: 1200, height: 800 });
    expect(low.bytes.length).toBeLessThan(PHOTO_JPEG.length);
  });

  it("never enlarges: w wider than the image keeps its size", async () => {
    const out = await resized(TINY_JPEG, "image/jpeg", { width: 4000, quality: null });
    expect(imageSize(out.bytes)).toEqual({ format: "jpeg", width: 2, height: 2 });
  });

  it("turns a photo upright by its EXIF orientation and drops the metadata", async () => {
    // Stored 1200x800, shown rotated 90 degrees (orientation 6), as phones write portrait photos.
    const sideways = await sharp(PHOTO_JPEG).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    expect((await sharp(sideways).metadata()).orientation).toBe(6);
    const out = await resized(sideways, "image/jpeg", { width: 400, quality: 70 });
    expect(imageSize(out.bytes)).toEqual({ format: "jpeg", width: 400, height: 600 });
    const meta = await sharp(out.bytes).metadata();
    expect(meta.orientation).toBeUndefined();
    expect(meta.exif).toBeUndefined();
  });

  it("rejects an image it cannot decode with ImageResizeFailure undecodable", async () => {
    const error = await rejection(
      createSharpResizer().resize(body(Buffer.from("<html>not a jpeg</html>")), "image/jpeg", {
        width: 10,
        quality: null,
      }),
    );
    expect(isImageResizeFailure(error) && error.kind).toBe("undecodable");
    const truncated = await rejection(
      createSharpResizer().resize(body(PHOTO_JPEG.subarray(0, 4000)), "image/jpeg", {
        width: 10,
        quality: null,
      }),
    );
    expect(isImageResizeFailure(truncated) && truncated.kind).toBe("undecodable");
  });

  it("rejects an image with more pixels than it decodes with too-many-pixels", async () => {
    const error = await rejection(
      createSharpResizer({ maxInputPixels: 1200 * 800 - 1 }).resize(body(PHOTO_JPEG), "image/jpeg", {
        width: 10,
        quality: null,
      }),
    );
    expect(isImageResizeFailure(error) && error.kind).toBe("too-many-pixels");
  });

  it("rejects with the body's own UpstreamFailure when the body fails mid-way", async () => {
    const source = new PassThrough();
    const pending = createSharpResizer().resize(source as unknown as RawBody, "image/jpeg", {
      width: 10,
      quality: null,
    });
    source.write(PHOTO_JPEG.subarray(0, 1000));
    setTimeout(() => source.destroy(new UpstreamFailure("too-large", "body larger than 1000 bytes")), 10);
    const error = await rejection(pending);
    expect(isUpstreamFailure(error) && error.kind).toBe("too-large");
  });

  it("decodes at most `concurrency` images at a time; the others wait for a slot", async () => {
    const resizer = createSharpResizer({ concurrency: 1 });
    const first = new PassThrough();
    const pendingFirst = resizer.resize(first as unknown as RawBody, "image/jpeg", {
      width: 10,
      quality: null,
    });
    const second = new PassThrough();
    let secondRead = false;
    second.on("resume", () => {
      secondRead = true;
    });
    const pendingSecond = resizer.resize(second as unknown as RawBody, "image/jpeg", {
      width: 10,
      quality: null,
    });
    second.end(PHOTO_JPEG);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(secondRead, "the second image is not read while the first holds the only slot").toBe(false);
    first.end(PHOTO_JPEG);
    await collect((await pendingFirst).body);
    const out = await collect((await pendingSecond).body);
    expect(imageSize(out)).toEqual({ format: "jpeg", width: 10, height: 7 });
  });

  it("frees the slot when the caller goes away before reading the answer", async () => {
    const resizer = createSharpResizer({ concurrency: 1 });
    // A big answer (a lossless PNG of 1200x800) that nobody reads stays unfinished until it is dropped.
    const abandoned = await resizer.resize(body(photoPng(1200, 800)), "image/png", {
      width: null,
      quality: null,
    });
    (abandoned.body as unknown as Readable).destroy();
    const next = await Promise.race([
      resizer.resize(body(PHOTO_JPEG), "image/jpeg", { width: 50, quality: null }),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000)),
    ]);
    expect(next, "the next image got the slot").not.toBeNull();
    if (next !== null) {
      expect(imageSize(await collect(next.body))?.width).toBe(50);
    }
  });

  it("frees the slot after a failure", async () => {
    const resizer = createSharpResizer({ concurrency: 1 });
    await rejection(resizer.resize(body(Buffer.from("garbage")), "image/png", { width: 10, quality: null }));
    const out = await resized(PHOTO_JPEG, "image/jpeg", { width: 20, quality: null }, resizer);
    expect(imageSize(out.bytes)?.width).toBe(20);
  });
});

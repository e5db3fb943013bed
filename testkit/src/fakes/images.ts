/**
 * Real images for the avatar and CDN fakes: tiny ones (2×2 pixels), photos of a known size that a
 * resizer can decode, an animated GIF, an SVG, a video-like body for range requests, and a reader
 * of image sizes for the tests. Real bytes matter: an image proxy under test may sniff magic numbers
 * or hand the body to a decoder.
 */
import { readFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

/** A 2×2 baseline JPEG (268 bytes). */
export const TINY_JPEG: Buffer = Buffer.from(
  "/9j/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAACAAIDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAP/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFAEBAAAAAAAAAAAAAAAAAAAABf/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAMAwEAAhEDEQA/AKABiz//2Q==",
  "base64",
);

/** A 2×2 RGB PNG (94 bytes). */
export const TINY_PNG: Buffer = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEElEQVR42mM4UaEBRAwQCgAp7gWhZAhhBwAAAABJRU5ErkJggg==",
  "base64",
);

/** The size of the fake CDN's photos (`/photo.jpg`, `/photo.png`): wider than the pages' `w=900`. */
export const PHOTO_SIZE = { width: 1200, height: 800 } as const;

/**
 * A 1200×800 baseline JPEG of gradients and shapes (17 767 bytes), made once with sharp at quality
 * 80 and kept as a file: writing a JPEG encoder here would be a project of its own.
 */
export const PHOTO_JPEG: Buffer = readFileSync(new URL("./fixtures/photo-1200x800.jpg", import.meta.url));

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const pngCache = new Map<string, Buffer>();

/**
 * A photo-like RGB PNG of the given size (gradients with a little seeded noise, as a camera
 * leaves), encoded here with zlib: deterministic, any size up to 4000×4000, decodable by any PNG
 * reader. Cached per size.
 */
export function photoPng(width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`photoPng needs a positive whole size, got ${width}×${height}`);
  }
  if (width > 4000 || height > 4000) {
    throw new RangeError(`photoPng makes at most 4000×4000, got ${width}×${height}`);
  }
  const key = `${width}x${height}`;
  const cached = pngCache.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  let seed = 0x2545f491;
  for (let y = 0; y < height; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      // xorshift32: the same noise on every run.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const noise = (seed & 15) - 8;
      const at = y * stride + 1 + x * 3;
      raw[at] = Math.max(0, Math.min(255, Math.round((x * 255) / width) + noise));
      raw[at + 1] = Math.max(0, Math.min(255, Math.round((y * 255) / height) + noise));
      raw[at + 2] = Math.max(0, Math.min(255, 160 + Math.round(60 * Math.sin((x + y) / 90)) + noise));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
  pngCache.set(key, png);
  return png;
}

/** A 4×4 GIF of two frames (red, then blue), looping: an animation that resizing would flatten. */
export const ANIMATED_GIF: Buffer = Buffer.from(
  "R0lGODlhBAAEAIAAAExpcf8AACH/C05FVFNDQVBFMi4wAwEAAAAh+QQFFAAAACwAAAAABAAEAAACBIyPGQUAIfkEBRQAAAAsAAAAAAQABACATGlxAAD/AgSMjxkFADs=",
  "base64",
);

/** A small SVG image (a vector: nothing to resize). */
export const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
  '<rect width="64" height="64" rx="12" fill="#c53030"/><path d="M16 44V20h8l16 16V20h8v24h-8L24 28v16z" fill="#fff"/></svg>';

/** The size of the fake CDN's video (`/video.mp4`): 1 MiB, so a seek can land well inside it. */
export const VIDEO_BYTES = 1024 * 1024;

/**
 * The byte at `offset` of the fake video: after a 24-byte MP4 `ftyp` box, a pattern that differs
 * from one offset to the next, so a test can check that a range holds exactly the asked bytes.
 * Not a playable video: the gateway never decodes video, it only passes bytes and ranges.
 */
export function videoByteAt(offset: number): number {
  const head = FTYP[offset];
  return head !== undefined ? head : (offset * 31 + (offset >>> 8) * 7 + 11) & 0xff;
}

const FTYP = Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex");

let video: Buffer | undefined;

/** The fake CDN's video, `VIDEO_BYTES` long (see `videoByteAt`). */
export function fakeVideo(): Buffer {
  if (video === undefined) {
    video = Buffer.alloc(VIDEO_BYTES);
    for (let i = 0; i < VIDEO_BYTES; i++) {
      video[i] = videoByteAt(i);
    }
  }
  return video;
}

/** What `imageSize` reads from an image's header. */
export interface ImageSize {
  readonly format: "png" | "jpeg" | "gif" | "webp";
  readonly width: number;
  readonly height: number;
}

/** The SOF markers of JPEG (every one but DHT C4, JPG C8 and DAC CC) carry the frame's size. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * The format and pixel size of a PNG, JPEG, GIF or WebP, read from its header by hand (so the
 * contract suite checks a resize without the library that did it); null for anything else.
 */
export function imageSize(bytes: Uint8Array): ImageSize | null {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    data.length >= 24 &&
    data.readUInt32BE(0) === 0x89504e47 &&
    data.toString("latin1", 12, 16) === "IHDR"
  ) {
    return { format: "png", width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 10 && /^GIF8[79]a$/.test(data.toString("latin1", 0, 6))) {
    return { format: "gif", width: data.readUInt16LE(6), height: data.readUInt16LE(8) };
  }
  if (
    data.length >= 30 &&
    data.toString("latin1", 0, 4) === "RIFF" &&
    data.toString("latin1", 8, 12) === "WEBP"
  ) {
    const chunk = data.toString("latin1", 12, 16);
    if (chunk === "VP8 ") {
      return {
        format: "webp",
        width: data.readUInt16LE(26) & 0x3fff,
        height: data.readUInt16LE(28) & 0x3fff,
      };
    }
    if (chunk === "VP8L") {
      const bits = data.readUInt32LE(21);
      return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8X") {
      return { format: "webp", width: data.readUIntLE(24, 3) + 1, height: data.readUIntLE(27, 3) + 1 };
    }
    return null;
  }
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8) {
    let at = 2;
    while (at + 9 < data.length) {
      if (data[at] !== 0xff) {
        return null;
      }
      const marker = data[at + 1] as number;
      if (marker === 0xff) {
        at += 1; // fill byte
        continue;
      }
      if (isStartOfFrame(marker)) {
        return { format: "jpeg", width: data.readUInt16BE(at + 7), height: data.readUInt16BE(at + 5) };
      }
      at += 2 + data.readUInt16BE(at + 2);
    }
  }
  return null;
}

import { availableParallelism } from "node:os";
import { PassThrough, type Readable } from "node:stream";
import {
  ImageResizeFailure,
  type ImageResizer,
  isImageResizeFailure,
  isUpstreamFailure,
  type ResizedImage,
  type ResizeOptions,
} from "@n2store/core";
import type { RawBody } from "@n2store/generated";
import type { Sharp } from "sharp";
import { toUpstreamFailure } from "../upstream/undici-upstream.js";

/**
 * The most pixels an image may have to be resized: 2^27, about 11 600 × 11 600, so a 108-megapixel
 * phone photo passes while a decompression bomb (a small file declaring a huge canvas) is refused
 * before it is decoded.
 */
const MAX_INPUT_PIXELS = 2 ** 27;

/** The formats re-encoded, by media type; each stays in its own format. */
const FORMATS = {
  "image/jpeg": "jpeg",
  "image/jpg": "jpeg",
  "image/pjpeg": "jpeg",
  "image/png": "png",
  "image/webp": "webp",
} as const;
type Format = (typeof FORMATS)[keyof typeof FORMATS];

const OUTPUT_TYPES: Readonly<Record<Format, string>> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
};

function formatOf(mediaType: string): Format | undefined {
  return Object.hasOwn(FORMATS, mediaType) ? FORMATS[mediaType as keyof typeof FORMATS] : undefined;
}

/** Options of the sharp resizer. */
export interface SharpResizerOptions {
  /** Images decoded at once; the rest wait with their upstream paused (default: the CPU count). */
  readonly concurrency?: number;
  /** See MAX_INPUT_PIXELS. */
  readonly maxInputPixels?: number;
}

/** A counting semaphore: at most `size` holders, the others wait in order. */
class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async acquire(): Promise<() => void> {
    if (this.active < this.size) {
      this.active++;
    } else {
      // The releasing holder hands its slot over directly, so `active` does not change.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) {
        this.active--;
      } else {
        next();
      }
    };
  }
}

/** Sets the encoder of `format` at `quality` (null: the format's default, PNG stays lossless). */
function encode(pipeline: Sharp, format: Format, quality: number | null): Sharp {
  switch (format) {
    case "jpeg":
      return pipeline.jpeg({ quality: quality ?? 80, mozjpeg: true });
    case "webp":
      return pipeline.webp({ quality: quality ?? 80 });
    case "png":
      // PNG is lossless: a quality only means something for a palette image (libimagequant). Its
      // least effort: measured on a 1200x800 photo to 900 wide, 0.4 s against 3.3 s at the default
      // effort 7, for a file 20 % larger.
      return quality === null ? pipeline.png() : pipeline.png({ palette: true, quality, effort: 1 });
  }
}

/** A failure of the encoder or of the body it read, as the port names it. */
function classify(error: unknown): Error {
  if (isUpstreamFailure(error) || isImageResizeFailure(error)) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return /pixel limit/i.test(message)
    ? new ImageResizeFailure("too-many-pixels", message, { cause: error })
    : new ImageResizeFailure("undecodable", message, { cause: error });
}

/**
 * Pipes `source` through `encoder` into a stream that is handed out once the first output bytes
 * exist (or the output is empty), so a bad image rejects before the answer starts. After that, an
 * error cuts the answer; the caller going away stops the encoder and the upstream body.
 */
function firstOutput(source: Readable, encoder: Sharp, release: () => void): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const out = new PassThrough();
    // The reply adds its own listener once it has the stream; until then an error must not crash.
    out.on("error", () => {});
    let started = false;
    const start = () => {
      if (!started) {
        started = true;
        resolve(out);
      }
    };
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) {
        return;
      }
      failed = true;
      release();
      source.destroy();
      const failure = classify(error);
      if (started) {
        out.destroy(failure);
      } else {
        started = true;
        reject(failure);
      }
    };
    source.on("error", (error) => encoder.destroy(toUpstreamFailure(error)));
    encoder.on("error", fail);
    encoder.on("data", (chunk: Buffer) => {
      if (!out.write(chunk)) {
        encoder.pause();
      }
      start();
    });
    out.on("drain", () => encoder.resume());
    encoder.once("end", () => {
      release();
      out.end();
      start();
    });
    out.once("close", () => {
      if (!encoder.readableEnded) {
        release();
        encoder.destroy();
        source.destroy();
      }
    });
    source.pipe(encoder);
  });
}

let loading: Promise<typeof import("sharp")["default"]> | undefined;

/** sharp (libvips) when the first image is resized: loading it took about 0.1 s of every start. */
function loadSharp(): Promise<typeof import("sharp")["default"]> {
  loading ??= import("sharp").then(({ default: sharp }) => {
    // libvips' operation cache keeps decoded images for reuse, which a proxy never has.
    sharp.cache(false);
    return sharp;
  });
  return loading;
}

/**
 * The Node server's ImageResizer: sharp (libvips), JPEG, PNG and WebP re-encoded in their own
 * format, at most `width` wide (never enlarged), turned upright by EXIF, metadata dropped. sharp
 * holds the compressed original in memory while it decodes (at most IMAGE_MAX_BYTES, which the
 * upstream client enforces while streaming), so at most `concurrency` images are taken at a time.
 * GIF (resizing drops the animation unless every frame is re-encoded), SVG (a vector), AVIF (slow to
 * encode) and other types are not taken: the handler passes them unchanged.
 */
export function createSharpResizer(options: SharpResizerOptions = {}): ImageResizer {
  const slots = new Slots(Math.max(1, options.concurrency ?? availableParallelism()));
  const maxInputPixels = options.maxInputPixels ?? MAX_INPUT_PIXELS;
  return {
    resizes: (mediaType) => formatOf(mediaType) !== undefined,
    async resize(image: RawBody, mediaType: string, resize: ResizeOptions): Promise<ResizedImage> {
      const format = formatOf(mediaType);
      if (format === undefined) {
        throw new ImageResizeFailure("undecodable", `${mediaType} is not a type this resizer takes`);
      }
      const source = image as unknown as Readable;
      // The body may wait for a slot: an error meanwhile is kept, not thrown at the process.
      let early: unknown;
      const keep = (error: unknown) => {
        early ??= error;
      };
      source.on("error", keep);
      const sharp = await loadSharp();
      const release = await slots.acquire();
      if (early !== undefined || source.destroyed) {
        release();
        throw toUpstreamFailure(early ?? new Error("the image body closed before it was read"));
      }
      let encoder = sharp({ limitInputPixels: maxInputPixels, sequentialRead: true }).autoOrient();
      if (resize.width !== null) {
        encoder = encoder.resize({ width: resize.width, withoutEnlargement: true });
      }
      encoder = encode(encoder, format, resize.quality);
      const body = await firstOutput(source, encoder, release);
      return { body: body as unknown as RawBody, contentType: OUTPUT_TYPES[format] };
    },
  };
}

/**
 * Fake image CDN for the image/avatar proxies: small valid images, photos of a known size that a
 * resizer can decode, an animated GIF, an SVG, a video, an HTML page, a streamed body of any size
 * (never buffered), and redirect helpers so a test can make an allowed host redirect anywhere
 * (SSRF re-check) or forever (redirect-loop limits). Its files honour `Range` as a real CDN does
 * (RFC 9110 §14): `Accept-Ranges: bytes` and a strong ETag on every file, 206 with
 * `Content-Range` for one satisfiable range, 416 with `Content-Range: bytes *\/<size>` when it
 * cannot be satisfied, the whole file (200) for a Range it does not parse, for several ranges (a
 * server may ignore Range; this one sends no multipart/byteranges) and when `If-Range` no longer
 * matches.
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import {
  ANIMATED_GIF,
  fakeVideo,
  LOGO_SVG,
  PHOTO_JPEG,
  PHOTO_SIZE,
  photoPng,
  TINY_JPEG,
  TINY_PNG,
} from "./images.js";
import type { FakeHandle, FakeRequest } from "./server.js";
import {
  baseHandle,
  intParam,
  redirect,
  sendBody,
  sendJson,
  startFakeServer,
  streamGenerated,
} from "./server.js";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** The CDN's fixed files, by path. */
const FILES: Readonly<Record<string, { type: string; body: () => Buffer }>> = {
  "/photo.jpg": { type: "image/jpeg", body: () => PHOTO_JPEG },
  "/photo.png": { type: "image/png", body: () => photoPng(PHOTO_SIZE.width, PHOTO_SIZE.height) },
  "/anim.gif": { type: "image/gif", body: () => ANIMATED_GIF },
  "/logo.svg": { type: "image/svg+xml", body: () => SVG },
  "/video.mp4": { type: "video/mp4", body: fakeVideo },
  "/page.html": { type: "text/html; charset=utf-8", body: () => HTML_PAGE },
};

/** Handle of the CDN fake. */
export interface FakeCdn extends FakeHandle {
  /** URL of a small image, e.g. `imageUrl("a", "png")`. */
  imageUrl(name: string, ext?: "png" | "jpg"): string;
  /** URL of a `PHOTO_SIZE` photo (1200×800): `PHOTO_JPEG`, or `photoPng(1200, 800)`. */
  photoUrl(ext: "jpg" | "png"): string;
  /** URL of a `photoPng(width, height)` (at most 4000×4000). */
  sizedPhotoUrl(width: number, height: number): string;
  /** URL of `ANIMATED_GIF`. */
  readonly gifUrl: string;
  /** URL of `LOGO_SVG`. */
  readonly svgUrl: string;
  /** URL of the 1 MiB `video/mp4` body of `fakeVideo()`. */
  readonly videoUrl: string;
  /** URL of an HTML page (what a CDN answers for a URL that is not a file, say). */
  readonly htmlUrl: string;
  /** URL of `/big` for `bytes` bytes (`chunked` omits Content-Length). */
  bigUrl(bytes: number, chunked?: boolean): string;
  /** URL that redirects to `to` with `status`. */
  redirectUrl(to: string, status?: number): string;
  /** URL that redirects to itself forever. */
  readonly loopUrl: string;
}

const etags = new WeakMap<Buffer, string>();

/** A strong ETag of a file's bytes. */
function etagOf(body: Buffer): string {
  let etag = etags.get(body);
  if (etag === undefined) {
    etag = `"${createHash("sha256").update(body).digest("hex").slice(0, 20)}"`;
    etags.set(body, etag);
  }
  return etag;
}

/** One byte range of a `size`-byte file, or why there is none (RFC 9110 §14.1.2, §14.2). */
function byteRange(
  header: string,
  size: number,
): { start: number; end: number } | "ignore" | "unsatisfiable" {
  const specs = /^bytes=(.+)$/i.exec(header.trim())?.[1]?.split(",");
  if (specs === undefined || specs.length !== 1) {
    return "ignore";
  }
  const spec = /^[ \t]*(\d*)-(\d*)[ \t]*$/.exec(specs[0] as string);
  if (spec === null || (spec[1] === "" && spec[2] === "")) {
    return "ignore";
  }
  if (spec[1] === "") {
    const suffix = Number(spec[2]);
    return suffix === 0 || size === 0
      ? "unsatisfiable"
      : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(spec[1]);
  const end = spec[2] === "" ? size - 1 : Math.min(Number(spec[2]), size - 1);
  if (start >= size || Number(spec[2] === "" ? start : spec[2]) < start) {
    return "unsatisfiable";
  }
  return { start, end };
}

/** Sends a static file, honouring `Range` and `If-Range` (see the module comment). */
function sendFile(req: FakeRequest, res: ServerResponse, body: Buffer, contentType: string): void {
  const etag = etagOf(body);
  const common = {
    "content-type": contentType,
    "accept-ranges": "bytes",
    etag,
    "cache-control": "public, max-age=86400",
  };
  const header = req.headers.range;
  const ifRange = req.headers["if-range"];
  const range =
    header === undefined || req.method !== "GET" || (ifRange !== undefined && ifRange !== etag)
      ? "ignore"
      : byteRange(header, body.length);
  if (range === "ignore") {
    res.writeHead(200, { ...common, "content-length": String(body.length) });
    res.end(body);
    return;
  }
  if (range === "unsatisfiable") {
    res.writeHead(416, {
      "content-range": `bytes */${body.length}`,
      "accept-ranges": "bytes",
      "content-type": "text/plain",
      "content-length": "0",
    });
    res.end();
    return;
  }
  res.writeHead(206, {
    ...common,
    "content-range": `bytes ${range.start}-${range.end}/${body.length}`,
    "content-length": String(range.end - range.start + 1),
  });
  res.end(body.subarray(range.start, range.end + 1));
}

const SVG = Buffer.from(LOGO_SVG);

const HTML_PAGE = Buffer.from(
  "<!doctype html><html><head><title>Not a file</title></head><body><script>alert(1)</script></body></html>",
);

/**
 * Starts the CDN fake. Routes: `GET /img/{name}.png|.jpg|.jpeg`, `/photo.jpg`, `/photo.png`,
 * `/photo/{w}x{h}.png`, `/anim.gif`, `/logo.svg`, `/video.mp4`, `/page.html` (every one with
 * Range), `GET /big?bytes=N[&chunked=1]` (image/jpeg), `GET /redirect?to=<url>[&status=302]`,
 * `GET /loop`, plus `/echo/*`.
 */
export async function createFakeCdn(): Promise<FakeCdn> {
  const srv = await startFakeServer({
    echo: true,
    handler: (req, res) => {
      const img = /^\/img\/[^/]+\.(png|jpe?g)$/.exec(req.path);
      if (img !== null) {
        const png = img[1] === "png";
        sendFile(req, res, png ? TINY_PNG : TINY_JPEG, png ? "image/png" : "image/jpeg");
        return;
      }
      const sized = /^\/photo\/(\d{1,4})x(\d{1,4})\.png$/.exec(req.path);
      if (sized !== null) {
        const [width, height] = [Number(sized[1]), Number(sized[2])];
        if (width < 1 || height < 1 || width > 4000 || height > 4000) {
          sendJson(res, 400, { error: "a photo is 1×1 to 4000×4000" });
          return;
        }
        sendFile(req, res, photoPng(width, height), "image/png");
        return;
      }
      const file = FILES[req.path];
      if (file !== undefined) {
        sendFile(req, res, file.body(), file.type);
        return;
      }
      if (req.path === "/big") {
        const bytes = intParam(req.query, "bytes");
        if (bytes === undefined) {
          sendJson(res, 400, { error: "bytes=N is required" });
          return;
        }
        streamGenerated(res, bytes, "image/jpeg", { chunked: req.query.get("chunked") === "1" });
        return;
      }
      if (req.path === "/redirect") {
        const to = req.query.get("to");
        const status = intParam(req.query, "status") ?? 302;
        if (to === null || !REDIRECT_STATUSES.has(status)) {
          sendJson(res, 400, { error: "to=<url> and a 30x status are required" });
          return;
        }
        redirect(res, to, status);
        return;
      }
      if (req.path === "/loop") {
        redirect(res, `${srv.url}/loop`);
        return;
      }
      sendBody(res, 404, "Not Found", "text/plain");
    },
  });
  return {
    ...baseHandle(srv),
    imageUrl: (name, ext = "png") => `${srv.url}/img/${encodeURIComponent(name)}.${ext}`,
    photoUrl: (ext) => `${srv.url}/photo.${ext}`,
    sizedPhotoUrl: (width, height) => `${srv.url}/photo/${width}x${height}.png`,
    gifUrl: `${srv.url}/anim.gif`,
    svgUrl: `${srv.url}/logo.svg`,
    videoUrl: `${srv.url}/video.mp4`,
    htmlUrl: `${srv.url}/page.html`,
    bigUrl: (bytes, chunked = false) => `${srv.url}/big?bytes=${bytes}${chunked ? "&chunked=1" : ""}`,
    redirectUrl: (to, status = 302) => `${srv.url}/redirect?to=${encodeURIComponent(to)}&status=${status}`,
    loopUrl: `${srv.url}/loop`,
  };
}

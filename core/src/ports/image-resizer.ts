import type { RawBody } from "@n2store/generated";

/** What `/api/image-proxy?w=&q=` asks for. */
export interface ResizeOptions {
  /** The largest width in pixels (an image is never enlarged); null keeps the width. */
  readonly width: number | null;
  /** The encoder's quality, 1-100; null uses the format's default. */
  readonly quality: number | null;
}

/** A re-encoded image, ready to stream to the caller. */
export interface ResizedImage {
  readonly body: RawBody;
  readonly contentType: string;
}

/** Why a resizer could not re-encode an image it accepted. */
export type ImageResizeFailureKind =
  /** Not an image the decoder can read (corrupt, truncated, or another format than declared). */
  | "undecodable"
  /** More pixels than the resizer decodes. */
  | "too-many-pixels";

/** The error a resizer rejects with when the image itself is the problem. */
export class ImageResizeFailure extends Error {
  readonly isImageResizeFailure = true;
  constructor(
    readonly kind: ImageResizeFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ImageResizeFailure";
  }
}

/** True for an ImageResizeFailure from any copy of this module. */
export function isImageResizeFailure(value: unknown): value is ImageResizeFailure {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { isImageResizeFailure?: unknown }).isImageResizeFailure === true
  );
}

/**
 * Re-encodes images for `/api/image-proxy` (`w`, `q`), so the shared handler stays free of any
 * image library. The Node server fills it with sharp (`server-node/src/images/`); the Worker has
 * none: it asks the Node server (`NODE_SERVER_URL`) instead, or serves the original.
 */
export interface ImageResizer {
  /** Whether it re-encodes this media type (`image/jpeg`); any other type passes unchanged. */
  resizes(mediaType: string): boolean;
  /**
   * Streams `image` (a body of `mediaType`, one that `resizes` accepts) through the encoder, keeping
   * its format. Resolves once the first bytes of the result exist, so that a bad image rejects
   * before an answer is started: with an `UpstreamFailure` when the body itself failed (too large,
   * cut off, too slow), with an `ImageResizeFailure` when the image cannot be re-encoded.
   */
  resize(image: RawBody, mediaType: string, options: ResizeOptions): Promise<ResizedImage>;
}

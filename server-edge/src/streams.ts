/**
 * Byte-counted Web streams, shared by request bodies (the caller's, limited to the spec's sizes) and
 * upstream responses (limited to what a route may buffer or pass on).
 */

/** A pass-through that counts bytes and errors the stream with `tooLarge()` once they pass `maxBytes`. */
export function byteLimit(maxBytes: number, tooLarge: () => Error): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) {
        controller.error(tooLarge());
        return;
      }
      controller.enqueue(chunk);
    },
  });
}

/**
 * Reads a whole stream into memory and throws `tooLarge()` when it holds more than `maxBytes`. Past
 * the limit it goes on reading and dropping up to `drainUpTo` bytes in all before it cancels: a
 * request body read to its end leaves the client's connection usable for its next request.
 */
export async function readAll(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  tooLarge: () => Error,
  drainUpTo = maxBytes,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    size += value.byteLength;
    if (size <= maxBytes) {
      chunks.push(value);
    } else if (size > drainUpTo) {
      await reader.cancel();
      break;
    }
  }
  if (size > maxBytes) {
    throw tooLarge();
  }
  return concat(chunks, size);
}

/** The chunks as one array of `size` bytes. */
export function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

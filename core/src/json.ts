import { ApiError } from "./errors.js";

/** The deepest nesting of arrays and objects a JSON body may have. */
export const JSON_MAX_DEPTH = 64;

/**
 * Whether a JSON text nests arrays and objects more than `limit` deep, found by one scan of the text
 * before anything parses it: validation, `structuredClone` and the idempotency hash all recurse, and a
 * body of 100 000 nested arrays overflowed the stack of both runtimes (500 instead of 400).
 */
export function jsonTooDeep(text: string, limit: number = JSON_MAX_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* \ */) {
        i++;
      } else if (char === 0x22 /* " */) {
        inString = false;
      }
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      depth++;
      if (depth > limit) {
        return true;
      }
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/** 400 for a JSON body nested deeper than JSON_MAX_DEPTH, in the same words on both runtimes. */
export function jsonTooDeepError(): ApiError {
  const message = `is nested more than ${JSON_MAX_DEPTH} levels deep`;
  return new ApiError("VALIDATION_FAILED", `body: ${message}`, {
    details: [{ path: ["body"], message }],
    nothingSent: true,
  });
}

/** 400 for a body that is not JSON although its Content-Type says so. */
export function malformedJson(): ApiError {
  return new ApiError("MALFORMED_BODY", "The body is not valid JSON.", { nothingSent: true });
}

/** Parses a JSON request body: too deep is refused before parsing, malformed after. */
export function parseJsonBody(text: string): unknown {
  if (jsonTooDeep(text)) {
    throw jsonTooDeepError();
  }
  try {
    return JSON.parse(text);
  } catch {
    throw malformedJson();
  }
}

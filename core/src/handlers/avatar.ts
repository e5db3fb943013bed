/**
 * `/api/fb-avatar` and `/api/pancake-avatar`: a picture for an `<img>`, from the first source that
 * has one, or a placeholder: never an error, as a broken image is all a page could show for one.
 */
import type { RawResult } from "@n2store/generated";
import type { SharedDeps, SharedHandler } from "../deps.js";
import { isApiError } from "../errors.js";
import { GATEWAY_USER_AGENT } from "../http.js";
import { fetchGuarded, joinUrl } from "../upstream.js";
import { imageResult, isImage } from "./media.js";

/** The avatar shown when none can be fetched: a grey circle with a person's outline. */
export const PLACEHOLDER_AVATAR =
  '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">' +
  '<circle cx="20" cy="20" r="20" fill="#d8dce3"/>' +
  '<circle cx="20" cy="15.5" r="6.5" fill="#9aa3b1"/>' +
  '<path d="M7.5 33.5c2.3-6 7-9 12.5-9s10.2 3 12.5 9a19.9 19.9 0 0 1-25 0z" fill="#9aa3b1"/></svg>';

function placeholder(): RawResult<200> {
  return {
    status: 200,
    raw: PLACEHOLDER_AVATAR,
    contentType: "image/svg+xml",
    headers: { "cache-control": "public, max-age=3600", "x-avatar-source": "placeholder" },
  };
}

const AVATAR_TIMEOUT_MS = 5000;

/** An avatar query value: any string, or a list when the parameter was repeated (its first counts). */
type AvatarParameter = string | readonly string[] | undefined;

function firstValue(value: AvatarParameter): string | undefined {
  return typeof value === "string" ? value : value?.[0];
}

/** An id or page usable in an upstream path: letters, digits, `_` and `-` (Pancake's `pzl_…`). */
const AVATAR_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** What pages write into a URL for a missing value (`?id=${undefined}`). */
const NO_VALUE = new Set(["undefined", "null", "nan"]);
const AVATAR_HASH = /^[A-Za-z0-9_-]{1,128}$/;
const PANCAKE_TOKEN = /^[A-Za-z0-9._~+/=-]{1,4096}$/;

/** A fb-avatar `id` or `page` that may go into an upstream URL, or null (then it is not used). */
export function avatarId(value: AvatarParameter): string | null {
  const id = firstValue(value)?.trim();
  return id !== undefined && AVATAR_ID.test(id) && !NO_VALUE.has(id.toLowerCase()) ? id : null;
}

/** A pancake-avatar `hash` that may go into the upstream URL, or null. */
export function avatarHash(value: AvatarParameter): string | null {
  const hash = firstValue(value)?.trim();
  return hash !== undefined && AVATAR_HASH.test(hash) ? hash : null;
}

/** A fb-avatar `token` that may be sent to Pancake, or null (Pancake is then asked without one). */
export function pancakeToken(value: AvatarParameter): string | null {
  const token = firstValue(value)?.trim();
  return token !== undefined && PANCAKE_TOKEN.test(token) ? token : null;
}

/** Tries each source in turn; the first image wins, every failure falls through to the next. */
async function firstImage(
  sources: readonly URL[],
  deps: SharedDeps,
  source: string[],
): Promise<RawResult<200>> {
  for (const [index, url] of sources.entries()) {
    try {
      const { response } = await fetchGuarded(deps.upstream, deps.config, url, {
        method: "GET",
        headers: { "user-agent": GATEWAY_USER_AGENT, accept: "image/*,*/*;q=0.8" },
        timeoutMs: Math.min(AVATAR_TIMEOUT_MS, deps.config.upstreamTimeoutMs),
        maxBodyBytes: deps.config.imageMaxBytes,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
      if (response.status >= 200 && response.status < 300 && isImage(response)) {
        const result = imageResult(response);
        return { ...result, headers: { ...result.headers, "x-avatar-source": source[index] ?? "upstream" } };
      }
      await response.dump();
    } catch (error) {
      if (!isApiError(error)) {
        throw error;
      }
      deps.log.debug({ code: error.code, source: source[index] }, "avatar source failed");
    }
  }
  return placeholder();
}

/**
 * GET /api/fb-avatar: Pancake's cached avatar for the page (when a usable `page` is given), then
 * the Graph picture (for a numeric id), then the placeholder. `token` goes to Pancake only. What
 * cannot be used reaches no upstream: an unusable id is the placeholder at once.
 */
export const getFacebookAvatar: SharedHandler<"getFacebookAvatar"> = async (input, deps) => {
  const { config } = deps;
  const id = avatarId(input.query.id);
  if (id === null) {
    deps.log.debug({}, "fb-avatar: no usable id, answering the placeholder");
    return placeholder();
  }
  const page = avatarId(input.query.page);
  const token = pancakeToken(input.query.token);
  const sources: URL[] = [];
  const names: string[] = [];
  if (page !== null) {
    const pancake = joinUrl(config.pancakeBaseUrl, `/api/v1/pages/${page}/avatar/${id}`);
    if (token !== null) {
      pancake.searchParams.set("access_token", token);
    }
    sources.push(pancake);
    names.push("pancake");
  }
  // Graph ids are numbers; anything else could only fail there.
  if (/^[0-9]+$/.test(id)) {
    const graph = joinUrl(config.graphBaseUrl, `/${config.graphVersion}/${id}/picture`);
    graph.search = "width=80&height=80&type=normal";
    sources.push(graph);
    names.push("graph");
  }
  return firstImage(sources, deps, names);
};

/** GET /api/pancake-avatar: Pancake's content avatar by hash, or the placeholder. */
export const getPancakeAvatar: SharedHandler<"getPancakeAvatar"> = async (input, deps) => {
  const hash = avatarHash(input.query.hash);
  if (hash === null) {
    deps.log.debug({}, "pancake-avatar: no usable hash, answering the placeholder");
    return placeholder();
  }
  return firstImage([joinUrl(deps.config.pancakeContentBaseUrl, `/2.1-24/avatars/${hash}`)], deps, [
    "pancake-content",
  ]);
};

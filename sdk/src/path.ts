import { defaultPathSerializer } from "openapi-fetch";

/**
 * openapi-fetch path serializer: openapi-fetch's own, except that the catch-all parameter keeps its
 * `/` (the servers route it as Fastify `*` / itty `:path+`). A catch-all is the template's last
 * `{path}` (codegen holds the spec to that, so no list of catch-alls ships to browsers).
 */
export const pathSerializer = (url: string, params: Record<string, unknown>): string =>
  url.endsWith("{path}") && params.path != null
    ? defaultPathSerializer(url.slice(0, -6), params) +
      encodeURIComponent(String(params.path)).replace(/%2F/gi, "/")
    : defaultPathSerializer(url, params);

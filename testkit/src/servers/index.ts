export * from "../lifecycle.js";
export * from "./env.js";
export * from "./net.js";
export * from "./node.js";
export * from "./pglite-server.js";
export * from "./realtime.js";
export * from "./together.js";
export * from "./wrangler.js";

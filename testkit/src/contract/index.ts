/**
 * The contract suite run against both servers: targets, response validation against the spec,
 * the cases by tag, the coverage gate and spec-driven fuzzing.
 */
export * from "./cases/index.js";
export * from "./context.js";
export * from "./fuzz.js";
export * from "./samples.js";
export * from "./spec.js";
export * from "./suite.js";
export * from "./target.js";
export * from "./validate.js";

/** Codegen's API, for its tests: see cli.ts for what it writes. */
export { generate, staleFiles } from "./generate.js";
export { readErrorCodes, readOperations } from "./spec.js";

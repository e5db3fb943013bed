/** Codegen's API, for its tests: see cli.ts for what it writes. */
export { operationFacts, type RedocBadge, redocSpec } from "./emit-redoc.js";
export { generate, staleFiles } from "./generate.js";
export { type OperationRow, readErrorCodes, readOperations } from "./spec.js";

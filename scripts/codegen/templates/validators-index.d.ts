// The hand-written types of generated/validators/index.js, copied there verbatim by codegen.
import type { OperationId } from "../operations.js";

/** One Ajv error object (https://ajv.js.org/api.html#error-objects). */
export interface ValidationError {
  readonly instancePath: string;
  readonly schemaPath: string;
  readonly keyword: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message?: string;
}

/** A compiled validator: true when `data` is valid (defaults applied, strings coerced where allowed). */
export interface ValidateFunction {
  (data: unknown): boolean;
  errors?: readonly ValidationError[] | null;
}

/** The validators of one operation; a part with nothing declared has none. */
export interface OperationValidators {
  readonly path?: ValidateFunction;
  readonly query?: ValidateFunction;
  readonly headers?: ValidateFunction;
  /** By request content type. */
  readonly body?: Readonly<Record<string, ValidateFunction>>;
}

export declare const validators: Readonly<Record<OperationId, OperationValidators>>;
export declare const validateRealtimeClientMessage: ValidateFunction;

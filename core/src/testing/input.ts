import type { OperationId, OperationInput } from "@n2store/generated";

/**
 * A handler's input as the pipeline hands it over for a request with no path parameters, query,
 * headers or body: what a handler test starts from.
 */
export function emptyInput<Op extends OperationId>(): OperationInput<Op> {
  return {
    path: {},
    query: {},
    headers: {},
    body: undefined,
    rawQuery: "",
    rawHeaders: {},
  } as unknown as OperationInput<Op>;
}

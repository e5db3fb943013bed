/**
 * Type tests of the Node server's route builder (routing.ts), checked by `tsc` (npm run typecheck): a
 * handler that returns a status or body the spec does not declare for its operation does not compile.
 * Each `@ts-expect-error` fails the build if the line below it ever compiles.
 */
import type { Handler, OperationInput } from "@n2store/generated";
import { HEALTH_SAMPLE } from "@n2store/testkit/contract";
import { expectTypeOf } from "vitest";
import type { FastifyHandlers } from "../src/routing.js";

interface Ctx {
  readonly requestId: string;
}

const health = HEALTH_SAMPLE;

// What compiles: the declared status with the declared body.
export const fastifyOk: Pick<FastifyHandlers<Ctx>, "getHealth" | "deleteCustomer"> = {
  getHealth: async () => ({ status: 200, body: health }),
  deleteCustomer: async () => ({ status: 204 }),
};

// A status the spec does not declare for getHealth.
export const fastifyWrongStatus: Pick<FastifyHandlers<Ctx>, "getHealth"> = {
  // @ts-expect-error 201 is not a response of getHealth
  getHealth: async () => ({ status: 201, body: health }),
};

// A body that is not the declared schema.
export const fastifyWrongBody: Pick<FastifyHandlers<Ctx>, "getHealth"> = {
  // @ts-expect-error "fine" is not a Health status
  getHealth: async () => ({ status: 200, body: { ...health, status: "fine" } }),
};

// An error status is thrown as ApiError, never returned.
export const fastifyErrorReturned: Pick<FastifyHandlers<Ctx>, "getCustomer"> = {
  // @ts-expect-error 404 is an error response: handlers throw it
  getCustomer: async () => ({
    status: 404,
    body: { statusCode: 404, code: "CUSTOMER_NOT_FOUND", error: "Not Found", message: "no" },
  }),
};

// A handler of one operation does not fit another's slot.
const sendHandler: Handler<"sendFacebookMessage", Ctx> = async () => ({
  status: 200,
  body: { success: true, message_id: "m_1", message_ids: ["m_1"], used_tag: null, method: "send_api" },
});
export const misplaced: Pick<FastifyHandlers<Ctx>, "getHealth"> = {
  // @ts-expect-error a sendFacebookMessage result is not a getHealth result
  getHealth: sendHandler,
};

// Inputs are typed from the spec.
expectTypeOf<OperationInput<"getCustomer">["path"]>().toEqualTypeOf<{ id: number }>();
expectTypeOf<OperationInput<"createCustomer">["body"]["phone"]>().toEqualTypeOf<string>();
expectTypeOf<OperationInput<"sendFacebookMessage">["headers"]>().toEqualTypeOf<{
  readonly "idempotency-key"?: string;
  readonly "x-page-access-token"?: string;
}>();
expectTypeOf<OperationInput<"listCustomers">["query"]["limit"]>().toEqualTypeOf<number | undefined>();
expectTypeOf<OperationInput<"tposRestGet">["path"]>().toEqualTypeOf<{ path: string }>();

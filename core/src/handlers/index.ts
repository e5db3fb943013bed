import type { EdgeHttpOperationId, Handler, NodeHttpOperationId } from "@n2store/generated";
import type { NodeDeps, SharedDeps } from "../deps.js";
import { createCustomer, deleteCustomer, getCustomer, listCustomers, updateCustomer } from "./customers.js";
import { sendFacebookMessage } from "./facebook-send.js";
import { getFacebookAvatar, getPancakeAvatar, getProxiedImage, proxyHandlers } from "./media.js";
import {
  pancakeDirectHandlers,
  pancakeGenericHandlers,
  pancakeOfficialHandlers,
  tposApiHandlers,
  tposODataHandlers,
  tposRestHandlers,
} from "./passthrough.js";
import { getRealtimeStatus, startRealtime, stopRealtime } from "./realtime.js";
import { listSepayTransactions, receiveSepayWebhook } from "./sepay.js";
import { getHealth, getServerTime } from "./system.js";
import { createTposToken } from "./tpos-token.js";

/** The handlers both runtimes serve: every operation whose x-runtimes includes edge. */
export const sharedHandlers: { readonly [Op in EdgeHttpOperationId]: Handler<Op, SharedDeps> } = {
  getHealth,
  createTposToken,
  ...tposRestHandlers,
  ...tposODataHandlers,
  ...pancakeDirectHandlers,
  ...pancakeOfficialHandlers,
  ...pancakeGenericHandlers,
  ...tposApiHandlers,
  ...proxyHandlers,
  getProxiedImage,
  getFacebookAvatar,
  getPancakeAvatar,
  sendFacebookMessage,
};

/**
 * Operations the Node server answers from what only it holds (its own files, its metrics registry)
 * rather than through a shared handler.
 */
export type NodeDocumentOperationId =
  | "getOpenApiDocument"
  | "getApiReference"
  | "getApiReferenceScript"
  | "getMetrics";

/** Node-only operations with a handler here (database, realtime, diagnostics). */
export type NodeOnlyOperationId = Exclude<NodeHttpOperationId, EdgeHttpOperationId | NodeDocumentOperationId>;

/** The handlers only the Node server has; the server adds its documents and metrics itself. */
export const nodeOnlyHandlers: { readonly [Op in NodeOnlyOperationId]: Handler<Op, NodeDeps> } = {
  getServerTime,
  listCustomers,
  createCustomer,
  getCustomer,
  updateCustomer,
  deleteCustomer,
  receiveSepayWebhook,
  listSepayTransactions,
  startRealtime,
  getRealtimeStatus,
  stopRealtime,
};

import type { EdgeHttpOperationId, Handler, NodeHttpOperationId } from "@n2store/generated";
import type { NodeDeps, SharedDeps } from "../deps.js";
import { getFacebookAvatar, getPancakeAvatar } from "./avatar.js";
import { sendFacebookMessage } from "./facebook-send.js";
import { getProxiedImage } from "./media.js";
import {
  createCustomer,
  deleteCustomer,
  getCustomer,
  listCustomers,
  updateCustomer,
} from "./node/customers.js";
import { getRealtimeStatus, startRealtime, stopRealtime } from "./node/realtime.js";
import { listSepayTransactions, receiveSepayWebhook } from "./node/sepay.js";
import { getServerTime } from "./node/server-time.js";
import {
  pancakeDirect,
  pancakeGeneric,
  pancakeOfficial,
  tposApi,
  tposOData,
  tposRest,
} from "./passthrough.js";
import { proxy } from "./proxy.js";
import { getHealth } from "./system.js";
import { createTposToken } from "./tpos-token.js";

/**
 * The handlers both runtimes serve: every operation whose x-runtimes includes edge, each operationId
 * written out once, so a search for it lands here and then on its handler.
 */
export const sharedHandlers: { readonly [Op in EdgeHttpOperationId]: Handler<Op, SharedDeps> } = {
  getHealth,
  createTposToken,
  tposRestGet: tposRest.get,
  tposRestPost: tposRest.post,
  tposRestPut: tposRest.put,
  tposRestPatch: tposRest.patch,
  tposRestDelete: tposRest.delete,
  tposODataGet: tposOData.get,
  tposODataPost: tposOData.post,
  tposODataPut: tposOData.put,
  tposODataPatch: tposOData.patch,
  tposODataDelete: tposOData.delete,
  tposApiGet: tposApi.get,
  tposApiPost: tposApi.post,
  tposApiPut: tposApi.put,
  tposApiPatch: tposApi.patch,
  tposApiDelete: tposApi.delete,
  pancakeDirectGet: pancakeDirect.get,
  pancakeDirectPost: pancakeDirect.post,
  pancakeDirectPut: pancakeDirect.put,
  pancakeDirectPatch: pancakeDirect.patch,
  pancakeDirectDelete: pancakeDirect.delete,
  pancakeGenericGet: pancakeGeneric.get,
  pancakeGenericPost: pancakeGeneric.post,
  pancakeGenericPut: pancakeGeneric.put,
  pancakeGenericPatch: pancakeGeneric.patch,
  pancakeGenericDelete: pancakeGeneric.delete,
  pancakeOfficialGet: pancakeOfficial.get,
  pancakeOfficialPost: pancakeOfficial.post,
  pancakeOfficialPut: pancakeOfficial.put,
  pancakeOfficialPatch: pancakeOfficial.patch,
  pancakeOfficialDelete: pancakeOfficial.delete,
  proxyGet: proxy.get,
  proxyPost: proxy.post,
  proxyPut: proxy.put,
  proxyPatch: proxy.patch,
  proxyDelete: proxy.delete,
  getProxiedImage,
  getFacebookAvatar,
  getPancakeAvatar,
  sendFacebookMessage,
};

/**
 * Operations the Node server answers from what only it holds (its own files, its metrics registry)
 * rather than through a shared handler.
 */
type NodeDocumentOperationId =
  | "getOpenApiDocument"
  | "getApiReference"
  | "getApiReferenceScript"
  | "getMetrics";

/** Node-only operations with a handler in `node/` (database, realtime, diagnostics). */
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

/**
 * Fakes of every upstream the gateway talks to, and `startAllFakes()` which starts them wired to
 * each other (shared Pancake state, avatar redirects into the content fake, Graph pictures into
 * the CDN fake) and returns the gateway's environment variables pointing at them.
 */

import type { FakeCdn } from "./cdn.js";
import { createFakeCdn } from "./cdn.js";
import type { FakeGraph, FakeGraphOptions } from "./graph.js";
import { createFakeGraph } from "./graph.js";
import type { FakePagesFm } from "./pages-fm.js";
import { createFakePagesFm } from "./pages-fm.js";
import type { FakePancake, FakePancakeContent } from "./pancake.js";
import { createFakePancake, createFakePancakeContent } from "./pancake.js";
import type { PancakeStore, PancakeStoreOptions } from "./pancake-data.js";
import { createPancakeStore } from "./pancake-data.js";
import type { FakePhoenix, FakePhoenixOptions } from "./phoenix.js";
import { createFakePhoenix } from "./phoenix.js";
import type { FakeHandle } from "./server.js";
import type { FakeTpos, FakeTposOptions } from "./tpos.js";
import { createFakeTpos } from "./tpos.js";

export * from "./cdn.js";
export * from "./credentials.js";
export * from "./faults.js";
export * from "./graph.js";
export * from "./images.js";
export * from "./odata.js";
export * from "./pages-fm.js";
export * from "./pancake.js";
export * from "./pancake-data.js";
export * from "./phoenix.js";
export * from "./sepay-sender.js";
export * from "./server.js";
export * from "./tpos.js";
export * from "./tpos-seed.js";

/** Options of `startAllFakes`; each part is passed to the matching factory. */
export interface AllFakesOptions {
  tpos?: FakeTposOptions;
  pancakeStore?: PancakeStoreOptions;
  graph?: Omit<FakeGraphOptions, "pictureUrl">;
  phoenix?: Omit<FakePhoenixOptions, "store">;
}

/** Every fake, started and wired together. */
export interface AllFakes {
  tpos: FakeTpos;
  pancake: FakePancake;
  pancakeContent: FakePancakeContent;
  pagesFm: FakePagesFm;
  graph: FakeGraph;
  cdn: FakeCdn;
  phoenix: FakePhoenix;
  /** The Pancake world shared by `pancake`, `pagesFm` and `phoenix`. */
  pancakeStore: PancakeStore;
  /** Gateway configuration names → fake URLs. */
  env: Record<string, string>;
  /** Resets every fake (requests, faults, state). */
  reset(): void;
  close(): Promise<void>;
}

/** Starts every fake on its own ephemeral loopback port. */
export async function startAllFakes(options: AllFakesOptions = {}): Promise<AllFakes> {
  const pancakeStore = createPancakeStore(options.pancakeStore);
  const started: FakeHandle[] = [];
  const track = async <T extends FakeHandle>(p: Promise<T>): Promise<T> => {
    const h = await p;
    started.push(h);
    return h;
  };
  try {
    // Sequential on purpose: a failure then leaves nothing half-started behind (each start is ~1 ms).
    const tpos = await track(createFakeTpos(options.tpos));
    const cdn = await track(createFakeCdn());
    const fbIds = pancakeStore.conversations.flatMap((c) => c.customers.map((cu) => cu.fb_id));
    const pancakeContent = await track(createFakePancakeContent({ fbIds }));
    const pancake = await track(
      createFakePancake({ store: pancakeStore, contentBaseUrl: pancakeContent.url }),
    );
    const pagesFm = await track(createFakePagesFm({ store: pancakeStore }));
    const phoenix = await track(createFakePhoenix({ ...options.phoenix, store: pancakeStore }));
    const graph = await track(
      createFakeGraph({ ...options.graph, pictureUrl: (id) => cdn.imageUrl(id, "jpg") }),
    );
    const all = [tpos, pancake, pancakeContent, pagesFm, graph, cdn, phoenix];
    return {
      tpos,
      pancake,
      pancakeContent,
      pagesFm,
      graph,
      cdn,
      phoenix,
      pancakeStore,
      env: {
        TPOS_BASE_URL: tpos.url,
        PANCAKE_BASE_URL: pancake.url,
        PANCAKE_PUBLIC_BASE_URL: pagesFm.url,
        PANCAKE_CONTENT_BASE_URL: pancakeContent.url,
        FACEBOOK_GRAPH_BASE_URL: graph.url,
        PANCAKE_WS_URL: phoenix.wsUrl,
      },
      reset() {
        pancakeStore.reset();
        for (const f of all) {
          f.reset();
        }
      },
      async close() {
        await Promise.allSettled(all.map((f) => f.close()));
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((f) => f.close()));
    throw err;
  }
}

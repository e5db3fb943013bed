/** Every contract case, by spec tag (the order of `tags` in openapi.yaml). */
import type { ContractCase } from "../context.js";
import { customerCases } from "./customers.js";
import { facebookCases } from "./facebook.js";
import { mediaCases } from "./media.js";
import { pancakeCases } from "./pancake.js";
import { realtimeCases } from "./realtime.js";
import { sepayCases } from "./sepay.js";
import { systemCases } from "./system.js";
import { tposCases } from "./tpos.js";

export const contractCases: readonly ContractCase[] = [
  ...systemCases,
  ...tposCases,
  ...pancakeCases,
  ...facebookCases,
  ...mediaCases,
  ...customerCases,
  ...sepayCases,
  ...realtimeCases,
];

import { FAKE_CREDENTIALS } from "../fakes/credentials.js";
import { API_KEY } from "./env.js";

/** The body of `POST /api/realtime/start` for the fakes' seeded Pancake user and pages. */
const REALTIME_START = {
  token: FAKE_CREDENTIALS.pancake.jwt,
  userId: FAKE_CREDENTIALS.pancake.userId,
  pageIds: [...FAKE_CREDENTIALS.pageIds],
};

/** The Phoenix topic the relay joins for the seeded user (its inbox events arrive there). */
export const REALTIME_TOPIC = `multiple_pages:${FAKE_CREDENTIALS.pancake.userId}`;

/** Starts the realtime relay of a Node server (`baseUrl`) for the seeded user, with the test API key. */
export function startRealtime(baseUrl: string): Promise<Response> {
  return fetch(`${baseUrl}/api/realtime/start`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": API_KEY },
    body: JSON.stringify(REALTIME_START),
  });
}

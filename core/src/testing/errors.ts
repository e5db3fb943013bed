import { type ApiError, isApiError } from "../errors.js";

/** The ApiError a promise rejects with; fails the test when it resolves or rejects with anything else. */
export async function thrown(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (isApiError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error("did not throw");
}

/** The ApiError a function throws; fails the test when it returns or throws anything else. */
export function caught(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    if (isApiError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error("did not throw");
}

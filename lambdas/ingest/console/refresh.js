// Polling that stops when the view is left or nothing is running any more.
import {ApiError} from "./api.js";
import {errorMessage} from "./dom.js";

export const REFRESH_MILLISECONDS = 2000;
export const RUNNING = new Set(["Pending", "Processing"]);

/** Runs load() now and again every REFRESH_MILLISECONDS while it resolves true (something is running). */
export function refreshing(context, load, onError) {
  let timer = null;
  let stopped = false;
  async function tick() {
    timer = null;
    let again = false;
    try {
      again = await load();
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 401) return context.onSignedOut();
      onError(errorMessage(failure.message));
    }
    if (again && !stopped) timer = setTimeout(tick, REFRESH_MILLISECONDS);
  }
  context.setLeave(() => {
    stopped = true;
    if (timer) clearTimeout(timer);
  });
  tick();
  return {now: () => { if (timer) clearTimeout(timer); tick(); }};
}

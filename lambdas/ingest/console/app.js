// The console: sign-in, then three views chosen by the URL's fragment (#/jobs, #/jobs/<id>, #/datasets).
import {api, ApiError, session} from "./api.js";
import {h, replace} from "./dom.js";
import {datasetsView} from "./datasets.js";
import {jobView} from "./job.js";
import {jobsView} from "./jobs.js";

const view = document.getElementById("view");
const signInSection = document.getElementById("sign-in");
const nav = document.getElementById("nav");
let leaveView = () => {};  // stops the current view's refreshing when another is shown

function route() {
  leaveView();
  leaveView = () => {};
  const signedIn = Boolean(session.token());
  signInSection.hidden = signedIn;
  nav.hidden = !signedIn;
  if (!signedIn) {
    replace(view);
    document.getElementById("token").focus();
    return;
  }
  const [section, id] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.section === (section || "jobs")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A fresh element per view: a view still loading when another is chosen renders into a detached one.
  const container = h("div");
  replace(view, container);
  const context = {container, onSignedOut: signOut, setLeave: (stop) => { leaveView = stop; }};
  if (section === "datasets") datasetsView(context);
  else if (section === "jobs" && id) jobView(context, id);
  else jobsView(context);
}

function signOut() {
  session.signOut();
  location.hash = "";
  route();
}

document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  try {
    await api("v1/account", {token: input.value.trim()});  // proves the token before keeping it
    session.signIn(input.value.trim());
    input.value = "";
    if (!location.hash) location.hash = "#/jobs";
    route();
  } catch (failure) {
    error.textContent = failure instanceof ApiError && failure.status === 401
      ? "That token is not valid (unknown or revoked)." : `Could not sign in: ${failure.message}`;
  }
});
document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", () => {
  route();
  document.getElementById("main").focus({preventScroll: true});
});
route();

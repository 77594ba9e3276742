// Job view: phases, progress, stats, the first rejected lines, downloads, and what an operator needs.
import {api, ApiError, firstErrors, putFile} from "./api.js";
import {errorMessage, formatBytes, formatNumber, formatTime, h, progressBar, replace, statusBadge} from "./dom.js";
import {refreshing, RUNNING} from "./refresh.js";

export const PHASES = ["Inspect", "Split", "Load", "Finalize"];
const FIRST_ERRORS = 20;

/** The index of the phase a job is in: from progress.phase ("Inspecting", "Loading", ...) when the
 * service reports it, else from the status alone (a finished job has passed them all). */
export function currentPhase(job) {
  const phase = String(job.progress?.phase ?? "").toLowerCase();
  if (phase) {
    if (phase.startsWith("validat")) return PHASES.indexOf("Load");
    const found = PHASES.findIndex((name) => phase.startsWith(name.toLowerCase()));
    if (found >= 0) return found;
  }
  if (job.status === "Completed") return PHASES.length;
  return job.status === "Processing" ? 0 : -1;
}

function timeline(job) {
  const current = currentPhase(job);
  return h("ol", {class: "timeline", "aria-label": "Workflow phases"}, PHASES.map((name, index) => {
    let state = index < current ? "done" : index === current ? "current" : "todo";
    if (state === "current" && job.status === "Failed") state = "failed";
    const words = {done: "done", current: "in progress", todo: "not started", failed: "failed here"}[state];
    return h("li", {class: `phase phase-${state}`, "aria-current": state === "current" ? "step" : undefined},
      h("span", {class: "phase-name"}, name), h("span", {class: "visually-hidden"}, `: ${words}`));
  }));
}

function progressSection(progress) {
  if (!progress) return null;
  return h("section", {"aria-labelledby": "progress-title"},
    h("h3", {id: "progress-title"}, "Progress"),
    "bytes_total" in progress ? progressBar("Bytes read", progress.bytes_read, progress.bytes_total, formatBytes) : null,
    "chunks_total" in progress ? progressBar("Chunks loaded", progress.chunks_done, progress.chunks_total) : null,
    "records_loaded" in progress ? progressBar("Records loaded", progress.records_loaded, progress.lines_read) : null);
}

function facts(pairs) {
  return h("dl", {class: "facts"}, pairs.filter(([, value]) => value !== undefined && value !== null && value !== "")
    .map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function errorsTable(lines) {
  return h("div", {class: "table-wrap"}, h("table", {id: "rejected-lines"},
    h("caption", {}, `First ${lines.length} rejected line${lines.length === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, ["Line", "Error", "Raw line"].map((name) => h("th", {scope: "col"}, name)))),
    h("tbody", {}, lines.map((line) => h("tr", {},
      h("td", {class: "number"}, formatNumber(line.line)),
      h("td", {}, line.error),
      h("td", {}, h("code", {class: "raw"}, line.raw)))))));
}

function downloads(job) {
  const links = [
    ["error_log_url", "Download the error log (NDJSON)"],
    ["failed_rows_url", "Download the failed rows"],
    ["unprocessed_rows_url", "Download the unprocessed rows"],
  ].filter(([field]) => job[field]).map(([field, text]) => h("li", {}, h("a", {href: job[field], rel: "noreferrer"}, text)));
  return links.length ? h("ul", {class: "downloads"}, links) : null;
}

/** Retry and revert exist only where the job view offers them (the fields their routes come with). */
function actions(context, job) {
  const buttons = [];
  const act = (label, path, body) => h("button", {type: "button", onclick: async (event) => {
    event.target.disabled = true;
    try {
      const child = await api(path, {method: "POST", body});
      location.hash = `#/jobs/${encodeURIComponent(child.id)}`;
    } catch (failure) {
      event.target.after(errorMessage(failure.message));
      event.target.disabled = false;
    }
  }}, label);
  const path = `v1/uploads/${encodeURIComponent(job.id)}`;
  if (job.unprocessed_rows_url && !RUNNING.has(job.status)) buttons.push(act("Retry unprocessed rows", `${path}/retry`, {rows: "unprocessed"}));
  else if (job.type === "upload" && job.failed_rows_url && !RUNNING.has(job.status)) buttons.push(correctedRetry(path));
  if (job.revertible_until && new Date(job.revertible_until) > new Date() && job.status === "Completed") {
    buttons.push(revertControl(job, path));
  }
  return buttons.length ? h("div", {class: "actions"}, buttons) : null;
}

/** Retry with a corrected file: the child upload's URL, and a file picker that PUTs the file to it. */
function correctedRetry(path) {
  const place = h("div", {class: "retry"});
  const button = h("button", {type: "button", onclick: async () => {
    button.disabled = true;
    let child;
    try {
      child = await api(`${path}/retry`, {method: "POST", body: {}});
    } catch (failure) {
      button.after(errorMessage(failure.message));
      button.disabled = false;
      return;
    }
    const picker = h("input", {type: "file", id: "retry-file", "aria-label": "Corrected file"});
    const status = h("p", {role: "status"});
    const send = h("button", {type: "button", onclick: async () => {
      if (!picker.files.length) return;
      send.disabled = true;
      try {
        await putFile(child.url, picker.files[0], (sent, total) => status.replaceChildren(
          `${formatBytes(sent)} of ${formatBytes(total)} sent`));
        location.hash = `#/jobs/${encodeURIComponent(child.id)}`;
      } catch (failure) {
        status.replaceChildren(errorMessage(failure.message));
        send.disabled = false;
      }
    }}, "Send the corrected file");
    replace(place,
      h("p", {}, "Retry ", h("a", {href: `#/jobs/${encodeURIComponent(child.id)}`}, child.id),
        " waits for the corrected file (fix the failed rows and send them). Upload URL, valid until ",
        formatTime(child.expires_at), ":"),
      h("code", {class: "upload-url"}, child.url),
      h("p", {}, picker, " ", send), status);
  }}, "Retry with a corrected file");
  place.append(button);
  return place;
}

/** Revert: as Clear Data, a confirmation that stays disabled until the upload's file name is typed. */
function revertControl(job, path) {
  const box = h("div", {class: "revert"});
  const inputId = `confirm-revert-${job.id}`;
  const open = h("button", {type: "button", class: "danger", onclick: () => {
    const input = h("input", {id: inputId, autocomplete: "off", spellcheck: "false"});
    const confirm = h("button", {type: "submit", class: "danger", disabled: true}, "Revert this load");
    input.addEventListener("input", () => { confirm.disabled = input.value !== job.filename; });
    const form = h("form", {class: "confirm", onsubmit: async (event) => {
      event.preventDefault();
      if (input.value !== job.filename) return;
      confirm.disabled = true;
      try {
        const revert = await api(`${path}/revert`, {method: "POST"});
        location.hash = `#/jobs/${encodeURIComponent(revert.id)}`;
      } catch (failure) {
        form.append(errorMessage(failure.message));
        confirm.disabled = false;
      }
    }},
    h("label", {for: inputId}, "This puts back every record ", h("strong", {}, job.filename),
      " replaced and removes those it created (records changed since are kept). Type the file name to confirm:"),
    input, confirm,
    h("button", {type: "button", onclick: () => replace(box, open)}, "Cancel"));
    replace(box, form);
    input.focus();
  }}, "Revert");
  replace(box, open);
  return box;
}

export function jobView(context, id) {
  const {container} = context;
  const body = h("div", {id: "job"});
  const errors = h("section", {"aria-labelledby": "errors-title"});
  replace(container, h("p", {}, h("a", {href: "#/jobs"}, "← All jobs")), body, errors);
  let errorsShown = false;
  refreshing(context, async () => {
    let job;
    try {
      job = await api(`v1/jobs/${encodeURIComponent(id)}`);
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 404) {
        replace(body, h("h2", {}, "Job not found"), h("p", {}, `No job ${id} in this account.`));
        return false;
      }
      throw failure;
    }
    const executionId = job.execution_arn ? job.execution_arn.split(":").pop() : "";
    replace(body,
      h("h2", {}, job.filename ?? (job.type === "revert" ? `Revert of upload ${job.upload_id}` : `Clear of dataset ${job.dataset_id}`),
        " ", statusBadge(job.status)),
      job.type === "upload" ? timeline(job) : null,
      job.failure_reason ? h("p", {class: "failure", role: "alert"}, h("strong", {}, "Why it failed: "), job.failure_reason) : null,
      job.queued_behind ? h("p", {class: "hint"}, `Waiting for job ${job.queued_behind} to finish with the same dataset.`) : null,
      progressSection(job.progress),
      h("section", {"aria-labelledby": "stats-title"}, h("h3", {id: "stats-title"}, "Stats"),
        facts(Object.entries(job.stats ?? {}).map(([name, value]) => [name, formatNumber(value)]))),
      h("section", {"aria-labelledby": "details-title"}, h("h3", {id: "details-title"}, "Details"),
        facts([
          ["Job id", job.id], ["Type", job.type], ["Record type", job.destination?.record_type],
          ["Dataset", job.destination?.dataset_id ?? job.dataset_id],
          ["Dry run", job.options ? (job.options.dry_run ? "yes" : "no") : undefined],
          ["Error budget", job.options ? `${job.options.max_rejected_percent} % rejected at most` : undefined],
          ["Created", formatTime(job.created_at)], ["Finished", formatTime(job.finished_at)],
          ["Parent upload", job.parent_id], ["Revertible until", formatTime(job.revertible_until)],
          ["Reverted upload", job.upload_id], ["Reverted by", job.reverted_by],
          ["Execution (Step Functions)", executionId], ["Execution ARN", job.execution_arn],
        ])),
      downloads(job), actions(context, job));
    if (job.error_log_url && !errorsShown && !RUNNING.has(job.status)) {
      errorsShown = true;
      replace(errors, h("h3", {id: "errors-title"}, "Rejected lines"), h("p", {}, "Reading the error log…"));
      firstErrors(job.error_log_url, FIRST_ERRORS)
        .then((lines) => replace(errors, h("h3", {id: "errors-title"}, "Rejected lines"), errorsTable(lines)))
        .catch((failure) => replace(errors, h("h3", {id: "errors-title"}, "Rejected lines"), errorMessage(failure.message)));
    }
    return RUNNING.has(job.status);
  }, (message) => replace(body, message));
}

// Datasets: record counts, last load, Clear Data (typed confirmation), and the upload form.
import {api, ApiError, putFile} from "./api.js";
import {errorMessage, formatNumber, formatTime, h, progressBar, replace} from "./dom.js";

function countsTable(counts) {
  const entries = Object.entries(counts ?? {});
  if (entries.length === 0) return h("p", {class: "hint"}, "No records yet.");
  return h("table", {class: "counts"},
    h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Record type"), h("th", {scope: "col"}, "Records"))),
    h("tbody", {}, entries.map(([type, count]) => h("tr", {}, h("td", {}, type), h("td", {class: "number"}, formatNumber(count))))));
}

/** last_load: {upload_id, finished_at, total, loaded, rejected} of the latest load that completed. */
function lastLoad(load) {
  if (!load) return h("p", {class: "hint"}, "Never loaded.");
  return h("p", {}, "Last load ", h("a", {href: `#/jobs/${encodeURIComponent(load.upload_id)}`}, formatTime(load.finished_at)),
    typeof load.loaded === "number" ? `: ${formatNumber(load.loaded)} loaded, ${formatNumber(load.rejected ?? 0)} rejected` : "");
}

/** Clear Data: the button opens a confirmation that stays disabled until the dataset's name is typed. */
function clearControl(dataset) {
  const box = h("div", {class: "clear"});
  const inputId = `confirm-${dataset.id}`;
  const open = h("button", {type: "button", class: "danger", onclick: () => {
    const input = h("input", {id: inputId, autocomplete: "off", spellcheck: "false"});
    const confirm = h("button", {type: "submit", class: "danger", disabled: true}, "Clear all records");
    input.addEventListener("input", () => { confirm.disabled = input.value !== dataset.name; });
    const form = h("form", {class: "confirm", onsubmit: async (event) => {
      event.preventDefault();
      if (input.value !== dataset.name) return;
      confirm.disabled = true;
      try {
        const job = await api(`v1/datasets/${encodeURIComponent(dataset.id)}/clear`, {method: "POST"});
        replace(box, h("p", {role: "status"}, "Clearing started: ", h("a", {href: `#/jobs/${encodeURIComponent(job.id)}`}, "follow the clear job")));
      } catch (failure) {
        form.append(errorMessage(failure.message));
        confirm.disabled = false;
      }
    }},
    h("label", {for: inputId}, "This removes every record of ", h("strong", {}, dataset.name),
      ". Type the dataset's name to confirm:"),
    input, confirm,
    h("button", {type: "button", onclick: () => replace(box, open)}, "Cancel"));
    replace(box, form);
    input.focus();
  }}, "Clear Data");
  replace(box, open);
  return box;
}

function datasetCard(dataset) {
  return h("article", {class: "card dataset", "data-dataset-id": dataset.id, "aria-labelledby": `name-${dataset.id}`},
    h("h3", {id: `name-${dataset.id}`}, dataset.name),
    dataset.description ? h("p", {}, dataset.description) : null,
    h("p", {class: "hint"}, "Id ", h("code", {}, dataset.id)),
    countsTable(dataset.record_counts),
    lastLoad(dataset.last_load),
    dataset.clearing_job ? h("p", {role: "status"}, "Being cleared: ",
      h("a", {href: `#/jobs/${encodeURIComponent(dataset.clearing_job)}`}, "clear job")) : clearControl(dataset));
}

function field(id, label, control, hint) {
  return h("div", {class: "field"}, h("label", {for: id}, label), control, hint ? h("p", {class: "hint"}, hint) : null);
}

/** Upload: ask the API for a presigned URL, PUT the file straight to it with a progress bar, then follow the job. */
function uploadForm(datasets, recordTypes) {
  const status = h("div", {id: "upload-status", "aria-live": "polite"});
  const form = h("form", {id: "upload-form", class: "card", "aria-labelledby": "upload-title"},
    h("h3", {id: "upload-title"}, "Upload a file"),
    field("upload-dataset", "Dataset", h("select", {id: "upload-dataset", name: "dataset", required: true},
      datasets.map((dataset) => h("option", {value: dataset.id}, dataset.name)))),
    field("upload-file", "File", h("input", {id: "upload-file", name: "file", type: "file", required: true,
      accept: ".json,.ndjson,.jsonl,.csv,.gz"}), "NDJSON (.json, .ndjson, .jsonl) or CSV, optionally gzipped; up to 5 GB."),
    field("upload-record-type", "Record type", h("select", {id: "upload-record-type", name: "record_type", required: true},
      recordTypes.map((type) => h("option", {value: type.name}, type.name)))),
    h("div", {class: "field inline"}, h("input", {id: "upload-dry-run", name: "dry_run", type: "checkbox"}),
      h("label", {for: "upload-dry-run"}, "Dry run: validate the whole file, write nothing")),
    field("upload-budget", "Error budget (% of lines that may be rejected)",
      h("input", {id: "upload-budget", name: "max_rejected_percent", type: "number", min: 0, max: 100, step: "any", value: 100, required: true})),
    h("button", {type: "submit"}, "Upload"),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const upload = await api("v1/uploads", {method: "POST", body: {
        filename: file.name,
        size: file.size,  // signed into the URL: S3 takes exactly this many bytes; over 5 GB is refused at once
        destination: {destination_type: "dataset_load", dataset_id: form.elements.dataset.value,
          record_type: form.elements.record_type.value},
        options: {dry_run: form.elements.dry_run.checked,
          max_rejected_percent: Number(form.elements.max_rejected_percent.value)},
      }});
      const show = (sent, total) => replace(status, progressBar("Uploaded", sent, total, formatNumber));
      show(0, file.size);
      await putFile(upload.url, file, show);
      show(file.size, file.size);
      status.append(h("p", {role: "status"}, `Uploaded ${file.name}. `,
        h("a", {href: `#/jobs/${encodeURIComponent(upload.id)}`, id: "upload-job-link"}, "Follow its job")));
      form.elements.file.value = "";
    } catch (failure) {
      replace(status, errorMessage(failure.message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function newDatasetForm(reload) {
  const form = h("form", {class: "card", id: "new-dataset", "aria-labelledby": "new-dataset-title"},
    h("h3", {id: "new-dataset-title"}, "New dataset"),
    field("dataset-name", "Name", h("input", {id: "dataset-name", name: "name", required: true, maxlength: 200})),
    field("dataset-description", "Description", h("input", {id: "dataset-description", name: "description"})),
    h("button", {type: "submit"}, "Create"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("v1/datasets", {method: "POST", body: {name: form.elements.name.value,
        description: form.elements.description.value || undefined}});
      reload();
    } catch (failure) {
      form.append(errorMessage(failure.message));
    }
  });
  return form;
}

export async function datasetsView(context) {
  const {container} = context;
  const reload = () => datasetsView(context);
  let datasets, recordTypes;
  try {
    [{datasets}, {record_types: recordTypes}] = await Promise.all([
      api("v1/datasets", {query: {limit: 100}}), api("v1/record-types")]);
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return context.onSignedOut();
    return replace(container, h("h2", {}, "Datasets"), errorMessage(failure.message));
  }
  replace(container,
    h("h2", {}, "Datasets"),
    h("div", {class: "columns"},
      h("div", {class: "dataset-list"}, datasets.length ? datasets.map((dataset) => datasetCard(dataset))
        : h("p", {}, "No datasets yet: create one.")),
      h("div", {class: "side"}, datasets.length ? uploadForm(datasets, recordTypes) : null, newDatasetForm(reload))));
}

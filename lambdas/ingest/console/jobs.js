// Jobs: the account's jobs newest first, filterable by status, type and dataset; refreshed while any runs.
import {api} from "./api.js";
import {formatNumber, formatTime, h, replace, statusBadge} from "./dom.js";
import {refreshing, RUNNING} from "./refresh.js";

const STATUSES = ["Pending", "Processing", "Completed", "Failed"];
const TYPES = ["upload", "clear"];
const filters = {status: "", type: "", dataset_id: ""};  // kept while the tab is open

function select(name, label, options, onChange) {
  const id = `filter-${name}`;
  return h("div", {class: "field"},
    h("label", {for: id}, label),
    h("select", {id, name, onchange: (event) => { filters[name] = event.target.value; onChange(); }},
      h("option", {value: ""}, "Any"),
      options.map(([value, text]) => h("option", {value, selected: filters[name] === value}, text))));
}

export function statsText(job) {
  return Object.entries(job.stats ?? {}).map(([name, value]) => `${name} ${formatNumber(value)}`).join(", ");
}

function row(job, datasetNames) {
  const dataset = job.destination?.dataset_id ?? job.dataset_id;
  return h("tr", {"data-job-id": job.id},
    h("td", {}, h("a", {href: `#/jobs/${encodeURIComponent(job.id)}`}, job.filename ?? `Clear ${datasetNames.get(dataset) ?? dataset}`)),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, job.type),
    h("td", {}, job.destination?.record_type ?? ""),
    h("td", {}, datasetNames.get(dataset) ?? dataset ?? ""),
    h("td", {}, formatTime(job.created_at)),
    h("td", {}, formatTime(job.finished_at)),
    h("td", {class: "stats"}, statsText(job)));
}

export async function jobsView(context) {
  const {container} = context;
  const table = h("div", {class: "table-wrap"});
  const note = h("p", {class: "hint", id: "jobs-refreshing"});
  const datasets = (await api("v1/datasets", {query: {limit: 100}}).catch(() => ({datasets: []}))).datasets;
  const datasetNames = new Map(datasets.map((dataset) => [dataset.id, dataset.name]));
  const poll = () => refresher.now();
  replace(container,
    h("h2", {}, "Jobs"),
    h("form", {class: "filters", "aria-label": "Filter jobs", onsubmit: (event) => event.preventDefault()},
      select("status", "Status", STATUSES.map((status) => [status, status]), poll),
      select("type", "Type", TYPES.map((type) => [type, type]), poll),
      select("dataset_id", "Dataset", datasets.map((dataset) => [dataset.id, dataset.name]), poll)),
    note, table);
  const refresher = refreshing(context, async () => {
    const {jobs} = await api("v1/jobs", {query: {...filters, limit: 50}});
    replace(table, jobs.length === 0 ? h("p", {}, "No jobs yet: upload a file from Datasets.") :
      h("table", {id: "jobs"},
        h("caption", {class: "visually-hidden"}, "Jobs, newest first"),
        h("thead", {}, h("tr", {}, ["File", "Status", "Type", "Record type", "Dataset", "Created", "Finished", "Stats"]
          .map((name) => h("th", {scope: "col"}, name)))),
        h("tbody", {}, jobs.map((job) => row(job, datasetNames)))));
    const running = jobs.some((job) => RUNNING.has(job.status));
    note.textContent = running ? "Refreshing every 2 seconds while a job runs." : "";
    return running;
  }, (message) => replace(table, message));
}

// Resumable upload with Uppy (docs/browser_upload.md). Uppy's @uppy/aws-s3 plugin, unchanged, cuts the
// file into parts and PUTs each to a presigned URL; the few lines of glue in `multipartGlue` map its five
// multipart calls onto the service's routes, with the console's token. Uppy is window.Uppy, from
// uppy.min.js (vendored at set-up by `make uppy`, pinned in the Makefile).
import {ApiError, api, session} from "./api.js";
import {errorMessage, formatBytes, h, progressBar, replace} from "./dom.js";

const MIB = 1024 * 1024;
// S3's limits: every part but the last at least 5 MiB, at most 10,000 parts. Uppy cuts the file by
// getChunkSize and the service signs parts of part_size: both come from here, so they always agree.
export function partSize(fileSize) {
  return Math.max(5 * MIB, Math.ceil(fileSize / 10000 / MIB) * MIB);
}

// Uploads begun in this tab and not finished: which service upload a file (and destination) belongs to,
// so choosing the same file again after a reload resumes it. sessionStorage, as the token: gone with the tab.
const OPEN_UPLOADS = "bulk-ingest.open-uploads";
const openUploads = {
  all: () => JSON.parse(sessionStorage.getItem(OPEN_UPLOADS) ?? "{}"),
  get: (name) => openUploads.all()[name],
  set(name, value) {
    const all = openUploads.all();
    if (value === undefined) delete all[name]; else all[name] = value;
    sessionStorage.setItem(OPEN_UPLOADS, JSON.stringify(all));
  },
};

/** The glue: @uppy/aws-s3's multipart options on the service's routes. Uppy's `uploadId` is the service's
 * upload id (Uppy only hands it back to these functions); `key` is the object's key in the bucket. */
export function multipartGlue(destination, resumeName, report) {  // destination(): the form's, when Uppy asks
  const uploads = (id, rest = "") => `v1/uploads/${encodeURIComponent(id)}${rest}`;
  return {
    shouldUseMultipart: true,
    getChunkSize: (file) => partSize(file.size),
    async createMultipartUpload(file) {
      const upload = await api("v1/uploads", {method: "POST", body: {
        filename: file.name, size: file.size, multipart: true, part_size: partSize(file.size),
        destination: destination()}});
      const started = {uploadId: upload.id, key: upload.multipart.key};
      openUploads.set(resumeName(file), started);
      return started;
    },
    async signPart(file, {uploadId, partNumber}) {
      const {parts: [part]} = await api(uploads(uploadId, "/parts"), {method: "POST", body: {part_numbers: [partNumber]}});
      return {url: part.url, method: "PUT"};
    },
    async listParts(file, {uploadId}) {
      const {parts} = await api(uploads(uploadId, "/parts"));
      report.stored(parts.length);
      return parts.map((part) => ({PartNumber: part.part_number, Size: part.size, ETag: part.etag}));
    },
    async completeMultipartUpload(file, {uploadId, parts}) {
      await api(uploads(uploadId, "/complete"), {method: "POST", body: {
        parts: parts.map((part) => ({part_number: part.PartNumber, etag: part.ETag}))}});
      openUploads.set(resumeName(file), undefined);
      return {};
    },
    async abortMultipartUpload(file, {uploadId}) {
      openUploads.set(resumeName(file), undefined);
      await api(uploads(uploadId), {method: "DELETE"});
    },
  };
}

function field(id, label, control) {
  return h("div", {class: "field"}, h("label", {for: id}, label), control);
}

async function main() {
  const view = document.getElementById("upload-view");
  if (!session.token()) {
    return replace(view, h("p", {}, "Sign in at the ", h("a", {href: "../console"}, "console"), " first: this page uses its token."));
  }
  let datasets, recordTypes;
  try {
    [{datasets}, {record_types: recordTypes}] = await Promise.all([
      api("v1/datasets", {query: {limit: 100}}), api("v1/record-types")]);
  } catch (failure) {
    const message = failure instanceof ApiError && failure.status === 401
      ? "Your token is no longer valid: sign in at the console again." : failure.message;
    return replace(view, errorMessage(message));
  }
  const status = h("div", {id: "upload-status"});
  const resumed = h("p", {id: "upload-resumed", role: "status"});
  const sent = h("ol", {id: "parts-sent", "aria-label": "Parts sent from this page"});
  const form = h("form", {id: "upload-form", class: "card"},
    field("upload-dataset", "Dataset", h("select", {id: "upload-dataset", name: "dataset", required: true},
      datasets.map((dataset) => h("option", {value: dataset.id}, dataset.name)))),
    field("upload-record-type", "Record type", h("select", {id: "upload-record-type", name: "record_type", required: true},
      recordTypes.map((type) => h("option", {value: type.name}, type.name)))),
    field("upload-file", "File", h("input", {id: "upload-file", name: "file", type: "file", required: true})),
    h("button", {type: "submit"}, "Upload"), " ",
    h("button", {type: "button", id: "upload-cancel", class: "link"}, "Cancel and discard the parts"),
    status, resumed, sent);
  replace(view, form);

  const destination = () => ({destination_type: "dataset_load", dataset_id: form.elements.dataset.value,
    record_type: form.elements.record_type.value});
  const resumeName = (file) => [file.id, form.elements.dataset.value, form.elements.record_type.value].join("|");
  // What storage held when the resume began: the first listing of this upload on this page.
  const report = {stored: (count) => resumed.textContent || replace(resumed, `Resumed: ${count} part(s) already in storage.`)};
  const uppy = new window.Uppy.Uppy({autoProceed: false, restrictions: {maxNumberOfFiles: 1}});
  uppy.use(window.Uppy.AwsS3, multipartGlue(destination, resumeName, report));

  // A file chosen again after a reload: hand Uppy the upload it belongs to, and Uppy resumes it (listParts,
  // then only the missing parts) instead of starting a new one.
  uppy.on("file-added", (file) => {
    const known = openUploads.get(resumeName(file));
    if (known) uppy.setFileState(file.id, {s3Multipart: known});
  });
  uppy.on("upload-progress", (file, progress) =>
    replace(status, progressBar("Uploaded", progress.bytesUploaded, progress.bytesTotal, formatBytes)));
  uppy.on("s3-multipart:part-uploaded", (file, part) =>
    sent.append(h("li", {"data-part": part.PartNumber}, `part ${part.PartNumber}`)));
  uppy.on("upload-success", (file) => {
    const {uploadId} = uppy.getFile(file.id).s3Multipart;
    replace(status, progressBar("Uploaded", file.size, file.size, formatBytes),
      h("p", {role: "status"}, `Uploaded ${file.name}. `,
        h("a", {href: `../console#/jobs/${encodeURIComponent(uploadId)}`, id: "upload-job-link"}, "Follow its job")));
  });
  uppy.on("upload-error", (file, failure) => replace(status, errorMessage(`The upload failed: ${failure.message}`)));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const file of uppy.getFiles()) uppy.removeFile(file.id);
    replace(resumed);
    replace(sent);
    const file = form.elements.file.files[0];
    uppy.addFile({name: file.name, type: file.type, data: file, source: "file input"});
    uppy.upload();
  });
  form.querySelector("#upload-cancel").addEventListener("click", () => {
    uppy.cancelAll();
    replace(status, h("p", {role: "status"}, "Cancelled: the parts sent are discarded."));
  });
}

main();

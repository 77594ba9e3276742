// The API, called with the signed-in token. The console is served by the API itself (/console, or
// /<stage>/console on AWS), so the API's root is the directory above this module.
const API_ROOT = new URL("..", import.meta.url);
const TOKEN_KEY = "bulk-ingest.token";

export const session = {
  // sessionStorage only: the token lives as long as this tab, never in localStorage or a cookie.
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API; resolves with the JSON answer, rejects with an ApiError carrying the API's message. */
export async function api(path, {method = "GET", body, query, token = session.token()} = {}) {
  const url = new URL(path, API_ROOT);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = {"Auth-Api-Token": token ?? ""};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = answer.message
      ?? (answer.correlation_id ? `server error: quote correlation id ${answer.correlation_id} to the operator`
        : `HTTP ${response.status}`);
    throw new ApiError(response.status, message);
  }
  return answer;
}

/** PUTs a file to a presigned URL, reporting progress as (sent, total); resolves when S3 answers 200. */
export function putFile(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.addEventListener("progress", (event) => onProgress(event.loaded, event.total || file.size));
    request.addEventListener("load", () => (request.status >= 200 && request.status < 300)
      ? resolve() : reject(new Error(`storage answered HTTP ${request.status}`)));
    request.addEventListener("error", () => reject(new Error("the upload could not reach storage")));
    request.send(file);
  });
}

/** The first `count` lines of an NDJSON error log, read from its presigned URL (only as far as needed:
 * a log can be as long as the file was). */
export async function firstErrors(url, count) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the error log answered HTTP ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const lines = [];
  let pending = "";
  for (;;) {
    const {done, value} = await reader.read();
    pending += done ? decoder.decode() : decoder.decode(value, {stream: true});
    const complete = pending.split("\n");
    pending = done ? "" : complete.pop();
    for (const line of complete) {
      if (line.trim()) lines.push(JSON.parse(line));
      if (lines.length >= count) {
        await reader.cancel();
        return lines;
      }
    }
    if (done) return lines;
  }
}

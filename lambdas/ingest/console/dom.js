// Building the page: elements are made with createElement and every value becomes a text node, so text
// from the API (a rejected line's raw content, a dataset's name) is always shown, never interpreted.

/** h("a", {href: "#/jobs", class: "x", onclick: fn}, "text", child, ...) */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function formatNumber(value) {
  return typeof value === "number" ? value.toLocaleString() : String(value ?? "");
}

export function formatBytes(bytes) {
  if (typeof bytes !== "number") return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function statusBadge(status) {
  return h("span", {class: `status status-${String(status).toLowerCase()}`}, status);
}

/** A labelled <progress>: value of max, with its figures as text beside it. */
export function progressBar(label, value, max, format = formatNumber) {
  const id = `progress-${label.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  const known = typeof max === "number" && max > 0;
  return h("div", {class: "progress-row"},
    h("label", {for: id}, label),
    h("progress", {id, max: known ? max : undefined, value: known ? Math.min(value ?? 0, max) : undefined}),
    h("span", {class: "figures"}, known ? `${format(value ?? 0)} of ${format(max)}` : format(value ?? 0)));
}

export function errorMessage(text) {
  return h("p", {class: "error", role: "alert"}, text);
}

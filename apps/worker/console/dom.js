// Building the page from data without ever parsing data as HTML: elements are created one by one and
// text goes in as text nodes, so a label or payload from MX cannot inject markup or script.

/**
 * An element: `h("a", { href: "#/x", class: "y", onclick: f, dataset: { member: g } }, "text", child)`.
 * Attributes `class`, `text`, `dataset`, `on<event>` and boolean properties are handled; `null`,
 * `undefined` and `false` attributes and children are left out.
 */
export const h = (tag, attributes = {}, ...children) => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue
    if (name === "class") element.className = String(value)
    else if (name === "text") element.textContent = String(value)
    else if (name === "dataset") Object.assign(element.dataset, value)
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value)
    else if (value === true) element.setAttribute(name, "")
    else element.setAttribute(name, String(value))
  }
  append(element, children)
  return element
}

/** Appends children (strings as text, arrays flattened, nullish left out). */
export const append = (parent, children) => {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return parent
}

/** Replaces an element's children. */
export const fill = (parent, ...children) => {
  parent.replaceChildren()
  return append(parent, children)
}

/**
 * Rebuilds `parent`'s content with `build()` only when `key` differs from the last one it was built
 * for: a form being typed into survives the refreshes that do not change what it is for.
 */
export const keyed = (parent, key, build) => {
  if (parent.dataset.key === key) return false
  parent.dataset.key = key
  fill(parent, build())
  return true
}

const pad = (n) => String(n).padStart(2, "0")

/** A timestamp as local `YYYY-MM-DD HH:MM:SS`, or a dash. */
export const time = (iso) => {
  if (iso === null || iso === undefined) return "–"
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** A timestamp for a table cell: `HH:MM:SS` today, `YYYY-MM-DD HH:MM` otherwise; the full one on hover. */
export const when = (iso) => {
  const d = iso === null || iso === undefined ? null : new Date(iso)
  if (d === null || Number.isNaN(d.getTime())) return h("span", { text: time(iso) })
  const today = new Date().toDateString() === d.toDateString()
  return h("time", { datetime: iso, title: time(iso), text: today ? time(iso).slice(11) : time(iso).slice(0, 16) })
}

/** A status class as a badge (its colour comes from the class name in console.css). */
export const classBadge = (statusClass) =>
  h("span", { class: `badge class-${statusClass ?? "None"}`, text: statusClass ?? "not observed" })

/** A connection status as a badge, coloured by its class. */
export const statusBadge = (status, statusClass) =>
  h("span", { class: `badge class-${statusClass ?? "None"}`, dataset: { field: "status" }, text: status ?? "null" })

/** A message in a view's message area: `kind` is `ok` or `error`. */
export const say = (area, kind, text) => {
  fill(area, h("p", { class: `message ${kind}`, text }))
}

/** A `<dl>` of label/value pairs. */
export const facts = (pairs) =>
  h("dl", { class: "facts" }, pairs.map(([label, value]) => [h("dt", { text: label }), h("dd", {}, value)]))

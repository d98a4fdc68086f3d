// The operator console's entry point: asks for the control API's token once (kept in this tab's
// sessionStorage only, never in localStorage or a cookie), routes `#/…` to a page, and refreshes the
// page and the event feed every few seconds while runs progress.
import { Api, ApiError, withQuery } from "./api.js"
import { fill, h, say } from "./dom.js"
import { challengesView, eventsView, membersView, memberView } from "./views.js"

const tokenKey = "mx-aggregation.console.token"
const refreshEvery = 2000

const main = document.getElementById("main")
const nav = document.getElementById("nav")
const session = document.getElementById("session")
const live = document.getElementById("live")
const challengeCount = document.getElementById("challenge-count")

/** The partner event feed, read incrementally with `afterId` (every event once, in order). */
class Feed {
  max = 500
  events = []
  cursor = 0
  reading = null

  /** Reads every event after the cursor; concurrent calls share one read. */
  poll(api) {
    this.reading ??= this.readAll(api).finally(() => (this.reading = null))
    return this.reading
  }

  async readAll(api) {
    const limit = 1000
    for (;;) {
      const page = await api.get(withQuery("events", { afterId: this.cursor, limit }))
      this.events.push(...page.events)
      if (this.events.length > this.max) this.events.splice(0, this.events.length - this.max)
      this.cursor = page.next
      if (page.events.length < limit) return
    }
  }
}

let context = null
let current = null
let timer = null
let refreshing = null
let again = false

const stop = () => {
  clearTimeout(timer)
  timer = null
  context = null
  current = null
  window.removeEventListener("hashchange", route)
}

const signOut = (message) => {
  sessionStorage.removeItem(tokenKey)
  stop()
  nav.hidden = true
  session.hidden = true
  showTokenForm(message)
}

/** The page of the current `#/…` address. */
const viewFor = (hash) => {
  const [path, query] = hash.replace(/^#\/?/, "").split("?")
  const params = new URLSearchParams(query ?? "")
  const parts = (path ?? "").split("/").filter((part) => part !== "").map(decodeURIComponent)
  if (parts[0] === "members" && parts.length === 2) return { name: "members", view: memberView(context, parts[1]) }
  if (parts[0] === "challenges") return { name: "challenges", view: challengesView(context) }
  if (parts[0] === "events") return { name: "events", view: eventsView(context, params) }
  return { name: "members", view: membersView(context, params) }
}

function route() {
  if (context === null) return
  const { name, view } = viewFor(location.hash)
  current = view
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page")
    else link.removeAttribute("aria-current")
  }
  fill(main, view.element)
  void refresh()
}

const refreshOnce = async () => {
  if (context === null) return
  const { api, feed } = context
  const view = current
  try {
    await feed.poll(api)
    const challenges = await api.get(withQuery("challenges", { limit: 100 }))
    challengeCount.textContent = challenges.next === null ? String(challenges.challenges.length) : "100+"
    challengeCount.classList.toggle("waiting", challenges.challenges.length > 0)
    if (view !== null && view === current) await view.update({ challenges })
    live.textContent = `live · updated ${new Date().toLocaleTimeString()}`
    live.classList.remove("down")
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut("The worker no longer accepts this token: enter it again.")
      return
    }
    live.textContent = `${error instanceof ApiError ? error.message : "The console failed"} · retrying`
    live.classList.add("down")
    if (!(error instanceof ApiError)) console.error(error)
  }
}

/** Refreshes the page now, or right after the refresh under way. */
const refresh = () => {
  if (refreshing !== null) {
    again = true
    return refreshing
  }
  refreshing = (async () => {
    do {
      again = false
      await refreshOnce()
    } while (again && context !== null)
    refreshing = null
  })()
  return refreshing
}

const loop = async () => {
  await refresh()
  if (context !== null) timer = setTimeout(loop, refreshEvery)
}

const start = (token) => {
  context = { api: new Api(token), feed: new Feed() }
  nav.hidden = false
  session.hidden = false
  window.addEventListener("hashchange", route)
  route()
  timer = setTimeout(loop, refreshEvery)
}

function showTokenForm(message) {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true
  })
  const messages = h("div", { class: "messages", role: "status", "aria-live": "polite" })
  const form = h(
    "form",
    { class: "token-form", autocomplete: "off" },
    h("h2", { text: "Control API token" }),
    h(
      "p",
      {},
      "The worker's ",
      h("code", { text: "WORKER_API_TOKEN" }),
      "; the demo (",
      h("code", { text: "npm start" }),
      ") prints the one it generated. It is kept in this tab only, until you close it."
    ),
    h("div", { class: "field" }, h("label", { for: "token", text: "Token" }), input),
    messages,
    h("button", { type: "submit", text: "Open the console" })
  )
  if (message !== undefined) say(messages, "error", message)
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    const token = input.value.trim()
    input.value = ""
    if (token === "") return
    try {
      await new Api(token).get("members/counts")
    } catch (error) {
      say(
        messages,
        "error",
        error instanceof ApiError && error.status === 401 ? "The worker refused this token." : error.message
      )
      return
    }
    sessionStorage.setItem(tokenKey, token)
    start(token)
  })
  fill(main, form)
  input.focus()
}

document.getElementById("sign-out").addEventListener("click", () => signOut())

const saved = sessionStorage.getItem(tokenKey)
if (saved === null) showTokenForm()
else start(saved)

// The console's pages. Each is `{ element, update(shared) }`: `update` reads the control API and
// redraws what it shows, leaving forms alone while what they are for has not changed (`keyed`), so the
// page can refresh itself every few seconds while the operator types.
import { segment, withQuery } from "./api.js"
import { classBadge, facts, fill, h, keyed, say, statusBadge, time, when } from "./dom.js"
import { challengeForm, credentialForm } from "./forms.js"

const pageSize = 100

const memberLink = (memberGuid) => h("a", { href: `#/members/${segment(memberGuid)}`, class: "guid", text: memberGuid })

const messageArea = () => h("div", { class: "messages", role: "status", "aria-live": "polite" })

const table = (headings, rows, empty) =>
  rows.length === 0
    ? h("p", { class: "muted empty", text: empty })
    : h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col", text: heading })))),
        h("tbody", {}, rows)
      )
    )

/** Members by status class: the counts (each a filter), then one page of members. */
export const membersView = ({ api }, params) => {
  const statusClass = params.get("class") ?? ""
  const cursor = params.get("cursor") ?? ""
  const counts = h("nav", { class: "counts", "aria-label": "Members by status class" })
  const list = h("div", { class: "list" })
  const pager = h("p", { class: "pager" })
  const element = h(
    "section",
    { class: "view members-view" },
    h("h2", { text: statusClass === "" ? "Members" : `Members: ${statusClass}` }),
    counts,
    list,
    pager
  )
  const chip = (label, count, filter) =>
    h(
      filter === null ? "span" : "a",
      {
        class: `chip class-${label}`,
        href: filter === null ? null : filter === "" ? "#/members" : `#/members?class=${segment(filter)}`,
        "aria-current": filter === statusClass ? "page" : null,
        dataset: { statusClass: label }
      },
      h("span", { class: "chip-label", text: label }),
      h("span", { class: "chip-count", text: String(count) })
    )
  const update = async () => {
    const [summary, page] = await Promise.all([
      api.get("members/counts"),
      api.get(withQuery("members", { statusClass, cursor, limit: pageSize }))
    ])
    fill(
      counts,
      chip("All", summary.total, ""),
      summary.byStatusClass.map((c) =>
        c.statusClass === null ? chip("NotObserved", c.count, null) : chip(c.statusClass, c.count, c.statusClass)
      )
    )
    fill(
      list,
      table(
        ["Member", "Status", "Class", "Next action", "What the user must do", "User", "Observed", "Next check"],
        page.members.map((m) =>
          h(
            "tr",
            { dataset: { member: m.memberGuid, aggregating: String(m.isBeingAggregated) } },
            h("td", {}, memberLink(m.memberGuid)),
            h("td", {}, statusBadge(m.connectionStatus, m.statusClass), m.isBeingAggregated ? " aggregating" : ""),
            h("td", {}, classBadge(m.statusClass)),
            h(
              "td",
              { dataset: { field: "nextAction" } },
              m.nextAction ?? (m.statusClass === "Challenged"
                ? h("a", { href: `#/members/${segment(m.memberGuid)}`, text: "answer the challenge" })
                : "–")
            ),
            h("td", { class: "user-action", text: m.userAction ?? "" }),
            h("td", { class: "guid short", title: m.userGuid, text: m.userGuid }),
            h("td", { class: "time" }, when(m.observedAt)),
            h("td", { class: "time" }, m.tracked ? when(m.nextDueAt) : "not tracked")
          )
        ),
        "No member here."
      )
    )
    const base = statusClass === "" ? "#/members" : `#/members?class=${segment(statusClass)}`
    const join = base.includes("?") ? "&" : "?"
    fill(
      pager,
      cursor === "" ? null : h("a", { href: base, text: "← first page" }),
      page.next === null ? null : h("a", { href: `${base}${join}cursor=${segment(page.next)}`, text: "next page →" })
    )
  }
  return { element, update }
}

/** A run's statuses, oldest first, repeats folded: `CREATED → CHALLENGED ×3 → RESUMED → CONNECTED`. */
const trail = (statuses) => {
  const folded = []
  for (const { status } of statuses) {
    const last = folded.at(-1)
    if (last !== undefined && last.status === status) last.times++
    else folded.push({ status, times: 1 })
  }
  return folded.map((s) => `${s.status ?? "null"}${s.times > 1 ? ` ×${s.times}` : ""}`).join(" → ")
}

/** One member: its state and next action, its pending challenge, the credential form, its runs. */
export const memberView = ({ api }, memberGuid) => {
  const path = `members/${segment(memberGuid)}`
  const messages = messageArea()
  const summary = h("div", { class: "summary" })
  const actions = h("p", { class: "actions" })
  const challenge = h("section", { class: "challenge" })
  const credentials = h("section", { class: "credentials" })
  const runs = h("div", { class: "runs" })
  const runDetails = new Map()
  const element = h(
    "section",
    { class: "view member-view", dataset: { member: memberGuid } },
    h("h2", {}, "Member ", h("span", { class: "guid", text: memberGuid })),
    messages,
    summary,
    actions,
    challenge,
    credentials,
    h("h3", { text: "Recent runs" }),
    runs
  )
  const trigger = (label, action, done) =>
    h("button", {
      type: "button",
      text: label,
      onclick: async (event) => {
        event.currentTarget.disabled = true
        try {
          const triggered = await api.post(`${path}/${action}`)
          say(messages, "ok", triggered.started ? `${done}: run ${triggered.runId}.` : `${done}: a run is under way.`)
        } catch (error) {
          say(messages, "error", `${label} failed: ${error.message}`)
        }
      }
    })

  const showCredentials = async (member, latestRun) => {
    if (member.statusClass !== "CredentialsRequired") return keyed(credentials, "none", () => [])
    const key = `${member.connectionStatus}:${latestRun ?? ""}`
    if (credentials.dataset.key === key) return
    try {
      const fields = await api.get(`${path}/credentials`)
      keyed(credentials, key, () => [
        h("h3", { text: "New credentials" }),
        h("p", { text: member.userAction ?? "MX asks for new credentials for this member." }),
        credentialForm({ api, memberGuid, fields, messages })
      ])
    } catch (error) {
      keyed(credentials, key, () => [
        h("h3", { text: "New credentials" }),
        h("p", { class: "message error", text: `The member's credential fields could not be read: ${error.message}` }),
        h("button", { type: "button", text: "Try again", onclick: () => delete credentials.dataset.key })
      ])
    }
  }

  const update = async () => {
    const detail = await api.find(path)
    if (detail === null) {
      fill(summary, h("p", { class: "message error", text: "The worker does not track this member." }))
      return
    }
    const m = detail.member
    fill(
      summary,
      facts([
        ["Status", [statusBadge(m.connectionStatus, m.statusClass), m.isBeingAggregated ? " being aggregated" : ""]],
        ["Status class", classBadge(m.statusClass)],
        ["Next action", h("span", { dataset: { field: "nextAction" }, text: m.nextAction ?? "–" })],
        ["What the user must do", m.userAction ?? "nothing"],
        ["Needs the user", m.needsUser ?? "no"],
        ["User", h("span", { class: "guid", text: m.userGuid })],
        ["Institution", m.institutionCode ?? "–"],
        ["Active run", m.activeRunId ?? "none"],
        ["Last successful aggregation", time(m.successfullyAggregatedAt)],
        ["Observed", time(m.observedAt)],
        ["Next check", m.tracked ? time(m.nextDueAt) : "not tracked"],
        ["Events", h("a", { href: `#/events?member=${segment(memberGuid)}`, text: "this member's events" })]
      ])
    )
    keyed(actions, `${m.statusClass}:${m.activeRunId ?? ""}`, () => [
      trigger("Aggregate now", "aggregate", "Aggregation requested"),
      m.statusClass === "InstitutionActionRequired"
        ? trigger("The user acted at the institution", "institution-action-done", "Aggregation requested")
        : null
    ])

    const pending = await api.find(`${path}/challenges`)
    keyed(
      challenge,
      pending === null ? "none" : `${pending.runId}:${pending.createdAt}`,
      () =>
        pending === null ? [] : [
          h("h3", { text: "MFA challenge waiting for answers" }),
          challengeForm({ api, memberGuid, pending, messages })
        ]
    )
    await showCredentials(m, detail.runs[0]?.runId)

    // The statuses of the latest runs: an ended run's never change, so it is read once.
    const shown = detail.runs.slice(0, 5)
    await Promise.all(shown.map(async (run) => {
      const known = runDetails.get(run.runId)
      if (known !== undefined && known.run.endedAt !== null) return
      const read = await api.find(`runs/${segment(run.runId)}`)
      if (read !== null) runDetails.set(run.runId, read)
    }))
    fill(
      runs,
      table(
        ["Started", "Reason", "Statuses observed", "Outcome", "Ended", "MX calls"],
        detail.runs.map((run) =>
          h(
            "tr",
            { dataset: { run: run.runId } },
            h("td", { class: "time" }, when(run.startedAt)),
            h("td", { text: run.reason }),
            h("td", {
              class: "trail",
              text: runDetails.has(run.runId) ? trail(runDetails.get(run.runId).statuses) : ""
            }),
            h(
              "td",
              {},
              run.outcome ?? (run.endedAt === null ? "running" : "–"),
              run.failureReason ? h("span", { class: "muted", text: ` (${run.failureReason})` }) : null
            ),
            h("td", { class: "time" }, when(run.endedAt)),
            h("td", { text: String(run.mxCalls) })
          )
        ),
        "No run yet."
      )
    )
  }
  return { element, update }
}

/** Every pending MFA challenge, oldest first, each with its answer form. */
export const challengesView = ({ api }) => {
  const messages = messageArea()
  const list = h("div", { class: "cards" })
  const more = h("p", { class: "muted" })
  const element = h(
    "section",
    { class: "view challenges-view" },
    h("h2", { text: "Pending MFA challenges" }),
    messages,
    list,
    more
  )
  const update = async ({ challenges }) => {
    const wanted = new Map(challenges.challenges.map((p) => [`${p.memberGuid}:${p.runId}:${p.createdAt}`, p]))
    for (const card of [...list.children]) {
      if (!wanted.has(card.dataset.key ?? "")) card.remove()
    }
    const present = new Set([...list.children].map((card) => card.dataset.key))
    for (const [key, pending] of wanted) {
      if (present.has(key)) continue
      list.append(h(
        "article",
        { class: "card", dataset: { key, member: pending.memberGuid } },
        h("h3", {}, memberLink(pending.memberGuid)),
        h("p", { class: "muted", text: `Asked ${time(pending.createdAt)}, run ${pending.runId}` }),
        challengeForm({ api, memberGuid: pending.memberGuid, pending, messages })
      ))
    }
    fill(
      more,
      wanted.size === 0 ? "No challenge is waiting for answers." : null,
      challenges.next === null ? null : `Showing the oldest ${wanted.size}; answer them to see the others.`
    )
  }
  return { element, update }
}

/** The partner event feed, newest first (optionally one member's). */
export const eventsView = ({ feed }, params) => {
  const member = params.get("member") ?? ""
  const list = h("div", { class: "list" })
  const element = h(
    "section",
    { class: "view events-view" },
    h("h2", {}, member === "" ? "Events" : ["Events of ", memberLink(member)]),
    h("p", { class: "muted", text: `The latest ${feed.max} events of the worker's partner feed, newest first.` }),
    list
  )
  const update = async () => {
    const events = feed.events.filter((e) => member === "" || e.memberGuid === member).reverse()
    fill(
      list,
      table(
        ["#", "Time", "Type", "Member", "Details"],
        events.map((e) =>
          h(
            "tr",
            { dataset: { event: String(e.id), type: e.type } },
            h("td", { text: String(e.id) }),
            h("td", { class: "time" }, when(e.createdAt)),
            h("td", {}, h("span", { class: `tag event-${e.type}`, text: e.type })),
            h("td", {}, memberLink(e.memberGuid)),
            h("td", { class: "payload", text: e.payload === null ? "" : JSON.stringify(e.payload) })
          )
        ),
        "No event yet."
      )
    )
  }
  return { element, update }
}

/**
 * The figures of a trial, the rules they must satisfy, and the table the full run prints: per
 * scenario, trials, kills, members, outcomes reached, transactions equal, deletes, resumes outside
 * CHALLENGED, aggregates after an automatic aggregation, the shortest poll interval, the highest
 * per-member concurrency, daemon exits other than the kills, MFA challenges lost and the duration.
 */

/** What one trial measured. */
export interface TrialFigures {
  readonly scenario: string
  readonly trial: string
  readonly kills: number
  readonly members: number
  /** Members whose final state is the one the domain prescribes. */
  readonly outcomesReached: number
  /** Members expected CONNECTED. */
  readonly connected: number
  /** CONNECTED members whose stored transactions equal MX's. */
  readonly transactionsEqual: number
  /** Members and users deleted at MX. */
  readonly deletes: number
  readonly resumesOutsideChallenged: number
  readonly aggregatesAfterAutomatic: number
  /** Shortest MX-time interval between two reads of one member (`null`: never read twice). */
  readonly minPollIntervalMs: number | null
  /** Most MX requests in flight at once for one member. */
  readonly maxMemberConcurrency: number
  /** Aggregations MX started, and how many the plan needs (one per member, plus one per credential update). */
  readonly aggregationsStarted: number
  readonly aggregationsExpected: number
  /** Daemon exits nobody asked for. */
  readonly unexpectedExits: number
  /** MFA rounds neither answered nor ended as "needs user present". */
  readonly mfaLost: number
  /** Runs left active with nothing happening once the disruption was over (they need a restart). */
  readonly stuckRuns: number
  /** Failed runs after which nothing was scheduled (the member would never be looked at again). */
  readonly failuresNeverRetried: number
  /**
   * Overlapping MX requests for one member other than an MFA answer's resume meeting the waiting run's
   * status check (which is one aggregation, not two).
   */
  readonly conflictingOverlaps: number
  readonly durationMs: number
  /** Everything that broke a rule, in words; empty when the trial passed. */
  readonly violations: ReadonlyArray<string>
  /** Scenario-specific counts (webhooks sent, notifications failed, …), for the notes. */
  readonly extra: Readonly<Record<string, number>>
}

/** The rules every trial keeps, as violations. */
export const ruleViolations = (f: Omit<TrialFigures, "violations">): Array<string> => {
  const out: Array<string> = []
  if (f.outcomesReached !== f.members) {
    out.push(`${f.members - f.outcomesReached} member(s) did not reach their outcome`)
  }
  if (f.transactionsEqual !== f.connected) {
    out.push(`${f.connected - f.transactionsEqual} CONNECTED member(s) whose transactions differ from MX's`)
  }
  if (f.deletes !== 0) out.push(`${f.deletes} delete(s) at MX`)
  if (f.resumesOutsideChallenged !== 0) out.push(`${f.resumesOutsideChallenged} resume(s) outside CHALLENGED`)
  if (f.aggregatesAfterAutomatic !== 0) {
    out.push(`${f.aggregatesAfterAutomatic} aggregate(s) right after an automatic aggregation`)
  }
  if (f.minPollIntervalMs !== null && f.minPollIntervalMs < 3_000) {
    out.push(`two reads of a member ${f.minPollIntervalMs} ms (MX time) apart`)
  }
  if (f.conflictingOverlaps > 0) {
    out.push(`${f.conflictingOverlaps} time(s) two requests of different runs in flight at once for one member`)
  }
  if (f.aggregationsStarted !== f.aggregationsExpected) {
    out.push(`${f.aggregationsStarted} aggregations started at MX, ${f.aggregationsExpected} expected`)
  }
  if (f.unexpectedExits !== 0) out.push(`${f.unexpectedExits} daemon exit(s) other than the kills`)
  if (f.mfaLost !== 0) out.push(`${f.mfaLost} MFA challenge(s) lost`)
  if (f.stuckRuns !== 0) out.push(`${f.stuckRuns} run(s) stuck (active, their members left alone at MX)`)
  if (f.failuresNeverRetried !== 0) {
    out.push(`${f.failuresNeverRetried} failed run(s) after which nothing was scheduled (the user had to come back)`)
  }
  return out
}

/** One line of the table: a scenario's trials together. */
export interface Row {
  readonly scenario: string
  readonly trials: number
  readonly failedTrials: number
  readonly kills: number
  readonly members: number
  readonly outcomesReached: number
  readonly connected: number
  readonly transactionsEqual: number
  readonly deletes: number
  readonly resumesOutsideChallenged: number
  readonly aggregatesAfterAutomatic: number
  readonly minPollIntervalMs: number | null
  readonly maxMemberConcurrency: number
  readonly aggregationsStarted: number
  readonly aggregationsExpected: number
  readonly unexpectedExits: number
  readonly mfaLost: number
  readonly stuckRuns: number
  readonly failuresNeverRetried: number
  readonly conflictingOverlaps: number
  readonly durationMs: number
}

const sum = (trials: ReadonlyArray<TrialFigures>, f: (t: TrialFigures) => number) =>
  trials.reduce((n, t) => n + f(t), 0)

/** A scenario's trials as one row. */
export const summarize = (scenario: string, trials: ReadonlyArray<TrialFigures>): Row => {
  const polls = trials.map((t) => t.minPollIntervalMs).filter((v): v is number => v !== null)
  return {
    scenario,
    trials: trials.length,
    failedTrials: trials.filter((t) => t.violations.length > 0).length,
    kills: sum(trials, (t) => t.kills),
    members: sum(trials, (t) => t.members),
    outcomesReached: sum(trials, (t) => t.outcomesReached),
    connected: sum(trials, (t) => t.connected),
    transactionsEqual: sum(trials, (t) => t.transactionsEqual),
    deletes: sum(trials, (t) => t.deletes),
    resumesOutsideChallenged: sum(trials, (t) => t.resumesOutsideChallenged),
    aggregatesAfterAutomatic: sum(trials, (t) => t.aggregatesAfterAutomatic),
    minPollIntervalMs: polls.length === 0 ? null : Math.min(...polls),
    maxMemberConcurrency: Math.max(0, ...trials.map((t) => t.maxMemberConcurrency)),
    aggregationsStarted: sum(trials, (t) => t.aggregationsStarted),
    aggregationsExpected: sum(trials, (t) => t.aggregationsExpected),
    unexpectedExits: sum(trials, (t) => t.unexpectedExits),
    mfaLost: sum(trials, (t) => t.mfaLost),
    stuckRuns: sum(trials, (t) => t.stuckRuns),
    failuresNeverRetried: sum(trials, (t) => t.failuresNeverRetried),
    conflictingOverlaps: sum(trials, (t) => t.conflictingOverlaps),
    durationMs: sum(trials, (t) => t.durationMs)
  }
}

const columns: ReadonlyArray<readonly [string, (r: Row) => string]> = [
  ["scenario", (r) => r.scenario],
  ["trials", (r) => `${r.trials}${r.failedTrials > 0 ? ` (${r.failedTrials} failed)` : ""}`],
  ["kills", (r) => String(r.kills)],
  ["members", (r) => String(r.members)],
  ["outcomes reached", (r) => `${r.outcomesReached}/${r.members}`],
  ["transactions equal", (r) => `${r.transactionsEqual}/${r.connected}`],
  ["deletes", (r) => String(r.deletes)],
  ["resumes outside CHALLENGED", (r) => String(r.resumesOutsideChallenged)],
  ["aggregates after automatic", (r) => String(r.aggregatesAfterAutomatic)],
  ["min poll interval (MX s)", (r) => r.minPollIntervalMs === null ? "-" : (r.minPollIntervalMs / 1000).toFixed(1)],
  ["max per-member concurrency", (r) => String(r.maxMemberConcurrency)],
  ["aggregations (started/expected)", (r) => `${r.aggregationsStarted}/${r.aggregationsExpected}`],
  ["MFA lost", (r) => String(r.mfaLost)],
  ["runs stuck", (r) => String(r.stuckRuns)],
  ["failed runs never retried", (r) => String(r.failuresNeverRetried)],
  ["daemon exits other than kills", (r) => String(r.unexpectedExits)],
  ["duration", (r) => `${(r.durationMs / 1000).toFixed(0)} s`]
]

/** The rows as a Markdown table. */
export const table = (rows: ReadonlyArray<Row>): string => {
  const header = columns.map(([name]) => name)
  const lines = rows.map((r) => columns.map(([, cell]) => cell(r)))
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const format = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [format(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(format)].join("\n")
}

/**
 * MX Bank's test credentials: the password picks how the aggregation ends, as at MX
 * (docs.mx.com/resources/test-platform/mxbank). MX documents `mxuser` with any password
 * (CONNECTED), `challenge`, `options`, `image` (MFA answered with `correct`), `BAD_REQUEST`
 * (FAILED) and `UNAUTHORIZED` (DENIED); the other rows are the sandbox's own, one per status the
 * project handles.
 *
 * @since 0.1.0
 */
import type { ConnectionStatus } from "@mx-aggregation/domain"

/**
 * The username MX Bank accepts; any other username is DENIED.
 *
 * @since 0.1.0
 * @category constants
 */
export const username = "mxuser"

/**
 * The MFA answer that succeeds.
 *
 * @since 0.1.0
 * @category constants
 */
export const correctAnswer = "correct"

/**
 * The MFA answer that is accepted but followed by another challenge (a multi-round MFA, as in
 * MX's Atrium test docs: "responding with challenge will answer the first question correctly and
 * trigger a follow-up challenge").
 *
 * @since 0.1.0
 * @category constants
 */
export const nextRoundAnswer = "challenge"

/**
 * The kinds of challenge MX Bank issues.
 *
 * @since 0.1.0
 * @category models
 */
export type ChallengeKind = "TEXT" | "OPTIONS" | "IMAGE_DATA"

/**
 * What MX Bank does with a set of credentials once it judges them.
 *
 * @since 0.1.0
 * @category models
 */
export type Behaviour =
  | { readonly _tag: "Connect" }
  | { readonly _tag: "Challenge"; readonly kind: ChallengeKind }
  | { readonly _tag: "Delayed" }
  | { readonly _tag: "End"; readonly status: ConnectionStatus.ConnectionStatus; readonly detail: string | null }

/**
 * One row of the test-credentials table.
 *
 * @since 0.1.0
 * @category models
 */
export interface PasswordRow {
  readonly password: string
  readonly behaviour: Behaviour
  /** The status the member ends in, as documented. */
  readonly outcome: string
  readonly description: string
}

const end = (status: ConnectionStatus.ConnectionStatus, detail: string | null = null): Behaviour => ({
  _tag: "End",
  status,
  detail
})

/**
 * The passwords with a special meaning (case-sensitive). Any other password connects.
 *
 * @since 0.1.0
 * @category constants
 */
export const passwords: ReadonlyArray<PasswordRow> = [
  {
    password: "challenge",
    behaviour: { _tag: "Challenge", kind: "TEXT" },
    outcome: "CHALLENGED",
    description: "TEXT challenge. Answer `correct` -> CONNECTED; `challenge` -> a second challenge (two-round MFA, " +
      "then `correct`); a status password below -> that status; anything else -> REJECTED; no answer -> EXPIRED"
  },
  {
    password: "options",
    behaviour: { _tag: "Challenge", kind: "OPTIONS" },
    outcome: "CHALLENGED",
    description: "OPTIONS challenge; answer with the option whose value is `correct` (its value or its guid)"
  },
  {
    password: "image",
    behaviour: { _tag: "Challenge", kind: "IMAGE_DATA" },
    outcome: "CHALLENGED",
    description: "IMAGE_DATA challenge; answer `correct`"
  },
  {
    password: "BAD_REQUEST",
    behaviour: end("FAILED", "You must fill out the username and password fields."),
    outcome: "FAILED",
    description: "the institution answers 400 (MX documented)"
  },
  {
    password: "UNAUTHORIZED",
    behaviour: end("DENIED"),
    outcome: "DENIED",
    description: "invalid credentials (MX documented); the third DENIED in a row -> PREVENTED"
  },
  { password: "LOCKED", behaviour: end("LOCKED"), outcome: "LOCKED", description: "account locked at the bank" },
  {
    password: "IMPEDED",
    behaviour: end("IMPEDED"),
    outcome: "IMPEDED",
    description: "the user must act on the bank's website"
  },
  {
    password: "IMPAIRED",
    behaviour: end("IMPAIRED"),
    outcome: "IMPAIRED",
    description: "missing or partial credentials"
  },
  { password: "DEGRADED", behaviour: end("DEGRADED"), outcome: "DEGRADED", description: "provider trouble" },
  {
    password: "DISCONNECTED",
    behaviour: end("DISCONNECTED"),
    outcome: "DISCONNECTED",
    description: "the connection to the bank is broken"
  },
  {
    password: "DELAYED",
    behaviour: { _tag: "Delayed" },
    outcome: "CONNECTED",
    description: "DELAYED (still aggregating) for `delayedDuration`, then CONNECTED"
  },
  {
    password: "SERVER_ERROR",
    behaviour: end("FAILED", "The institution's server returned an error."),
    outcome: "FAILED",
    description: "the bank's server answers 500"
  },
  {
    password: "DISCONTINUED",
    behaviour: end("DISCONTINUED"),
    outcome: "DISCONTINUED",
    description: "the institution is no longer supported"
  },
  { password: "CLOSED", behaviour: end("CLOSED"), outcome: "CLOSED", description: "the account is closed" },
  { password: "DISABLED", behaviour: end("DISABLED"), outcome: "DISABLED", description: "aggregation disabled" },
  {
    password: "IMPORTED",
    behaviour: end("IMPORTED"),
    outcome: "IMPORTED",
    description: "MX lacks the credentials (re-authenticate)"
  }
]

const byPassword = new Map(passwords.map((row) => [row.password, row]))

const connect: Behaviour = { _tag: "Connect" }

/**
 * How MX Bank treats a username and password.
 *
 * @since 0.1.0
 * @category behaviour
 */
export const behaviourFor = (user: string | undefined, password: string | undefined): Behaviour => {
  if (user !== username) return end("DENIED")
  return byPassword.get(password ?? "")?.behaviour ?? connect
}

/**
 * The verdict on one round of MFA answers.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict =
  | { readonly _tag: "Correct" }
  | { readonly _tag: "NextRound" }
  | { readonly _tag: "End"; readonly status: ConnectionStatus.ConnectionStatus; readonly detail: string | null }

/**
 * Judges the answers of one round (already resolved to values, option guids to option values).
 * A status password among the answers ends in that status; all `correct` succeeds; `challenge`
 * (with the rest `correct`) asks another round; anything else is REJECTED.
 *
 * @since 0.1.0
 * @category behaviour
 */
export const judge = (answers: ReadonlyArray<string>): Verdict => {
  for (const answer of answers) {
    const row = byPassword.get(answer)
    if (row !== undefined && row.behaviour._tag === "End") return row.behaviour
  }
  if (answers.every((answer) => answer === correctAnswer)) return { _tag: "Correct" }
  if (answers.every((answer) => answer === correctAnswer || answer === nextRoundAnswer)) return { _tag: "NextRound" }
  return { _tag: "End", status: "REJECTED", detail: null }
}

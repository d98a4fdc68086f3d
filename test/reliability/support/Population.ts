/**
 * The members of a trial: MX Bank passwords (which pick how MX's aggregation ends) and, for the MFA
 * passwords, what the simulated end user does with the challenge. From that plan follows the outcome
 * the domain prescribes for each member, which the trial checks once the worker is done.
 */
import type { Member } from "@mx-aggregation/domain"
import { MxBank, Sandbox } from "@mx-aggregation/mx-sandbox"
import { Effect } from "effect"
import type * as Rng from "./Rng.js"

/**
 * What the end user does with a challenge: answer `correct`; answer `challenge` first (MX asks a
 * second round) then `correct`; answer something MX rejects; or never answer.
 */
export type MfaPlan = "correct" | "two-rounds" | "wrong" | "never"

/** One member to create. */
export interface MemberPlan {
  /** An MX Bank password: `challenge`, `options`, `DELAYED`, `UNAUTHORIZED`, `LOCKED`, or any other (connects). */
  readonly password: string
  /** For `challenge` / `options` / `image`. */
  readonly mfa?: MfaPlan | undefined
  /**
   * Created without `skip_aggregation`: MX starts an aggregation by itself, which the worker must
   * follow (never call aggregate on top of it).
   */
  readonly mxStarts?: boolean | undefined
  /**
   * For `UNAUTHORIZED`: once the worker says it needs credentials, the user submits new ones
   * (`POST /members/:guid/credentials`); MX aggregates again by itself and the member connects.
   */
  readonly fixCredentials?: boolean | undefined
}

/** A created member with its plan. */
export interface PlannedMember extends MemberPlan {
  readonly memberGuid: Member.MemberGuid
  readonly userGuid: Member.UserGuid
  /** A short name for reports, e.g. `challenge/two-rounds#3`. */
  readonly label: string
}

/** The end the domain prescribes for a member (the worker's view once its last run ended). */
export interface Expected {
  /** Connection statuses MX may show at the end (the worker must show the same). */
  readonly statuses: ReadonlyArray<string>
  /** What the worker says the user must do (`null`: nothing). */
  readonly needsUser: string | null
  /** Acceptable outcomes of the member's last run. */
  readonly outcomes: ReadonlyArray<string>
  /** Whether the member's data must equal MX's (a CONNECTED member). */
  readonly connected: boolean
}

const mfaPasswords = new Set(["challenge", "options", "image"])

/** Whether a plan involves a challenge. */
export const isMfa = (plan: MemberPlan): boolean => mfaPasswords.has(plan.password)

const connected: Expected = {
  statuses: ["CONNECTED"],
  needsUser: null,
  outcomes: ["connected", "pulled_only"],
  connected: true
}

/** How many aggregations MX starts for a plan: one, and one more after new credentials. */
export const aggregations = (plan: MemberPlan): number => plan.fixCredentials === true ? 2 : 1

/** The end the domain prescribes for a plan. */
export const expected = (plan: MemberPlan): Expected => {
  if (isMfa(plan)) {
    switch (plan.mfa ?? "correct") {
      case "correct":
      case "two-rounds":
        return connected
      // MX rejects a wrong answer (REJECTED): a new aggregation needs the user present.
      case "wrong":
        return { statuses: ["REJECTED"], needsUser: "presence", outcomes: ["needs_user_present"], connected: false }
      // The worker's MFA timeout (or MX's, turning the member EXPIRED) ends the wait: the user must be present.
      case "never":
        return {
          statuses: ["CHALLENGED", "EXPIRED"],
          needsUser: "presence",
          outcomes: ["needs_user_present"],
          connected: false
        }
    }
  }
  switch (plan.password) {
    case "UNAUTHORIZED":
      if (plan.fixCredentials === true) return connected
      return { statuses: ["DENIED"], needsUser: "credentials", outcomes: ["credentials_required"], connected: false }
    case "LOCKED":
      return {
        statuses: ["LOCKED"],
        needsUser: "institution",
        outcomes: ["institution_action_required"],
        connected: false
      }
    default:
      return connected
  }
}

/**
 * A mixed population of `size` members for a trial, drawn with `rng`: every kind of ending (as far
 * as `size` allows), MFA rounds of every kind, members MX aggregates by itself on creation, and a
 * DENIED member whose user submits new credentials. MFA members are always answered unless
 * `neverAnswer` allows it.
 */
export const mixed = (
  rng: Rng.Rng,
  size: number,
  options: { readonly neverAnswer?: boolean } = {}
): Array<MemberPlan> => {
  const kinds: Array<MemberPlan> = [
    { password: "password" },
    { password: "DELAYED" },
    { password: "challenge", mfa: "correct" },
    { password: "options", mfa: "correct" },
    { password: "challenge", mfa: "two-rounds" },
    { password: "challenge", mfa: "wrong" },
    { password: "UNAUTHORIZED" },
    { password: "LOCKED" },
    { password: "UNAUTHORIZED", fixCredentials: true },
    { password: "password", mxStarts: true },
    { password: "options", mfa: "correct", mxStarts: true },
    ...(options.neverAnswer === true ? [{ password: "challenge", mfa: "never" } as const] : [])
  ]
  // Every kind once (as far as the size allows), then random kinds.
  const plans = rng.shuffle(kinds).slice(0, Math.min(size, kinds.length))
  while (plans.length < size) plans.push(rng.pick(kinds))
  return plans
}

/**
 * Creates the members at MX (with `skip_aggregation`: the worker's own run is what aggregates each),
 * each for a user of its own: MX refuses a second member with the same credentials at one institution
 * for one user, and several members share an MX Bank password.
 */
export const create = (
  label: string,
  plans: ReadonlyArray<MemberPlan>
): Effect.Effect<
  { readonly userGuids: ReadonlyArray<Member.UserGuid>; readonly members: ReadonlyArray<PlannedMember> },
  never,
  Sandbox.Sandbox
> =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const members: Array<PlannedMember> = []
    for (const [i, plan] of plans.entries()) {
      const user = yield* sandbox.createUser({ id: `${label}-user-${i}` })
      const member = yield* sandbox.createMember(user.guid, {
        username: MxBank.username,
        password: plan.password,
        skipAggregation: plan.mxStarts !== true
      })
      members.push({
        ...plan,
        memberGuid: member.guid as Member.MemberGuid,
        userGuid: user.guid as Member.UserGuid,
        label: `${plan.password}${plan.mfa === undefined ? "" : `/${plan.mfa}`}${
          plan.fixCredentials === true ? "/fixed" : ""
        }${plan.mxStarts === true ? "/mx-starts" : ""}#${i}`
      })
    }
    return { userGuids: members.map((m) => m.userGuid), members }
  }).pipe(Effect.orDie)

/**
 * The simulated MX: users, members and the aggregation state machine. Synchronous and driven by
 * the MX time passed in: a member's transitions happen at times fixed when they are scheduled (job
 * start + a share of the aggregation duration, challenge + MFA timeout, …), and `advance` applies
 * every transition due at a given time. Reads advance the member they touch; a single timer heap
 * (`runDue`) advances the others, so webhooks and background aggregations happen on time without a
 * fiber per member. The outcome therefore depends only on the seed and the times of the calls.
 *
 * @internal
 */
import { ConnectionStatus } from "@mx-aggregation/domain"
import { Either } from "effect"
import * as Institutions from "../Institutions.js"
import * as MxBank from "../MxBank.js"
import type { Resolved } from "../Options.js"
import * as SandboxError from "../SandboxError.js"
import type * as Webhooks from "../Webhooks.js"
import type { Counters } from "./counters.js"
import * as Data from "./data.js"
import { TimerHeap } from "./heap.js"
import type { ChallengeRec, Job, JobType, MemberCredential, MemberRec, Origin, UserRec } from "./model.js"
import { statusMessage } from "./model.js"
import * as Random from "./random.js"

type Result<A> = Either.Either<A, SandboxError.SandboxError>

const ok = Either.right
const fail = (reason: SandboxError.Reason, message: string): Result<never> =>
  Either.left(SandboxError.make(reason, message))

const dayMs = 86_400_000

/** What the engine tells the outside world. */
export interface EngineHooks {
  /** A webhook to deliver. */
  readonly webhook: (payload: Webhooks.Payload) => void
  /** A member was scheduled at this MX time (the timer fiber may need to wake earlier). */
  readonly scheduled: (at: number) => void
}

export interface UserInput {
  readonly id?: string | null | undefined
  readonly email?: string | null | undefined
  readonly is_disabled?: boolean | null | undefined
  readonly metadata?: string | null | undefined
}

export interface CredentialInput {
  readonly guid: string
  readonly value: string
}

export interface MemberCreateInput {
  readonly institution_code: string
  readonly credentials?: ReadonlyArray<CredentialInput> | undefined
  readonly skip_aggregation?: boolean | null | undefined
  readonly id?: string | null | undefined
  readonly metadata?: string | null | undefined
  readonly is_oauth?: boolean | null | undefined
  readonly background_aggregation_is_disabled?: boolean | null | undefined
  readonly use_cases?: ReadonlyArray<string> | undefined
}

export interface MemberUpdateInput {
  readonly credentials?: ReadonlyArray<CredentialInput> | undefined
  readonly skip_aggregation?: boolean | null | undefined
  readonly id?: string | null | undefined
  readonly metadata?: string | null | undefined
  readonly background_aggregation_is_disabled?: boolean | null | undefined
  readonly use_cases?: ReadonlyArray<string> | undefined
}

/** Statuses from which MX's background aggregation runs (no end-user input needed). */
const backgroundStatuses: ReadonlySet<string> = new Set(["CREATED", "CONNECTED", "DEGRADED", "DISCONNECTED", "FAILED"])

const pixel =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

const questions = [
  "What city were you born in?",
  "What was the name of your first pet?",
  "What is your mother's maiden name?"
]

export class Engine {
  readonly users = new Map<string, UserRec>()
  readonly members = new Map<string, MemberRec>()
  /** User guid by partner id, so creating users stays O(1) at benchmark scale. */
  private readonly userIds = new Map<string, string>()
  private readonly heap = new TimerHeap()
  private userCount = 0
  private memberCount = 0
  backgroundEnabled: boolean
  private backgroundEnabledAt = Number.NEGATIVE_INFINITY
  publicUrl: string

  constructor(
    readonly options: Resolved,
    readonly counters: Counters,
    private readonly hooks: EngineHooks
  ) {
    this.backgroundEnabled = options.background.enabled
    this.publicUrl = options.publicUrl
  }

  // ---------------------------------------------------------------------------------------------
  // users

  createUser(input: UserInput): Result<UserRec> {
    if (input.id !== undefined && input.id !== null && this.findUserById(input.id) !== undefined) {
      return fail("Conflict", `A user with id ${input.id} already exists.`)
    }
    const user: UserRec = {
      guid: Random.guid("USR", this.options.seed, this.userCount++),
      id: input.id ?? null,
      email: input.email ?? null,
      isDisabled: input.is_disabled ?? false,
      metadata: input.metadata ?? null,
      members: new Set()
    }
    this.users.set(user.guid, user)
    if (user.id !== null) this.userIds.set(user.id, user.guid)
    return ok(user)
  }

  private findUserById(id: string): UserRec | undefined {
    const guid = this.userIds.get(id)
    return guid === undefined ? undefined : this.users.get(guid)
  }

  user(userGuid: string): Result<UserRec> {
    const user = this.users.get(userGuid)
    return user === undefined ? fail("NotFound", `User ${userGuid} was not found.`) : ok(user)
  }

  updateUser(userGuid: string, input: UserInput): Result<UserRec> {
    return Either.flatMap(this.user(userGuid), (user) => {
      if (input.id !== undefined && input.id !== null && input.id !== user.id) {
        if (this.findUserById(input.id) !== undefined) {
          return fail("Conflict", `A user with id ${input.id} already exists.`)
        }
      }
      if (input.id !== undefined) {
        if (user.id !== null) this.userIds.delete(user.id)
        user.id = input.id
        if (user.id !== null) this.userIds.set(user.id, user.guid)
      }
      if (input.email !== undefined) user.email = input.email
      if (input.is_disabled !== undefined && input.is_disabled !== null) user.isDisabled = input.is_disabled
      if (input.metadata !== undefined) user.metadata = input.metadata
      return ok(user)
    })
  }

  deleteUser(userGuid: string): Result<void> {
    return Either.map(this.user(userGuid), (user) => {
      for (const memberGuid of user.members) this.members.delete(memberGuid)
      this.users.delete(userGuid)
      if (user.id !== null) this.userIds.delete(user.id)
      this.counters.userDeletes++
    })
  }

  // ---------------------------------------------------------------------------------------------
  // members

  /** A member of a user, advanced to `now`. */
  member(now: number, userGuid: string, memberGuid: string): Result<MemberRec> {
    return Either.flatMap(this.user(userGuid), (user) => {
      const member = user.members.has(memberGuid) ? this.members.get(memberGuid) : undefined
      if (member === undefined) return fail("NotFound", `Member ${memberGuid} was not found.`)
      this.advance(member, now)
      return ok(member)
    })
  }

  /** Any member by guid, advanced to `now`. */
  memberByGuid(now: number, memberGuid: string): MemberRec | undefined {
    const member = this.members.get(memberGuid)
    if (member !== undefined) this.advance(member, now)
    return member
  }

  /** Records a read of a member's status or attributes, for the minimum poll interval. */
  notePoll(now: number, member: MemberRec): void {
    if (member.lastPollAt !== null) this.counters.poll(now - member.lastPollAt)
    member.lastPollAt = now
  }

  createMember(
    now: number,
    userGuid: string,
    input: MemberCreateInput,
    callbackPayload: string | null
  ): Result<{ readonly member: MemberRec; readonly started: boolean }> {
    const userResult = this.user(userGuid)
    if (Either.isLeft(userResult)) return Either.left(userResult.left)
    const user = userResult.right
    const institution = Institutions.find(input.institution_code)
    if (institution === undefined) return fail("NotFound", `Institution ${input.institution_code} was not found.`)
    const given = input.credentials ?? []
    const isOauth = input.is_oauth === true
    if (institution.oauth && !isOauth) {
      return fail("BadRequest", `${institution.name} connects through OAuth: create the member with is_oauth true.`)
    }
    if (!institution.oauth && isOauth) return fail("BadRequest", `${institution.name} does not support OAuth.`)
    if (isOauth && given.length > 0) return fail("BadRequest", "An OAuth member is created without credentials.")
    const values = new Map<string, string>()
    for (const credential of given) {
      const field = institution.credentials.find((f) => f.guid === credential.guid)
      if (field === undefined) {
        return fail("BadRequest", `Credential ${credential.guid} is not a credential of ${institution.code}.`)
      }
      if (values.has(field.guid)) return fail("BadRequest", `Credential ${credential.guid} is given twice.`)
      if (credential.value.length === 0) return fail("BadRequest", `Credential ${credential.guid} has an empty value.`)
      values.set(field.guid, credential.value)
    }
    for (const field of institution.credentials) {
      if (!values.has(field.guid)) {
        return fail("BadRequest", `The credential ${field.label} (${field.guid}) is required.`)
      }
    }
    if (!isOauth && this.duplicateOf(user, institution.code, values, undefined) !== undefined) {
      return fail("Conflict", "A member with these credentials already exists for this user and institution.")
    }
    if (input.id !== undefined && input.id !== null && this.memberWithId(user, input.id, undefined) !== undefined) {
      return fail("Conflict", `A member with id ${input.id} already exists for this user.`)
    }
    const guid = Random.guid("MBR", this.options.seed, this.memberCount++)
    const member: MemberRec = {
      guid,
      userGuid,
      institution,
      createdAt: now,
      id: input.id ?? null,
      metadata: input.metadata ?? null,
      useCases: input.use_cases ?? ["PFM"],
      isOauth,
      oauthWindowUri: null,
      backgroundDisabled: input.background_aggregation_is_disabled ?? false,
      credentials: institution.credentials.map((field, index): MemberCredential => ({
        guid: Random.guid("CRD", this.options.seed, guid, index),
        field,
        value: values.get(field.guid)!
      })),
      callbackPayload,
      status: isOauth ? "PENDING" : "CREATED",
      isBeingAggregated: false,
      isAuthenticated: false,
      hasProcessedAccounts: false,
      hasProcessedAccountNumbers: false,
      hasProcessedTransactions: false,
      aggregatedAt: null,
      successfullyAggregatedAt: null,
      job: null,
      jobCount: 0,
      lastJobGuid: null,
      detailCode: null,
      detailText: null,
      challenges: [],
      deniedStreak: 0,
      lastManualAt: null,
      nextBackgroundAt: now + this.backgroundInterval(guid, 0),
      scheduledAt: undefined,
      accounts: [],
      transactions: [],
      successCount: 0,
      lastPollAt: null
    }
    if (isOauth) member.oauthWindowUri = this.oauthUri(member)
    this.members.set(guid, member)
    user.members.add(guid)
    const start = !isOauth && input.skip_aggregation !== true
    if (start) this.startJob(member, now, "create", "aggregation")
    this.reschedule(member)
    return ok({ member, started: start })
  }

  oauthUri(member: MemberRec): string {
    return `${this.publicUrl}/oauth/authorize?member_guid=${member.guid}`
  }

  updateMember(now: number, userGuid: string, memberGuid: string, input: MemberUpdateInput): Result<MemberRec> {
    const found = this.member(now, userGuid, memberGuid)
    if (Either.isLeft(found)) return found
    const member = found.right
    const user = this.users.get(userGuid)!
    let values: Map<string, string> | undefined
    // An empty credentials list changes nothing, so it does not start an aggregation either.
    if (input.credentials !== undefined && input.credentials.length > 0) {
      if (member.isOauth) return fail("BadRequest", "An OAuth member has no credentials to update.")
      values = new Map(member.credentials.map((c) => [c.field.guid, c.value]))
      const seen = new Set<string>()
      for (const credential of input.credentials) {
        const own = member.credentials.find((c) => c.guid === credential.guid)
        if (own === undefined) {
          return fail(
            "BadRequest",
            `The credential guids submitted are no longer valid: ${credential.guid} is not a credential of this member (list the member's credentials).`
          )
        }
        if (seen.has(own.guid)) return fail("BadRequest", `Credential ${credential.guid} is given twice.`)
        if (credential.value.length === 0) {
          return fail("BadRequest", `Credential ${credential.guid} has an empty value.`)
        }
        seen.add(own.guid)
        values.set(own.field.guid, credential.value)
      }
      if (this.duplicateOf(user, member.institution.code, values, member.guid) !== undefined) {
        return fail("Conflict", "Another member of this user and institution already uses these credentials.")
      }
    }
    if (input.id !== undefined && input.id !== null && this.memberWithId(user, input.id, member.guid) !== undefined) {
      return fail("Conflict", `A member with id ${input.id} already exists for this user.`)
    }
    if (input.id !== undefined) member.id = input.id
    if (input.metadata !== undefined) member.metadata = input.metadata
    if (input.use_cases !== undefined) member.useCases = input.use_cases
    if (input.background_aggregation_is_disabled !== undefined && input.background_aggregation_is_disabled !== null) {
      member.backgroundDisabled = input.background_aggregation_is_disabled
    }
    if (values !== undefined) {
      for (const credential of member.credentials) credential.value = values.get(credential.field.guid)!
      if (input.skip_aggregation !== true) {
        // New credentials replace whatever was running: MX starts over with them.
        member.job = null
        this.startJob(member, now, "credentials", "aggregation")
      }
    }
    this.reschedule(member)
    return ok(member)
  }

  deleteMember(now: number, userGuid: string, memberGuid: string): Result<void> {
    return Either.map(this.member(now, userGuid, memberGuid), (member) => {
      this.members.delete(member.guid)
      this.users.get(userGuid)!.members.delete(member.guid)
      this.counters.memberDeletes++
    })
  }

  private duplicateOf(
    user: UserRec,
    institutionCode: string,
    values: ReadonlyMap<string, string>,
    except: string | undefined
  ): MemberRec | undefined {
    for (const guid of user.members) {
      if (guid === except) continue
      const other = this.members.get(guid)
      if (other === undefined || other.institution.code !== institutionCode || other.isOauth) continue
      if (other.credentials.every((c) => values.get(c.field.guid) === c.value)) return other
    }
    return undefined
  }

  private memberWithId(user: UserRec, id: string, except: string | undefined): MemberRec | undefined {
    for (const guid of user.members) {
      const other = this.members.get(guid)
      if (other !== undefined && other.guid !== except && other.id === id) return other
    }
    return undefined
  }

  // ---------------------------------------------------------------------------------------------
  // jobs

  /**
   * `POST …/aggregate` and the other job endpoints. A job of the same type already running answers
   * without starting another (MX: 202); a different type running is a conflict (409).
   */
  requestJob(
    now: number,
    userGuid: string,
    memberGuid: string,
    type: JobType
  ): Result<{ readonly member: MemberRec; readonly started: boolean }> {
    const found = this.member(now, userGuid, memberGuid)
    if (Either.isLeft(found)) return Either.left(found.left)
    const member = found.right
    const running = member.job
    if (running !== null) {
      if (running.type !== type) {
        this.counters.jobConflicts++
        return fail("Conflict", `A ${running.type} job is already running on this member.`)
      }
      if (type === "aggregation") {
        this.counters.aggregatesWhileRunning++
        if (running.origin === "create" || running.origin === "credentials") this.counters.aggregatesAfterAutomatic++
      }
      return ok({ member, started: false })
    }
    if (member.status === "PENDING") return ok({ member, started: false })
    if (
      type === "aggregation" && member.institution.throttled && member.successfullyAggregatedAt !== null &&
      now - member.successfullyAggregatedAt < this.options.throttleMs
    ) {
      this.counters.aggregatesThrottled++
      return ok({ member, started: false })
    }
    this.startJob(member, now, type === "aggregation" ? "aggregate" : "job", type)
    this.reschedule(member)
    return ok({ member, started: true })
  }

  /** The member's challenges when CHALLENGED, otherwise undefined (MX: 204). */
  challenges(now: number, userGuid: string, memberGuid: string): Result<ReadonlyArray<ChallengeRec> | undefined> {
    return Either.map(
      this.member(now, userGuid, memberGuid),
      (member) => member.status === "CHALLENGED" ? member.challenges : undefined
    )
  }

  /** `PUT …/resume`: answers to the current challenges. 405 when the member is not CHALLENGED. */
  resume(
    now: number,
    userGuid: string,
    memberGuid: string,
    answers: ReadonlyArray<CredentialInput>
  ): Result<MemberRec> {
    const found = this.member(now, userGuid, memberGuid)
    if (Either.isLeft(found)) return found
    const member = found.right
    const job = member.job
    if (member.status !== "CHALLENGED" || job === null || job.phase !== "challenged") {
      return Either.left(this.notChallenged(member))
    }
    const byGuid = new Map(answers.map((answer) => [answer.guid, answer.value]))
    if (byGuid.size !== answers.length) return fail("BadRequest", "A challenge is answered twice.")
    for (const guid of byGuid.keys()) {
      if (!member.challenges.some((challenge) => challenge.guid === guid)) {
        return fail("BadRequest", `Challenge ${guid} is not a current challenge of this member.`)
      }
    }
    const values: Array<string> = []
    for (const challenge of member.challenges) {
      const value = byGuid.get(challenge.guid)
      if (value === undefined) return fail("BadRequest", `Challenge ${challenge.guid} is not answered.`)
      // An option may be answered by its value or by its guid.
      values.push(challenge.options.find((option) => option.guid === value)?.value ?? value)
    }
    job.verdict = MxBank.judge(values)
    job.phase = "resumed"
    job.nextAt = now + this.third()
    member.challenges = []
    this.setStatus(member, "RESUMED")
    this.reschedule(member)
    return ok(member)
  }

  /** The 405 of a resume on a member that is not CHALLENGED (counted). */
  notChallenged(member: MemberRec): SandboxError.SandboxError {
    this.counters.resumesOutsideChallenged++
    return SandboxError.make(
      "NotAllowed",
      `Member ${member.guid} is not CHALLENGED (connection_status ${member.status}).`
    )
  }

  /** Completes (or refuses) an OAuth member's window: a connected member then aggregates. */
  completeOAuth(now: number, memberGuid: string, outcome: "success" | "denied"): Result<MemberRec> {
    const member = this.memberByGuid(now, memberGuid)
    if (member === undefined) return fail("NotFound", `Member ${memberGuid} was not found.`)
    if (!member.isOauth) return fail("BadRequest", `Member ${memberGuid} is not an OAuth member.`)
    if (member.job !== null) return ok(member)
    if (outcome === "denied") {
      this.setStatus(member, "DENIED")
      member.oauthWindowUri = null
    } else {
      member.oauthWindowUri = null
      this.startJob(member, now, "oauth", "aggregation")
    }
    this.reschedule(member)
    return ok(member)
  }

  private third(): number {
    return Math.max(1, Math.round(this.options.aggregationMs / 3))
  }

  private startJob(member: MemberRec, at: number, origin: Origin | "job", type: JobType): void {
    const job: Job = {
      guid: Random.guid("JOB", this.options.seed, member.guid, member.jobCount++),
      type,
      origin,
      startedAt: at,
      behaviour: this.behaviourOf(member, origin),
      phase: type === "aggregation" ? "authenticating" : "finishing",
      nextAt: at + (type === "aggregation" ? this.third() : this.options.aggregationMs),
      round: 0,
      verdict: null
    }
    member.job = job
    member.isBeingAggregated = true
    member.lastJobGuid = job.guid
    if (type !== "aggregation") {
      this.counters.otherJobsStarted++
      return
    }
    this.counters.aggregationStarted(origin)
    member.isAuthenticated = false
    member.hasProcessedAccounts = false
    member.hasProcessedAccountNumbers = false
    member.hasProcessedTransactions = false
    member.aggregatedAt = at
    member.challenges = []
    member.detailCode = null
    member.detailText = null
    if (origin !== "background") member.lastManualAt = at
    // A new or updated member shows CREATED/UPDATED; an existing one keeps its last status while
    // `is_being_aggregated` is true, as in MX's aggregate example (CONNECTED, is_being_aggregated true).
    if (origin === "create" || origin === "oauth" || member.status === null || member.status === "PENDING") {
      this.setStatus(member, "CREATED")
    } else if (origin === "credentials") {
      this.setStatus(member, "UPDATED")
    }
  }

  private behaviourOf(member: MemberRec, origin: Origin | "job"): MxBank.Behaviour {
    // After three DENIED in a row MX stops trying the stored credentials until they are updated.
    if (member.deniedStreak >= 3 && origin !== "credentials") return { _tag: "End", status: "PREVENTED", detail: null }
    if (member.isOauth) return { _tag: "Connect" }
    const value = (fieldName: string) => member.credentials.find((c) => c.field.field_name === fieldName)?.value
    return MxBank.behaviourFor(value("LOGIN"), value("PASSWORD"))
  }

  private challengesFor(job: Job, kind: MxBank.ChallengeKind, round: number): Array<ChallengeRec> {
    const guid = Random.guid("CRD", this.options.seed, job.guid, "challenge", round)
    const option = (label: string, value: string) => ({
      guid: Random.guid("CRO", this.options.seed, guid, value),
      label,
      value
    })
    switch (kind) {
      case "TEXT":
        return [{
          guid,
          type: "TEXT",
          label: questions[round % questions.length]!,
          fieldName: `mfa_question_${round + 1}`,
          imageData: null,
          options: []
        }]
      case "OPTIONS":
        return [{
          guid,
          type: "OPTIONS",
          label: "Which of these is the correct answer?",
          fieldName: `mfa_options_${round + 1}`,
          imageData: null,
          options: [
            option("Correct", MxBank.correctAnswer),
            option("Incorrect", "incorrect"),
            option("Ask another question", MxBank.nextRoundAnswer)
          ]
        }]
      case "IMAGE_DATA":
        return [{
          guid,
          type: "IMAGE_DATA",
          label: "Enter the text shown in the image.",
          fieldName: `mfa_image_${round + 1}`,
          imageData: pixel,
          options: []
        }]
    }
  }

  // ---------------------------------------------------------------------------------------------
  // time

  /** Applies every transition of a member due at or before `now`, in order, at its own time. */
  advance(member: MemberRec, now: number): void {
    for (;;) {
      const job = member.job
      if (job !== null) {
        if (job.nextAt > now) break
        this.step(member, job, job.nextAt)
        continue
      }
      const due = this.backgroundDue(member)
      if (due > now) break
      this.startJob(member, due, "background", "aggregation")
    }
    this.reschedule(member)
  }

  private backgroundDue(member: MemberRec): number {
    if (!this.backgroundEnabled || member.backgroundDisabled || member.isBeingAggregated) return Infinity
    if (member.status === null || !backgroundStatuses.has(member.status)) return Infinity
    if (this.users.get(member.userGuid)?.isDisabled === true) return Infinity
    return Math.max(member.nextBackgroundAt, this.backgroundEnabledAt)
  }

  private backgroundInterval(memberGuid: string, n: number): number {
    const { intervalMs, jitterMs } = this.options.background
    return Math.max(
      1,
      intervalMs + Math.round((Random.rng(this.options.seed, memberGuid, "bg", n)() * 2 - 1) * jitterMs)
    )
  }

  private step(member: MemberRec, job: Job, at: number): void {
    switch (job.phase) {
      case "authenticating":
        return this.judgeCredentials(member, job, at)
      case "challenged":
        return this.finish(member, at, "EXPIRED", null)
      case "resumed": {
        const verdict = job.verdict ?? { _tag: "End", status: "REJECTED", detail: null }
        job.verdict = null
        if (verdict._tag === "Correct") return this.authenticated(member, job, at)
        if (verdict._tag === "NextRound") return this.challenge(member, job, at, job.round + 1)
        return this.finish(member, at, verdict.status, verdict.detail)
      }
      case "delayed":
        return this.authenticated(member, job, at)
      case "accounts":
        member.hasProcessedAccounts = true
        member.hasProcessedAccountNumbers = true
        job.phase = "finishing"
        job.nextAt = at + this.third()
        return
      case "finishing":
        return job.type === "aggregation" ? this.succeed(member, job, at) : this.endOtherJob(member, at)
    }
  }

  private judgeCredentials(member: MemberRec, job: Job, at: number): void {
    const behaviour = job.behaviour
    switch (behaviour._tag) {
      case "Connect":
        return this.authenticated(member, job, at)
      case "Challenge":
        return this.challenge(member, job, at, 0)
      case "Delayed":
        member.isAuthenticated = true
        member.deniedStreak = 0
        job.phase = "delayed"
        job.nextAt = at + this.options.delayedMs
        this.setStatus(member, "DELAYED")
        return
      case "End":
        return this.finish(member, at, behaviour.status, behaviour.detail)
    }
  }

  private authenticated(member: MemberRec, job: Job, at: number): void {
    member.isAuthenticated = true
    member.deniedStreak = 0
    job.phase = "accounts"
    job.nextAt = at + this.third()
    this.setStatus(member, "CONNECTED")
  }

  private challenge(member: MemberRec, job: Job, at: number, round: number): void {
    const kind = job.behaviour._tag === "Challenge" ? job.behaviour.kind : "TEXT"
    job.round = round
    job.phase = "challenged"
    job.nextAt = at + this.options.mfaTimeoutMs
    member.challenges = this.challengesFor(job, kind, round)
    this.setStatus(member, "CHALLENGED")
  }

  private finish(
    member: MemberRec,
    at: number,
    outcome: ConnectionStatus.ConnectionStatus,
    detail: string | null
  ): void {
    let status = outcome
    if (outcome === "DENIED" || outcome === "PREVENTED") {
      if (outcome === "DENIED") member.deniedStreak++
      if (member.deniedStreak >= 3) status = "PREVENTED"
    } else {
      member.deniedStreak = 0
    }
    member.job = null
    member.isBeingAggregated = false
    member.challenges = []
    member.detailText = detail
    member.detailCode = detail === null ? null : 1000
    this.setStatus(member, status)
    this.planBackground(member, at)
  }

  private succeed(member: MemberRec, job: Job, at: number): void {
    const { data, seed } = this.options
    if (member.accounts.length === 0) member.accounts = Data.generateAccounts(seed, member.guid, at)
    const from = member.successfullyAggregatedAt ?? at - data.historyDays * dayMs
    const created = Data.generateTransactions({
      seed,
      memberGuid: member.guid,
      ordinal: member.successCount,
      accounts: member.accounts,
      from,
      now: at,
      perDay: data.transactionsPerDay
    })
    let updated = 0
    for (const tx of member.transactions) {
      if (tx.status === "PENDING" && at - tx.transactedAt >= 2 * dayMs) {
        tx.status = "POSTED"
        tx.postedAt = at
        tx.updatedAt = at
        updated++
      }
    }
    const accounts = new Map(member.accounts.map((account) => [account.guid, account]))
    for (const tx of created) {
      const account = accounts.get(tx.accountGuid)!
      account.balance = Math.round((account.balance + Data.balanceDelta(account, tx)) * 100) / 100
    }
    for (const account of member.accounts) account.updatedAt = at
    member.transactions.push(...created)
    member.transactions.sort((a, b) => b.transactedAt - a.transactedAt || (a.guid < b.guid ? -1 : 1))
    member.successCount++
    member.successfullyAggregatedAt = at
    member.hasProcessedTransactions = true
    member.job = null
    member.isBeingAggregated = false
    this.setStatus(member, "CONNECTED")
    this.planBackground(member, at)
    const user = this.users.get(member.userGuid)
    this.hooks.webhook({
      action: "member_data_updated",
      completed_at: Math.floor(at / 1000),
      completed_on: Data.isoDate(at),
      is_background: job.origin === "background",
      job_guid: job.guid,
      member_guid: member.guid,
      transactions_created_count: created.length,
      transactions_updated_count: updated,
      type: "AGGREGATION",
      user_guid: member.userGuid,
      user_id: user?.id ?? null
    })
  }

  private endOtherJob(member: MemberRec, at: number): void {
    member.job = null
    member.isBeingAggregated = false
    this.planBackground(member, at)
  }

  private planBackground(member: MemberRec, at: number): void {
    const next = at + this.backgroundInterval(member.guid, member.jobCount)
    member.nextBackgroundAt = member.lastManualAt === null
      ? next
      : Math.max(next, member.lastManualAt + this.options.background.suppressMs)
  }

  private setStatus(member: MemberRec, status: ConnectionStatus.ConnectionStatus): void {
    member.status = status
    if (ConnectionStatus.webhookStatuses.has(status)) {
      this.hooks.webhook({
        action: "CHANGED",
        connection_status: status,
        connection_status_id: ConnectionStatus.toId(status),
        connection_status_message: statusMessage(status, member.institution.name) ?? "",
        member_guid: member.guid,
        type: "CONNECTION_STATUS",
        user_guid: member.userGuid
      })
    }
  }

  private reschedule(member: MemberRec): void {
    const due = Math.min(member.job?.nextAt ?? Infinity, this.backgroundDue(member))
    if (due === Infinity || due === member.scheduledAt) return
    member.scheduledAt = due
    this.heap.push(due, member.guid)
    this.hooks.scheduled(due)
  }

  /** Advances every member with a transition due at or before `now`. */
  runDue(now: number): void {
    for (;;) {
      const next = this.heap.peek()
      if (next === undefined || next > now) return
      const [at, guid] = this.heap.pop()!
      const member = this.members.get(guid)
      if (member === undefined || member.scheduledAt !== at) continue
      member.scheduledAt = undefined
      this.advance(member, now)
    }
  }

  /** MX time of the earliest scheduled transition. */
  nextDue(): number | undefined {
    return this.heap.peek()
  }

  setBackground(now: number, enabled: boolean): void {
    if (enabled && !this.backgroundEnabled) this.backgroundEnabledAt = now
    this.backgroundEnabled = enabled
    if (enabled) { for (const member of this.members.values()) this.reschedule(member) }
  }
}

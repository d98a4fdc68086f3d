import { assert, describe, layer } from "@effect/vitest"
import { ConnectionStatus, Member } from "@mx-aggregation/domain"
import { Clock, Effect, Option, Schema, TestClock } from "effect"
import { PendingChallenges, TestDatabase, TrackedMembers } from "../src/index.js"
import { memberGuid, runId, storeLayer, userGuid } from "./fixtures.js"

const mustGet = (guid: ReturnType<typeof memberGuid>) =>
  Effect.flatMap(TrackedMembers.TrackedMembers, (members) => members.get(guid)).pipe(Effect.map(Option.getOrThrow))

describe.each(TestDatabase.kinds)("TrackedMembers on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("tracks a new member due at once, with nothing observed yet", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const member = yield* members.track({ memberGuid: memberGuid("new"), userGuid: userGuid(1) })
        assert.strictEqual(member.memberGuid, "MBR-new")
        assert.strictEqual(member.userGuid, "USR-1")
        assert.strictEqual(member.tracked, true)
        assert.strictEqual(member.nextDueAt, 0) // TestClock's now
        assert.strictEqual(member.status, null)
        assert.strictEqual(member.statusClass, null)
        assert.strictEqual(member.activeRunId, null)
        assert.strictEqual(member.needsUser, false)
        assert.strictEqual(member.consecutiveFailures, 0)
        assert.deepStrictEqual(yield* members.get(memberGuid("unknown")), Option.none())
      }))

    it.effect("tracking a known member keeps its schedule unless a due time is given; untrack hides it", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("retrack")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1), nextDueAt: 5_000 })
        const again = yield* members.track({
          memberGuid: guid,
          userGuid: userGuid(1),
          institutionCode: "mxbank" as never
        })
        assert.strictEqual(again.nextDueAt, 5_000)
        assert.strictEqual(again.institutionCode, "mxbank")
        // A re-track without an institution keeps the known one.
        const third = yield* members.track({ memberGuid: guid, userGuid: userGuid(1), nextDueAt: 9_000 })
        assert.strictEqual(third.nextDueAt, 9_000)
        assert.strictEqual(third.institutionCode, "mxbank")

        assert.isTrue(yield* members.untrack(guid))
        assert.isFalse(yield* members.untrack(memberGuid("never-tracked")))
        assert.strictEqual((yield* mustGet(guid)).tracked, false)
        const visible = yield* members.list({ userGuid: userGuid(1) })
        assert.isFalse(visible.some((m) => m.memberGuid === guid))
        const all = yield* members.list({ userGuid: userGuid(1), tracked: "all" })
        assert.isTrue(all.some((m) => m.memberGuid === guid))
        assert.deepStrictEqual(
          yield* members.listDue(1_000_000, 100).pipe(
            Effect.map((due) => due.map((m) => m.memberGuid).filter((g) => g === guid))
          ),
          []
        )
        assert.isFalse(yield* members.claim(guid, runId("untracked")))

        const back = yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        assert.strictEqual(back.tracked, true)
        assert.strictEqual(back.nextDueAt, 9_000)
      }))

    it.effect("listDue returns tracked, idle members due by now, earliest first, up to the limit", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const user = userGuid("due")
        const at = (n: number) => 1_000_000 + n
        yield* members.trackMany([
          { memberGuid: memberGuid("due-3"), userGuid: user, nextDueAt: at(3) },
          { memberGuid: memberGuid("due-1"), userGuid: user, nextDueAt: at(1) },
          { memberGuid: memberGuid("due-2"), userGuid: user, nextDueAt: at(2) },
          { memberGuid: memberGuid("due-busy"), userGuid: user, nextDueAt: at(0) },
          { memberGuid: memberGuid("due-later"), userGuid: user, nextDueAt: at(100) },
          { memberGuid: memberGuid("due-never"), userGuid: user, nextDueAt: null }
        ])
        assert.isTrue(yield* members.claim(memberGuid("due-busy"), runId("busy")))
        const mine = (due: ReadonlyArray<TrackedMembers.TrackedMember>) =>
          due.map((m) => m.memberGuid).filter((g) => g.startsWith("MBR-due-"))

        // Other tests' members are due at 0; skip them by looking from a window that starts after.
        const due = yield* members.listDue(at(50), 1_000)
        assert.deepStrictEqual(mine(due), ["MBR-due-1", "MBR-due-2", "MBR-due-3"])
        const dueAll = yield* members.listDue(at(100), 1_000)
        assert.deepStrictEqual(mine(dueAll), ["MBR-due-1", "MBR-due-2", "MBR-due-3", "MBR-due-later"])
        const limited = yield* members.listDue(at(50), 2)
        assert.strictEqual(limited.length, 2)
        assert.isTrue(limited.every((m) => m.nextDueAt !== null && m.nextDueAt <= at(50)))

        assert.isTrue(yield* members.setNextDue(memberGuid("due-2"), null))
        assert.deepStrictEqual(mine(yield* members.listDue(at(50), 1_000)), ["MBR-due-1", "MBR-due-3"])
        assert.isFalse(yield* members.setNextDue(memberGuid("nobody"), 1))
      }))

    it.effect("claim holds a member for one run; the same run may claim again; release frees it", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("claim")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })

        assert.isTrue(yield* members.claim(guid, runId("a")))
        assert.isFalse(yield* members.claim(guid, runId("b")))
        assert.isTrue(yield* members.claim(guid, runId("a")), "a retried activity claims again")
        const held = yield* mustGet(guid)
        assert.strictEqual(held.activeRunId, "RUN-a")
        assert.isNotNull(held.claimedAt)
        assert.deepStrictEqual((yield* members.listActive).map((m) => m.memberGuid).filter((g) => g === guid), [guid])

        assert.isFalse(yield* members.release(guid, runId("b")), "only the holder releases")
        assert.strictEqual((yield* mustGet(guid)).activeRunId, "RUN-a")
        assert.isTrue(yield* members.release(guid, runId("a")))
        assert.isFalse(yield* members.release(guid, runId("a")))
        assert.strictEqual((yield* mustGet(guid)).activeRunId, null)
        assert.isTrue(yield* members.claim(guid, runId("b")))
        assert.isFalse(yield* members.claim(memberGuid("claim-unknown"), runId("a")))
      }))

    it.effect("of many concurrent claims with different runs exactly one wins", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        for (let round = 0; round < 5; round++) {
          const guid = memberGuid(`race-${round}`)
          yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
          const results = yield* Effect.all(
            Array.from({ length: 20 }, (_, i) => members.claim(guid, runId(`race-${round}-${i}`))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter(Boolean).length, 1)
          const winner = results.indexOf(true)
          assert.strictEqual((yield* mustGet(guid)).activeRunId, `RUN-race-${round}-${winner}`)
        }
      }))

    it.effect("a credential update holds the member: one of concurrent callers, no run meanwhile, then its run", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        for (let round = 0; round < 3; round++) {
          const guid = memberGuid(`credentials-race-${round}`)
          yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
          const owners = Array.from({ length: 12 }, (_, i) => `update-${round}-${i}`)
          const results = yield* Effect.all(
            owners.map((owner) => members.claimCredentialUpdate(guid, owner, 60_000)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter(Boolean).length, 1, "exactly one update holds the member")
          const winner = owners[results.indexOf(true)]!
          const held = yield* mustGet(guid)
          assert.strictEqual(held.credentialUpdateBy, winner)
          assert.strictEqual(held.credentialUpdateExpiresAt, 60_000)
          assert.isTrue(yield* members.claimCredentialUpdate(guid, winner, 90_000), "the holder extends its claim")
          assert.isFalse(yield* members.claim(guid, runId(`scheduled-${round}`)), "no run while it is held")
          assert.isTrue(yield* members.claim(guid, runId(`follow-${round}`), { credentialUpdate: winner }))
          const following = yield* mustGet(guid)
          assert.strictEqual(following.activeRunId, `RUN-follow-${round}`)
          assert.strictEqual(following.credentialUpdateBy, null, "the claim passed to the run")
          assert.isFalse(yield* members.claimCredentialUpdate(guid, "late", 90_000), "not while a run is active")
          assert.isTrue(yield* members.release(guid, runId(`follow-${round}`)))
        }
      }))

    it.effect("a credential-update claim lapses at its expiry, and only its owner releases it", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("credentials-lapse")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        const start = yield* Clock.currentTimeMillis
        assert.isTrue(yield* members.claimCredentialUpdate(guid, "died", start + 1_000))
        assert.isFalse(yield* members.claimCredentialUpdate(guid, "next", start + 5_000))
        yield* TestClock.adjust("1 second")
        assert.isTrue(yield* members.claimCredentialUpdate(guid, "next", start + 5_000), "a lapsed claim is taken over")
        assert.isFalse(yield* members.releaseCredentialUpdate(guid, "died"))
        assert.isTrue(yield* members.releaseCredentialUpdate(guid, "next"))
        assert.strictEqual((yield* mustGet(guid)).credentialUpdateBy, null)
        assert.isTrue(yield* members.claimCredentialUpdate(guid, "died", start + 2_000))
        yield* TestClock.adjust("1 second")
        assert.isTrue(yield* members.claim(guid, runId("after-lapse")), "a lapsed claim keeps no run out")
        assert.strictEqual((yield* mustGet(guid)).credentialUpdateBy, null)
        assert.isFalse(yield* members.claimCredentialUpdate(memberGuid("credentials-unknown"), "x", start + 9_000))
      }))

    it.effect("a submission of MFA answers with an unknown outcome keeps a new run out until it is answered or lapses", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const pending = yield* PendingChallenges.PendingChallenges
        const guid = memberGuid("submission-claim")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        assert.isTrue(yield* members.claim(guid, runId("challenged")))
        const round = yield* pending.add({
          memberGuid: guid,
          runId: runId("challenged"),
          challenges: Schema.decodeUnknownSync(Schema.Array(Member.Challenge))([
            { guid: "CRD-1", type: "TEXT", label: "Code?" }
          ])
        })
        const start = yield* Clock.currentTimeMillis
        assert.isTrue(yield* pending.claim({ id: round.id, owner: "answers", expiresAt: start + 1_000 }))
        assert.isTrue(yield* members.claim(guid, runId("challenged")), "the round's own run keeps the member")
        // The run ends (its round cancelled) while the answers may be on their way to MX.
        assert.isTrue(
          yield* pending.resolve({ memberGuid: guid, runId: runId("challenged"), resolution: "cancelled" })
        )
        assert.isTrue(yield* members.release(guid, runId("challenged")))
        assert.isFalse(yield* members.claim(guid, runId("next")), "no new run beside the submission")
        yield* TestClock.adjust("1 second")
        assert.isTrue(yield* members.claim(guid, runId("next")), "once the submission's claim lapsed")
        assert.isTrue(yield* members.release(guid, runId("next")))

        // A round closed as answered: its submission is over, whatever its claim says.
        assert.isTrue(yield* members.claim(guid, runId("answered")))
        const answered = yield* pending.add({ memberGuid: guid, runId: runId("answered"), challenges: [] })
        const now = yield* Clock.currentTimeMillis
        assert.isTrue(yield* pending.claim({ id: answered.id, owner: "answers", expiresAt: now + 60_000 }))
        assert.isTrue(yield* pending.resolve({ memberGuid: guid, runId: runId("answered"), resolution: "answered" }))
        assert.isTrue(yield* members.release(guid, runId("answered")))
        assert.isTrue(yield* members.claim(guid, runId("after-answer")))
      }))

    it.effect("reads are recorded, a release counts as its run's last read, and a claim can wait for the spacing", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("reads")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        assert.strictEqual((yield* mustGet(guid)).lastReadAt, null)
        assert.isTrue(yield* members.recordRead(guid, 5_000))
        assert.isTrue(yield* members.recordRead(guid, 4_000))
        assert.strictEqual((yield* mustGet(guid)).lastReadAt, 5_000, "an older read changes nothing")
        assert.isFalse(yield* members.claim(guid, runId("early"), { lastReadBefore: 4_999 }))
        assert.isTrue(yield* members.claim(guid, runId("spaced"), { lastReadBefore: 5_000 }))
        yield* TestClock.adjust("7 seconds")
        assert.isTrue(yield* members.release(guid, runId("spaced")))
        assert.strictEqual((yield* mustGet(guid)).lastReadAt, Math.max(5_000, yield* Clock.currentTimeMillis))
        assert.isFalse(yield* members.recordRead(memberGuid("reads-unknown"), 1))
      }))

    it.effect("records observations with their class, keeping the last known successful aggregation", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("observe")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        assert.isTrue(
          yield* members.recordObservation({
            memberGuid: guid,
            status: "CONNECTED",
            isBeingAggregated: false,
            successfullyAggregatedAt: 1_700_000_000_000,
            observedAt: 1_700_000_001_000
          })
        )
        let member = yield* mustGet(guid)
        assert.strictEqual(member.status, "CONNECTED")
        assert.strictEqual(member.statusClass, "Connected")
        assert.strictEqual(member.successfullyAggregatedAt, 1_700_000_000_000)
        assert.strictEqual(member.observedAt, 1_700_000_001_000)

        yield* members.recordObservation({ memberGuid: guid, status: "CHALLENGED", isBeingAggregated: true })
        member = yield* mustGet(guid)
        assert.strictEqual(member.statusClass, "Challenged")
        assert.strictEqual(member.isBeingAggregated, true)
        assert.strictEqual(member.successfullyAggregatedAt, 1_700_000_000_000)

        yield* members.recordObservation({ memberGuid: guid, status: null })
        member = yield* mustGet(guid)
        assert.strictEqual(member.status, null)
        assert.strictEqual(member.statusClass, "NotAggregating")
        assert.isFalse(yield* members.recordObservation({ memberGuid: memberGuid("ghost"), status: "DENIED" }))
      }))

    it.effect("keeps a status it does not know as MX's text, and an unknown is_being_aggregated as aggregating", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("observe-unknown")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        const unknown = ConnectionStatus.UnknownStatus.make("RECONNECTING")
        assert.isTrue(yield* members.recordObservation({ memberGuid: guid, status: unknown, isBeingAggregated: null }))
        let member = yield* mustGet(guid)
        assert.strictEqual(member.status, "RECONNECTING")
        assert.isFalse(member.status !== null && ConnectionStatus.isKnown(member.status))
        assert.strictEqual(member.statusClass, "Unknown")
        assert.isTrue(member.isBeingAggregated)
        assert.lengthOf(yield* members.list({ statusClass: "Unknown" }), 1)

        yield* members.recordObservation({ memberGuid: guid, status: "CONNECTED", isBeingAggregated: false })
        member = yield* mustGet(guid)
        assert.strictEqual(member.status, "CONNECTED")
        assert.isTrue(member.status !== null && ConnectionStatus.isKnown(member.status))
        assert.isFalse(member.isBeingAggregated)
      }))

    it.effect("records outcomes: next action, what the user must do, and failures in a row for backoff", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const guid = memberGuid("outcome")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        const retry = { memberGuid: guid, nextAction: "RetryLater", userAction: null, needsUserReason: null }
        const first = yield* members.recordOutcome({ ...retry, nextDueAt: 10, failed: true })
        assert.strictEqual(Option.getOrThrow(first).consecutiveFailures, 1)
        const second = yield* members.recordOutcome({ ...retry, nextDueAt: 20, failed: true })
        assert.strictEqual(Option.getOrThrow(second).consecutiveFailures, 2)
        assert.strictEqual(Option.getOrThrow(second).nextDueAt, 20)

        const denied = Option.getOrThrow(
          yield* members.recordOutcome({
            memberGuid: guid,
            nextAction: "UpdateCredentials",
            userAction: "Enter new credentials",
            needsUserReason: "credentials_required",
            nextDueAt: null,
            failed: false
          })
        )
        assert.strictEqual(denied.consecutiveFailures, 0)
        assert.strictEqual(denied.needsUser, true)
        assert.strictEqual(denied.needsUserReason, "credentials_required")
        assert.strictEqual(denied.nextAction, "UpdateCredentials")
        assert.strictEqual(denied.userAction, "Enter new credentials")
        assert.strictEqual(denied.nextDueAt, null)
        const needing = yield* members.list({ needsUser: true })
        assert.isTrue(needing.some((m) => m.memberGuid === guid))
        assert.deepStrictEqual(
          yield* members.recordOutcome({ ...retry, memberGuid: memberGuid("ghost"), nextDueAt: 1, failed: true }),
          Option.none()
        )
      }))

    it.effect("lists by user and status class, and counts per class", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const user = userGuid("classes")
        const statuses = ["CONNECTED", "CONNECTED", "DENIED", "LOCKED"] as const
        for (const [i, status] of statuses.entries()) {
          yield* members.track({ memberGuid: memberGuid(`class-${i}`), userGuid: user })
          yield* members.recordObservation({ memberGuid: memberGuid(`class-${i}`), status })
        }
        const byUser = yield* members.list({ userGuid: user })
        assert.deepStrictEqual(byUser.map((m) => m.memberGuid), [
          "MBR-class-0",
          "MBR-class-1",
          "MBR-class-2",
          "MBR-class-3"
        ])
        const connected = yield* members.list({ userGuid: user, statusClass: "Connected" })
        assert.deepStrictEqual(connected.map((m) => m.memberGuid), ["MBR-class-0", "MBR-class-1"])
        const page = yield* members.list({ userGuid: user, limit: 2, offset: 1 })
        assert.deepStrictEqual(page.map((m) => m.memberGuid), ["MBR-class-1", "MBR-class-2"])

        const counts = yield* members.countByStatusClass
        const count = (cls: string) => counts.find((c) => c.statusClass === cls)?.count ?? 0
        assert.isAtLeast(count("Connected"), 2)
        assert.isAtLeast(count("CredentialsRequired"), 1)
        assert.isAtLeast(count("InstitutionActionRequired"), 1)
        assert.isTrue(counts.every((c) => typeof c.count === "number"))
      }))
  })

  // A database of its own, so the counts are exact.
  layer(storeLayer(kind))((it) => {
    it.effect("countDue and countActive count what listDue and listActive list, as plain numbers", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        assert.strictEqual(yield* members.countDue(1_000_000), 0)
        assert.strictEqual(yield* members.countActive, 0)
        const guids = Array.from({ length: 9 }, (_, i) => memberGuid(`count-${i}`))
        // Due at 0..800 in steps of 100.
        yield* members.trackMany(
          guids.map((g, i) => ({ memberGuid: g, userGuid: userGuid("count"), nextDueAt: i * 100 }))
        )
        yield* members.setNextDue(guids[8]!, null) // not scheduled
        yield* members.untrack(guids[7]!) // untracked
        yield* members.claim(guids[0]!, runId("count-0")) // due but running
        yield* members.claim(guids[6]!, runId("count-6")) // running
        const agree = (now: number) =>
          Effect.gen(function*() {
            const due = yield* members.countDue(now)
            assert.strictEqual(typeof due, "number")
            assert.strictEqual(due, (yield* members.listDue(now, 1_000_000)).length, `due at ${now}`)
            return due
          })
        assert.strictEqual(yield* agree(-1), 0)
        assert.strictEqual(yield* agree(250), 2, "due at 100 and 200; 0 is running")
        assert.strictEqual(yield* agree(1_000_000), 5, "1..5: 6 runs, 7 is untracked, 8 is unscheduled")
        const active = yield* members.countActive
        assert.strictEqual(typeof active, "number")
        assert.strictEqual(active, 2)
        assert.strictEqual(active, (yield* members.listActive).length)
        yield* members.release(guids[0]!, runId("count-0"))
        assert.strictEqual(yield* members.countActive, 1)
        assert.strictEqual(yield* agree(1_000_000), 6, "released: due again")
      }))
  })

  // A database of its own, so the counts are exact.
  layer(storeLayer(kind))((it) => {
    it.effect("tracks 10,000 members in bulk and finds the due ones, earliest first", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const n = 10_000
        const inputs = Array.from({ length: n }, (_, i) => ({
          memberGuid: memberGuid(`bulk-${String(i).padStart(5, "0")}`),
          userGuid: userGuid(`bulk-${i % 100}`),
          nextDueAt: i
        }))
        // A duplicate inside one batch: the last one wins (PostgreSQL refuses to upsert a row twice in one statement).
        yield* members.trackMany([...inputs, { ...inputs[0]!, nextDueAt: n + 1 }])
        const all = yield* members.list({ limit: n + 10 })
        assert.strictEqual(all.length, n)
        assert.strictEqual(all[0]!.nextDueAt, n + 1)

        // How fast is measured by bench/scale: a time bound has no place in a test that must hold under load.
        const due = yield* members.listDue(n / 2, 100)
        assert.strictEqual(due.length, 100)
        assert.deepStrictEqual(due.map((m) => m.nextDueAt), Array.from({ length: 100 }, (_, i) => i + 1))
        const counts = yield* members.countByStatusClass
        assert.deepStrictEqual(counts.map((c) => ({ ...c })), [{ statusClass: null, count: n }])
      }), 60_000)
  })
})

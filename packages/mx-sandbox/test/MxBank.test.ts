import { afterAll, assert, describe, it } from "@effect/vitest"
import { ConnectionStatus } from "@mx-aggregation/domain"
import { Effect, TestClock } from "effect"
import { MxBank } from "../src/index.js"
import {
  createMember,
  createUser,
  makeRecorder,
  mxbankCredentials,
  post,
  put,
  sandboxLayer,
  status
} from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

/** Long enough for any MX Bank outcome, DELAYED included (30 minutes by default), within the MFA timeout. */
const settle = TestClock.adjust("31 minutes")

describe("MX Bank passwords", () => {
  it.effect("every password in the table reaches its documented status", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const rows = [{ password: "password", outcome: "CONNECTED" }, ...MxBank.passwords]
      const members: Array<{ password: string; outcome: string; guid: string }> = []
      for (const row of rows) {
        const created = yield* createMember(userGuid, row.password)
        assert.strictEqual(created.status, 202, row.password)
        members.push({ ...row, guid: created.body.member.guid })
      }
      // Statuses seen on the way (DELAYED shows while the member is still aggregating).
      yield* TestClock.adjust("10 seconds")
      const seen = new Set<string>()
      for (const member of members) seen.add((yield* status(userGuid, member.guid)).connection_status)
      assert.isTrue(seen.has("DELAYED"))
      yield* settle
      for (const member of members) {
        const observed = yield* status(userGuid, member.guid)
        assert.strictEqual(observed.connection_status, member.outcome, `password ${member.password}`)
        const settled = member.outcome === "CHALLENGED" || !observed.is_being_aggregated
        assert.isTrue(settled, `password ${member.password} still aggregating`)
      }
      // Every status the domain classifies, except those reached otherwise (MFA answers, time, OAuth),
      // has a password.
      const reached = new Set([...seen, ...members.map((member) => member.outcome)])
      const otherwise = new Set([
        "CREATED",
        "UPDATED",
        "RESUMED",
        "RECONNECTED",
        "REJECTED",
        "EXPIRED",
        "PENDING",
        "PREVENTED"
      ])
      for (const name of ConnectionStatus.names) {
        if (!otherwise.has(name)) assert.isTrue(reached.has(name), `no password reaches ${name}`)
      }
    }).pipe(Effect.provide(sandboxLayer(recorder, { mfaTimeout: "1 hour" }))))

  it.effect("a username other than mxuser is DENIED", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const created = yield* post(`/users/${userGuid}/members`, {
        member: { institution_code: "mxbank", credentials: mxbankCredentials("password", "someone") }
      })
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status(userGuid, created.body.member.guid)).connection_status, "DENIED")
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it.effect("an MFA answer that is a status password ends in that status", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const locked = (yield* createMember(userGuid, "challenge")).body.member.guid
      yield* TestClock.adjust("10 seconds")
      const challenge = (yield* status(userGuid, locked)).challenges[0]
      yield* put(`/users/${userGuid}/members/${locked}/resume`, {
        member: { challenges: [{ guid: challenge.guid, value: "LOCKED" }] }
      })
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status(userGuid, locked)).connection_status, "LOCKED")
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it("judges MFA answers: correct, another round, a status password, anything else REJECTED", () => {
    assert.deepStrictEqual(MxBank.judge(["correct"]), { _tag: "Correct" })
    assert.deepStrictEqual(MxBank.judge(["challenge"]), { _tag: "NextRound" })
    assert.deepStrictEqual(MxBank.judge(["correct", "challenge"]), { _tag: "NextRound" })
    assert.deepStrictEqual(MxBank.judge(["UNAUTHORIZED"]), { _tag: "End", status: "DENIED", detail: null })
    assert.deepInclude(MxBank.judge(["nope"]), { _tag: "End", status: "REJECTED" })
    assert.deepInclude(MxBank.judge(["correct", "nope"]), { _tag: "End", status: "REJECTED" })
  })
})

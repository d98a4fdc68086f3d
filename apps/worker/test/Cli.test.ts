/**
 * The `mx-aggregation` CLI, run in-process against an embedded worker (engine + control API on a
 * fresh SQLite database) and a time-scaled sandbox served on 127.0.0.1: every command, its table and
 * JSON output, secrets never printed, and invalid arguments answered with one line on standard error
 * and a non-zero exit code (also checked on the real bin in a child process). Secrets (credentials,
 * MFA answers) come as JSON on standard input (`--stdin`, also through the real bin with a pipe) or
 * from prompts on a simulated terminal fed keystrokes; never from arguments.
 */
import { HttpClient, HttpServer, Terminal } from "@effect/platform"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import type { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { MxBank, Sandbox } from "@mx-aggregation/mx-sandbox"
import { TestDatabase } from "@mx-aggregation/store"
import { ConfigProvider, Console, Duration, Effect, Fiber, Layer, Mailbox, Option, Redacted, Schedule } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { fileURLToPath } from "node:url"
import * as Aggregations from "../src/Aggregations.js"
import * as Cli from "../src/cli/Cli.js"
import * as StandardInput from "../src/cli/StandardInput.js"
import * as EngineConfig from "../src/EngineConfig.js"
import * as Worker from "../src/Worker.js"

const token = "cli-test-token-0123456789"
const timeScale = 100

/** Sandbox + worker (no scheduler: the CLI starts runs) + the CLI's platform services. */
const Env = Layer.unwrapEffect(Effect.gen(function*() {
  const { url } = yield* Sandbox.SandboxServer
  const mx = yield* Sandbox.Sandbox
  const now = yield* mx.now
  return Worker.layer({ users: [], api: { token: Redacted.make(token), port: 0, host: "127.0.0.1" }, scheduler: false })
    .pipe(
      Layer.provide(MxClient.layer({
        baseUrl: url,
        clientId: mx.credentials.clientId,
        apiKey: mx.credentials.apiKey,
        requestsPerSecond: 200,
        maxConcurrency: 20
      })),
      // An MFA window a loaded machine still meets (4 minutes of MX time is a few seconds here).
      Layer.provide(EngineConfig.layer({ timeScale, mxAnchor: now.getTime(), mfaTimeout: Duration.hours(1) })),
      Layer.provide(TestDatabase.layer("sqlite"))
    )
})).pipe(
  Layer.provideMerge(Sandbox.layerServer({
    port: 0,
    timeScale,
    seed: "cli",
    aggregationDuration: "30 seconds",
    mfaTimeout: "2 hours",
    background: { enabled: false }
  })),
  Layer.provideMerge(NodeHttpClient.layerUndici),
  Layer.provideMerge(NodeContext.layer)
)

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Lines written so far by a command, readable while it runs. */
interface Captured {
  readonly out: Array<string>
  readonly err: Array<string>
}

const capturing = (captured: Captured) =>
  Effect.map(Console.consoleWith(Effect.succeed), (base): Console.Console => ({
    ...base,
    log: (...args) => Effect.sync(() => void captured.out.push(args.map(String).join(" "))),
    error: (...args) => Effect.sync(() => void captured.err.push(args.map(String).join(" ")))
  }))

/** The control API's URL. */
const apiUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
)

/** Standard input that is piped (not a terminal) and holds `text`. */
const piped = (text: string): StandardInput.Service => ({
  isTerminal: Effect.succeed(false),
  readAll: Effect.succeed(text)
})

/** What a command reads: standard input (default: an empty pipe) and, for prompts, the terminal. */
interface Io {
  readonly input?: StandardInput.Service | undefined
  readonly terminal?: Terminal.Terminal | undefined
}

/** Runs `mx-aggregation <args>` with the given environment; `WORKER_URL`/`WORKER_API_TOKEN` point at the test worker. */
const runIn = (env: Record<string, string>, captured: Captured, args: ReadonlyArray<string>, io: Io = {}) =>
  Effect.gen(function*() {
    const console = yield* capturing(captured)
    const program = Cli.main(["node", "mx-aggregation", ...args]).pipe(
      Console.withConsole(console),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provideService(StandardInput.StandardInput, io.input ?? piped(""))
    )
    return yield* io.terminal === undefined ? program : Effect.provideService(program, Terminal.Terminal, io.terminal)
  })

const cliWith = (env: Record<string, string>, io: Io = {}) => (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const captured: Captured = { out: [], err: [] }
    const code = yield* runIn(env, captured, args, io)
    return { code, stdout: captured.out.join("\n"), stderr: captured.err.join("\n") } satisfies Result
  })

/** `mx-aggregation <args>` against the test worker. */
const cli = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(apiUrl, (url) => cliWith({ WORKER_URL: url, WORKER_API_TOKEN: token })(...args))

/** `mx-aggregation <args>` against the test worker, with `io` for standard input and the terminal. */
const cliIo = (io: Io) => (...args: ReadonlyArray<string>) =>
  Effect.flatMap(apiUrl, (url) => cliWith({ WORKER_URL: url, WORKER_API_TOKEN: token }, io)(...args))

/** `mx-aggregation <args>` with `json` piped to its standard input. */
const cliStdin = (json: unknown, ...args: ReadonlyArray<string>) =>
  cliIo({ input: piped(typeof json === "string" ? json : JSON.stringify(json)) })(...args)

const key = (name: string, input?: string): Terminal.UserInput => ({
  input: Option.fromNullable(input),
  key: { name, ctrl: false, meta: false, shift: false }
})

/** The keystrokes of typing `text` and pressing Enter. */
const typed = (text: string): ReadonlyArray<Terminal.UserInput> => [
  ...[...text].map((char) => key(char.toLowerCase(), char)),
  key("return")
]

/** Ctrl-C, after which a terminal delivers no more keys. */
const ctrlC: Terminal.UserInput = { input: Option.none(), key: { name: "c", ctrl: true, meta: false, shift: false } }

/**
 * A terminal a person types on: each prompt reads the next batch of keystrokes (`answers`, in order);
 * everything drawn is kept in `frames`. A prompt beyond the answers sees Ctrl-C.
 */
const simulatedTerminal = (answers: Array<ReadonlyArray<Terminal.UserInput>>) => {
  const frames: Array<string> = []
  const terminal = Terminal.Terminal.of({
    columns: Effect.succeed(100),
    rows: Effect.succeed(40),
    isTTY: Effect.succeed(true),
    readInput: Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<Terminal.UserInput>()
      const keys = answers.shift()
      if (keys === undefined) {
        yield* mailbox.offer(ctrlC)
        yield* mailbox.end
      } else yield* mailbox.offerAll(keys)
      return mailbox
    }),
    readLine: Effect.fail(new Terminal.QuitException()),
    display: (text) => Effect.sync(() => void frames.push(text))
  })
  return { terminal, frames, input: { isTerminal: Effect.succeed(true), readAll: Effect.succeed("") } }
}

const ok = (result: Result, label: string) => {
  assert.strictEqual(result.code, 0, `${label}: ${result.stderr}`)
  assert.strictEqual(result.stderr, "", label)
  return result.stdout
}

const json = (result: Result, label: string): any => JSON.parse(ok(result, label))

/** A failure: the exit code, and exactly one line on standard error, nothing on standard output. */
const failsWith = (result: Result, code: number, text: string, label: string) => {
  assert.strictEqual(result.code, code, `${label}: ${result.stderr}`)
  assert.strictEqual(result.stdout, "", label)
  const lines = result.stderr.split("\n").filter((line) => line.trim() !== "")
  assert.strictEqual(lines.length, 1, `${label}: ${result.stderr}`)
  assert.match(lines[0]!, /^mx-aggregation: \S/, label)
  assert.include(lines[0]!, text, label)
}

/** Retries `check` every 50 ms until it yields a value, for at most 30 s. */
const eventually = <A, E, R>(label: string, check: Effect.Effect<Option.Option<A>, E, R>) =>
  check.pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.fail("pending" as const), onSome: Effect.succeed })),
    Effect.retry({ schedule: Schedule.spaced("50 millis"), while: (e) => e === "pending" }),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`timed out waiting for ${label}`) })
  )

/** Waits, through `members show --json`, until the member's run has ended; returns the member. */
const settled = (memberGuid: string) =>
  eventually(
    `${memberGuid} to settle`,
    Effect.map(cli("members", "show", memberGuid, "--json"), (result) => {
      const detail = json(result, "members show")
      return detail.member.activeRunId === null && detail.runs.length > 0 && detail.runs[0].endedAt !== null
        ? Option.some(detail)
        : Option.none()
    })
  )

/** Waits, through `members show --json`, until new credentials connected the member; returns its detail. */
const connectedAfterUpdate = (memberGuid: string) =>
  eventually(
    "CONNECTED after the update",
    Effect.map(cli("members", "show", memberGuid, "--json"), (result) => {
      const detail = json(result, "members show")
      return detail.member.connectionStatus === "CONNECTED" && detail.member.activeRunId === null
        ? Option.some(detail)
        : Option.none()
    })
  )

/** A new MX Bank member of a new user, tracked by the worker, not aggregated yet. */
const newMember = (password: string) =>
  Effect.gen(function*() {
    const mx = yield* Sandbox.Sandbox
    const aggregations = yield* Aggregations.Aggregations
    const user = yield* mx.createUser()
    const member = yield* mx.createMember(user.guid, {
      institutionCode: "mxbank",
      username: MxBank.username,
      password,
      skipAggregation: true
    })
    yield* aggregations.discover(user.guid as Member.UserGuid)
    return { userGuid: user.guid, memberGuid: member.guid }
  })

/** Waits until the member is waiting for MFA answers; returns its pending challenges. */
const pendingOf = (memberGuid: string) =>
  eventually(
    `${memberGuid} to be challenged`,
    Effect.map(
      cli("challenges", "list", "--json"),
      (result) => Option.fromNullable(json(result, "challenges list").find((p: any) => p.memberGuid === memberGuid))
    )
  )

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("mx-aggregation CLI", () => {
  layer(Env, { excludeTestServices: true })((it) => {
    it.effect("members list/show, aggregate <member>, present <user>, aggregate --user", () =>
      Effect.gen(function*() {
        const a = yield* newMember("password")
        const b = yield* newMember("password")

        const table = ok(yield* cli("members", "list"), "members list")
        assert.match(table, /^MEMBER\s+USER\s+INSTITUTION\s+STATUS/)
        assert.include(table, a.memberGuid)
        assert.include(table, b.memberGuid)
        const mine = json(yield* cli("members", "list", "--user", a.userGuid, "--json"), "members list --user")
        assert.deepStrictEqual(mine.map((m: any) => m.memberGuid), [a.memberGuid])

        const started = json(yield* cli("aggregate", a.memberGuid, "--json"), "aggregate")
        assert.strictEqual(started.length, 1)
        assert.strictEqual(started[0].memberGuid, a.memberGuid)
        assert.isTrue(started[0].started)
        const detail = yield* settled(a.memberGuid)
        assert.strictEqual(detail.member.connectionStatus, "CONNECTED")
        assert.strictEqual(detail.runs[0].runId, started[0].runId)

        const shown = ok(yield* cli("members", "show", a.memberGuid), "members show")
        assert.include(shown, "Connection status: CONNECTED")
        assert.include(shown, started[0].runId)
        const connected = json(yield* cli("members", "list", "--status-class", "Connected", "--json"), "by class")
        assert.include(connected.map((m: any) => m.memberGuid), a.memberGuid)
        assert.notInclude(connected.map((m: any) => m.memberGuid), b.memberGuid)

        // The user comes back: the member that was never aggregated needs it.
        const present = ok(yield* cli("present", b.userGuid), "present")
        assert.match(present, /^MEMBER\s+RUN\s+STARTED/)
        assert.include(present, b.memberGuid)
        yield* settled(b.memberGuid)

        const user = json(yield* cli("aggregate", "--user", a.userGuid, "--json"), "aggregate --user")
        assert.deepStrictEqual(user.map((t: any) => t.memberGuid), [a.memberGuid])
        yield* settled(a.memberGuid)
      }))

    it.effect("challenges list and answer --stdin: the member resumes, and the answer is never printed", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("challenge")
        ok(yield* cli("aggregate", memberGuid), "aggregate")
        const pending = yield* eventually(
          "a pending challenge",
          Effect.map(
            cli("challenges", "list", "--json"),
            (result) =>
              Option.fromNullable(json(result, "challenges list").find((p: any) => p.memberGuid === memberGuid))
          )
        )
        const challenge = pending.challenges[0]
        const listed = ok(yield* cli("challenges", "list", "--member", memberGuid), "challenges list --member")
        assert.include(listed, memberGuid)
        assert.include(listed, challenge.guid)
        assert.include(listed, "challenges answer")

        // Answers that do not fit are refused by the worker with the problem, not the value.
        const wrong = yield* cliStdin(
          { answers: [{ guid: "CRD-unknown", value: "s3cr3t-value" }] },
          "challenges",
          "answer",
          memberGuid,
          "--stdin"
        )
        failsWith(wrong, 1, "CRD-unknown", "unknown challenge")
        assert.notInclude(wrong.stderr, "s3cr3t-value")

        const body = { answers: [{ guid: challenge.guid, value: MxBank.correctAnswer }] }
        const answered = yield* cliStdin(body, "challenges", "answer", memberGuid, "--stdin")
        const out = ok(answered, "challenges answer")
        assert.include(out, `Sent 1 answer(s) for ${memberGuid}`)
        assert.notInclude(out, `=${MxBank.correctAnswer}`)
        assert.notInclude(out, ` ${MxBank.correctAnswer}`)
        const detail = yield* settled(memberGuid)
        assert.strictEqual(detail.member.connectionStatus, "CONNECTED")

        const none = yield* cliStdin(body, "challenges", "answer", memberGuid, "--stdin")
        failsWith(none, 1, "", "answers for a member that is not waiting")
        assert.notInclude(none.stderr, ` ${MxBank.correctAnswer}`)
      }))

    it.effect("credentials list and update --stdin: a DENIED member is updated in place and reaches CONNECTED", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("UNAUTHORIZED")
        ok(yield* cli("aggregate", memberGuid), "aggregate")
        const denied = yield* settled(memberGuid)
        assert.strictEqual(denied.member.connectionStatus, "DENIED")

        const fields = json(yield* cli("credentials", "list", memberGuid, "--json"), "credentials list")
        const byName = (name: string) => {
          const field = fields.find((f: any) => f.field_name === name)
          assert.isDefined(field, `the member's ${name} field`)
          return field.guid as string
        }
        const table = ok(yield* cli("credentials", "list", memberGuid), "credentials list")
        assert.match(table, /^GUID\s+FIELD/)
        assert.include(table, byName("PASSWORD"))

        const secret = "n3w-passw0rd-value"
        const mx = yield* Sandbox.Sandbox
        yield* mx.resetStats
        const updated = yield* cliStdin(
          {
            credentials: [
              { guid: byName("LOGIN"), value: MxBank.username },
              { guid: byName("PASSWORD"), value: secret }
            ]
          },
          "credentials",
          "update",
          memberGuid,
          "--stdin"
        )
        const out = ok(updated, "credentials update")
        assert.include(out, `Credentials of ${memberGuid} updated.`)
        assert.notInclude(out, secret)
        const detail = yield* connectedAfterUpdate(memberGuid)
        assert.strictEqual(detail.member.statusClass, "Connected")
        const stats = yield* mx.stats
        assert.strictEqual(stats.deletes.members, 0)
        assert.strictEqual(stats.aggregatesAfterAutomatic, 0)
      }))

    it.effect("control-API failures are one line with exit code 1: unknown member, wrong token, no worker", () =>
      Effect.gen(function*() {
        failsWith(yield* cli("members", "show", "MBR-nope"), 1, "MBR-nope", "unknown member")
        failsWith(yield* cli("aggregate", "MBR-nope"), 1, "MBR-nope", "aggregate unknown member")
        const url = yield* apiUrl
        const wrong = yield* cliWith({ WORKER_URL: url, WORKER_API_TOKEN: "not-the-token" })("members", "list")
        failsWith(wrong, 1, "refused the token", "wrong token")
        assert.notInclude(wrong.stderr, "not-the-token")
        const port = yield* freePort
        const down = yield* cliWith({ WORKER_API_TOKEN: token })(
          "members",
          "list",
          "--url",
          `http://127.0.0.1:${port}`
        )
        failsWith(down, 1, "Cannot reach the worker", "no worker")
        failsWith(yield* cliWith({ WORKER_URL: url })("members", "list"), 2, "WORKER_API_TOKEN", "no token")
      }))

    it.effect("invalid arguments: one line on standard error, exit code 2, secrets masked", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
          [["--bogus"], "Invalid subcommand"],
          [["frobnicate"], "Invalid subcommand"],
          [["members", "show"], "Missing argument <member>"],
          [["members", "show", " "], "expected a member guid"],
          [["members", "list", "--status-class", "Fine"], "Expected one of the following cases"],
          [["members", "list", "--user", ""], "expected a user guid"],
          [["members", "list", "--url", "ftp://example"], "--url"],
          [["members", "list", "--url", "not a url"], "--url"],
          [["members", "list", "extra"], "extra"],
          [["aggregate"], "either a member guid or --user"],
          [["aggregate", "MBR-1", "--user", "USR-1"], "either a member guid or --user"],
          [["present"], "Missing argument <user>"],
          // Standard input is a pipe here: nothing can be prompted, --stdin is the way.
          [["challenges", "answer", "MBR-1"], "--stdin"],
          [["credentials", "update", "MBR-1"], "--stdin"],
          [["credentials", "update", "MBR-1", "--purpose", "fun"], "Expected one of"],
          [["sandbox", "--port", "70000"], "--port"],
          [["sandbox", "--time-scale", "0"], "--time-scale"],
          [["sandbox", "--demo", "many"], "many"],
          [["worker", "--port", "eighty"], "eighty"]
        ]
        for (const [args, text] of cases) {
          failsWith(yield* cli(...args), 2, text, args.join(" "))
        }
        // A secret given without its guid= is not echoed by the parser's message.
        const leaked = yield* cli("challenges", "answer", "MBR-1", "--answer", "CRD-1", "hunter2-secret")
        failsWith(leaked, 2, "", "answer without guid=")
        assert.notInclude(leaked.stderr, "hunter2-secret")
        const inline = yield* cli("members", "list", "--token=t0ken-value", "stray")
        assert.notInclude(inline.stderr, "t0ken-value")
        // Help is not an error.
        const help = yield* cli("members", "list", "--help")
        assert.strictEqual(help.code, 0)
        assert.include(help.stdout, "--status-class")
      }))

    it.effect("secrets are never taken as arguments: --answer/--credential are refused and masked; help offers --stdin", () =>
      Effect.gen(function*() {
        const argv = [
          ["challenges", "answer", "MBR-1", "--answer", "CRD-1=hunter2-answer"],
          ["challenges", "answer", "MBR-1", "--answer=CRD-1=hunter2-answer"],
          ["credentials", "update", "MBR-1", "--credential", "CRD-1=hunter2-answer"],
          ["credentials", "update", "MBR-1", "--stdin", "--credential=CRD-1=hunter2-answer"]
        ]
        for (const args of argv) {
          const result = yield* cli(...args)
          failsWith(result, 2, "", args.join(" "))
          assert.notInclude(result.stderr, "hunter2-answer", args.join(" "))
        }
        for (
          const [args, option] of [[["challenges", "answer"], "--answer"], [
            ["credentials", "update"],
            "--credential"
          ]] as const
        ) {
          const help = yield* cli(...args, "--help")
          assert.strictEqual(help.code, 0)
          assert.include(help.stdout, "--stdin")
          assert.include(help.stdout, "never taken as arguments")
          assert.notInclude(help.stdout, option)
        }
      }))

    it.effect("--stdin JSON that does not fit is refused with where it is wrong, never with the value", () =>
      Effect.gen(function*() {
        const value = "v4lue-never-shown"
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, unknown, string]> = [
          [["challenges", "answer", "MBR-1"], `{"answers": [{"guid": "CRD-1", "value": "${value}"`, "not JSON"],
          [["challenges", "answer", "MBR-1"], "", "not JSON"],
          // JSON.parse's own message would quote these.
          [["challenges", "answer", "MBR-1"], value, "not JSON"],
          [["challenges", "answer", "MBR-1"], `{"answers": [{"guid": "CRD-1", "value": ${value}}]}`, "not JSON"],
          [["challenges", "answer", "MBR-1"], { answers: { guid: "CRD-1", value } }, "expected {\"answers\""],
          [["challenges", "answer", "MBR-1"], { credentials: [{ guid: "CRD-1", value }] }, "expected {\"answers\""],
          [["challenges", "answer", "MBR-1"], { answers: [{ guid: "CRD-1", value }], token: value }, "expected"],
          [["challenges", "answer", "MBR-1"], { answers: [] }, "empty"],
          [["challenges", "answer", "MBR-1"], { answers: [value] }, "answers[0]"],
          [["challenges", "answer", "MBR-1"], { answers: [{ guid: "CRD-1", value, note: value }] }, "answers[0]"],
          [["challenges", "answer", "MBR-1"], { answers: [{ guid: "CRD-1" }] }, "\"value\" must be"],
          [["challenges", "answer", "MBR-1"], { answers: [{ guid: "CRD-1", value: "" }] }, "\"value\" must be"],
          [["challenges", "answer", "MBR-1"], { answers: [{ guid: "CRD-1", value: 42 }] }, "\"value\" must be"],
          [["challenges", "answer", "MBR-1"], { answers: [{ guid: " ", value }] }, "\"guid\" must be"],
          [
            ["challenges", "answer", "MBR-1"],
            { answers: [{ guid: value, value: "x" }, { guid: "CRD 2", value }] },
            "answers[1]"
          ],
          [
            ["credentials", "update", "MBR-1"],
            { credentials: [{ guid: "CRD-1", value }, { guid: "CRD-1", value }] },
            "CRD-1 given twice"
          ]
        ]
        for (const [args, input, text] of cases) {
          const result = yield* cliStdin(input, ...args, "--stdin")
          const label = `${args.join(" ")} ${JSON.stringify(input)}`
          failsWith(result, 2, text, label)
          assert.include(result.stderr, "--stdin", label)
          assert.notInclude(result.stderr, value, label)
        }
      }))

    it.effect("at a terminal, challenges answer prompts for each answer with nothing echoed; the member resumes", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("challenge")
        ok(yield* cli("aggregate", memberGuid), "aggregate")
        const pending = yield* pendingOf(memberGuid)
        // Enter on an empty answer is refused at the prompt; then the answer.
        const person = simulatedTerminal([[key("return"), ...typed(MxBank.correctAnswer)]])
        const result = yield* cliIo(person)("challenges", "answer", memberGuid)
        const out = ok(result, "challenges answer at a terminal")
        assert.include(out, `Sent 1 answer(s) for ${memberGuid}`)
        const drawn = person.frames.join("")
        assert.include(drawn, pending.challenges[0].label, "the question is shown")
        assert.include(drawn, "a value is required", "an empty answer is refused")
        for (const text of [drawn, out, result.stderr]) assert.notInclude(text, MxBank.correctAnswer)
        const detail = yield* settled(memberGuid)
        assert.strictEqual(detail.member.connectionStatus, "CONNECTED")
      }))

    it.effect("at a terminal, an option challenge is answered by choosing from its options", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("options")
        ok(yield* cli("aggregate", memberGuid), "aggregate")
        const pending = yield* pendingOf(memberGuid)
        const options: ReadonlyArray<{ value: string }> = pending.challenges[0].options
        const index = options.findIndex((o) => o.value === MxBank.correctAnswer)
        assert.isAtLeast(index, 0, "MX Bank offers the correct option")
        const person = simulatedTerminal([[...Array.from({ length: index }, () => key("down")), key("return")]])
        ok(yield* cliIo(person)("challenges", "answer", memberGuid), "challenges answer (options)")
        const detail = yield* settled(memberGuid)
        assert.strictEqual(detail.member.connectionStatus, "CONNECTED")
      }))

    it.effect("at a terminal, credentials update prompts for each field with nothing echoed; DENIED reaches CONNECTED", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("UNAUTHORIZED")
        ok(yield* cli("aggregate", memberGuid), "aggregate")
        assert.strictEqual((yield* settled(memberGuid)).member.connectionStatus, "DENIED")
        const fields: Array<any> = json(yield* cli("credentials", "list", memberGuid, "--json"), "credentials list")
        const secret = "typed-passw0rd-value"
        const values: Record<string, string> = { LOGIN: MxBank.username, PASSWORD: secret }
        const ordered = [...fields].sort((a, b) => (a.display_order ?? 0) - (b.display_order ?? 0))
        const person = simulatedTerminal(ordered.map((f) => typed(values[f.field_name]!)))
        const result = yield* cliIo(person)("credentials", "update", memberGuid)
        const out = ok(result, "credentials update at a terminal")
        assert.include(out, `Credentials of ${memberGuid} updated.`)
        const drawn = person.frames.join("")
        for (const f of ordered) assert.include(drawn, f.label, "each field is asked for by its label")
        for (const text of [drawn, out, result.stderr]) {
          assert.notInclude(text, secret)
          assert.notInclude(text, MxBank.username)
        }
        const detail = yield* connectedAfterUpdate(memberGuid)
        assert.strictEqual(detail.member.statusClass, "Connected")
      }))

    it.effect("Ctrl-C at a prompt: exit 130 and nothing is sent", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("challenge")
        ok(yield* cli("aggregate", memberGuid), "aggregate")
        const pending = yield* pendingOf(memberGuid)
        const mx = yield* Sandbox.Sandbox
        const before = (yield* mx.stats).byOperation["resumeAggregation"] ?? 0
        const cancelled = yield* cliIo(simulatedTerminal([]))("challenges", "answer", memberGuid)
        failsWith(cancelled, 130, "cancelled", "Ctrl-C")
        assert.strictEqual((yield* mx.stats).byOperation["resumeAggregation"] ?? 0, before, "no resume reached MX")
        const still = json(yield* cli("challenges", "list", "--member", memberGuid, "--json"), "still pending")
        assert.strictEqual(still[0].challenges[0].guid, pending.challenges[0].guid)
        ok(
          yield* cliStdin(
            { answers: [{ guid: pending.challenges[0].guid, value: MxBank.correctAnswer }] },
            "challenges",
            "answer",
            memberGuid,
            "--stdin"
          ),
          "answered after all"
        )
        yield* settled(memberGuid)
      }))

    it.effect(
      "the real bin reads --stdin from a pipe; without it, a piped standard input is refused",
      () =>
        Effect.gen(function*() {
          // A DENIED member waits for credentials without a deadline: the child process may start slowly.
          const { memberGuid } = yield* newMember("UNAUTHORIZED")
          ok(yield* cli("aggregate", memberGuid), "aggregate")
          assert.strictEqual((yield* settled(memberGuid)).member.connectionStatus, "DENIED")
          const fields: Array<any> = json(yield* cli("credentials", "list", memberGuid, "--json"), "credentials list")
          const secret = "piped-passw0rd-value"
          const values: Record<string, string> = { LOGIN: MxBank.username, PASSWORD: secret }
          const input = JSON.stringify({
            credentials: fields.map((f) => ({ guid: f.guid, value: values[f.field_name] }))
          })
          const env = { WORKER_URL: yield* apiUrl, WORKER_API_TOKEN: token }
          const args = ["credentials", "update", memberGuid, "--stdin"]
          const [refused, result] = yield* Effect.all([
            bin(["credentials", "update", memberGuid], env, input),
            bin(args, env, input)
          ], { concurrency: "unbounded" })
          failsWith(refused, 2, "--stdin", "a pipe without --stdin")
          assert.notInclude(refused.stderr, secret)
          assert.strictEqual(result.code, 0, result.stderr)
          assert.include(result.stdout, `Credentials of ${memberGuid} updated.`)
          assert.notInclude(args.join(" "), secret)
          assert.notInclude(result.stdout + result.stderr, secret)
          yield* connectedAfterUpdate(memberGuid)
        }),
      { timeout: 120_000 }
    )

    it.scoped("migrate brings a new SQLite file to the latest schema and says so; again, nothing changes", () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "mx-cli-migrate-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const migrate = cliWith({ SQLITE_FILE: join(dir, "store.db") })
        const first = json(yield* migrate("migrate", "--json"), "migrate")
        assert.include(first.database, join(dir, "store.db"))
        assert.isAbove(first.migrations.length, 0)
        assert.strictEqual(first.migrations.at(-1).id, first.latest)
        const second = ok(yield* migrate("migrate"), "migrate again")
        assert.include(second, `schema at migration ${first.latest} (latest ${first.latest}), up to date`)
        for (const m of first.migrations) assert.include(second, m.name)
        const bad = yield* cliWith({ DATABASE_URL: "mysql://nope" })("migrate")
        failsWith(bad, 1, "DATABASE_URL", "unsupported database URL")
      }))

    it.scoped("sandbox serves MX until interrupted and prints its URL and credentials", () =>
      Effect.gen(function*() {
        const captured: Captured = { out: [], err: [] }
        const fiber = yield* Effect.fork(runIn({}, captured, ["sandbox", "--port", "0", "--demo", "1", "--seed", "x"]))
        const banner = yield* eventually(
          "the sandbox banner",
          Effect.sync(() => Option.fromNullable(captured.out.find((line) => line.includes("MX sandbox listening on"))))
        )
        const url = /listening on (http:\/\/\S+)/.exec(banner)![1]!
        assert.include(banner, "Demo user")
        assert.include(banner, "client_id: sandbox-client-id")
        const client = yield* HttpClient.HttpClient
        const stats = yield* client.get(`${url}/sandbox/stats`)
        assert.strictEqual(stats.status, 200)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(captured.err, [])
      }))

    it.scoped("worker runs the daemon (embedded demo) until interrupted; the CLI talks to it", () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "mx-cli-worker-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const port = yield* freePort
        const env = { SQLITE_FILE: join(dir, "worker.db"), WORKER_API_TOKEN: token, WORKER_DEMO_MEMBERS: "2" }
        const captured: Captured = { out: [], err: [] }
        const fiber = yield* Effect.fork(runIn(env, captured, ["worker", "--port", String(port)]))
        const url = `http://127.0.0.1:${port}`
        const members = yield* eventually(
          "the daemon's control API",
          Effect.map(
            cliWith(env)("members", "list", "--url", url, "--json"),
            // Up once the demo's members are discovered.
            (result) =>
              result.code === 0 && JSON.parse(result.stdout).length > 0
                ? Option.some(JSON.parse(result.stdout))
                : Option.none()
          )
        )
        assert.isTrue(members.every((m: any) => m.memberGuid.startsWith("MBR-")))
        assert.isTrue(captured.out.some((line) => line.includes(url)), "the daemon prints its control API's URL")
        yield* Fiber.interrupt(fiber)
        const gone = yield* cliWith(env)("members", "list", "--url", url)
        failsWith(gone, 1, "Cannot reach the worker", "after the worker stopped")
      }))
  })
})

const root = fileURLToPath(new URL("../../..", import.meta.url))

/** Runs the bin in a child process; `input`, when given, is piped to its standard input. */
const bin = (args: ReadonlyArray<string>, env: Record<string, string> = {}, input?: string) =>
  Effect.async<Result>((resume) => {
    const child = execFile(
      join(root, "node_modules/.bin/tsx"),
      ["apps/worker/src/bin.ts", ...args],
      { cwd: root, env: { ...process.env, NO_COLOR: "1", ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resume(Effect.succeed({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          stdout: stdout.trim(),
          stderr
        }))
    )
    if (input !== undefined) child.stdin?.end(input)
  })

describe("StandardInput.readStream", () => {
  it.effect("reads a stream to its end, and refuses more than the limit", () =>
    Effect.gen(function*() {
      const text = yield* StandardInput.readStream(Readable.from([Buffer.from("{\"answers\": "), Buffer.from("[]}")]))
      assert.strictEqual(text, "{\"answers\": []}")
      const error = yield* Effect.flip(
        StandardInput.readStream(Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), 15)
      )
      assert.strictEqual(error.reason, "Usage")
      assert.include(error.message, "more than 15 bytes")
    }))
})

describe("the mx-aggregation bin", () => {
  it.live(
    "invalid arguments: one line on standard error and exit code 2; a failed command exits 1",
    () =>
      Effect.gen(function*() {
        const [bogus, down] = yield* Effect.all([
          bin(["--bogus"]),
          bin(["members", "list", "--url", "http://127.0.0.1:9"], { WORKER_API_TOKEN: "t" })
        ], { concurrency: "unbounded" })
        failsWith(bogus, 2, "Invalid subcommand", "--bogus")
        failsWith(down, 1, "Cannot reach the worker at http://127.0.0.1:9", "no worker")
      }),
    60_000
  )
})

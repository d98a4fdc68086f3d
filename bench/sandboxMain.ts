/**
 * The MX sandbox of a benchmark, in its own process so that the benchmark's CPU and memory figures
 * are the worker's alone. Takes its settings as one JSON argument, creates the benchmark's users and
 * members (through the sandbox service, so that no setup call is counted in the API stats), prints
 * one JSON line (`SandboxProcess.Ready`) and serves on 127.0.0.1 until its stdin closes.
 *
 * @since 0.1.0
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as Population from "./Population.js"
import type * as SandboxProcess from "./SandboxProcess.js"

const settings = JSON.parse(process.argv[2] ?? "{}") as SandboxProcess.Settings

// The parent going away (normally or not) ends the sandbox.
process.stdin.on("end", () => process.exit(0))
process.stdin.on("close", () => process.exit(0))
// Flowing from the start: a 'data' listener added later does not resume a stream paused meanwhile.
process.stdin.resume()
process.stdin.on("error", () => process.exit(0))

const Ready = Layer.effectDiscard(
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { url } = yield* Sandbox.SandboxServer
    const users: Array<SandboxProcess.ReadyUser> = []
    for (const plan of Population.users(settings.population)) {
      const user = yield* sandbox.createUser({ id: plan.id })
      const members: Array<{ guid: string; password: string }> = []
      for (const password of plan.passwords) {
        const member = yield* sandbox.createMember(user.guid, { password, skipAggregation: settings.skipAggregation })
        members.push({ guid: member.guid, password })
      }
      users.push({ userGuid: user.guid, members })
    }
    const mxMs = (yield* sandbox.now).getTime()
    const ready: SandboxProcess.Ready = {
      url,
      clientId: sandbox.credentials.clientId,
      apiKey: Redacted.value(sandbox.credentials.apiKey),
      realMs: Date.now(),
      mxMs,
      users
    }
    // Commands from the parent, one per line: `webhook <url>` starts webhook delivery to the url.
    let input = ""
    process.stdin.setEncoding("utf8")
    process.stdin.on("data", (chunk: string) => {
      input += chunk
      for (let newline = input.indexOf("\n"); newline !== -1; newline = input.indexOf("\n")) {
        const [command, argument] = input.slice(0, newline).trim().split(/\s+/, 2)
        input = input.slice(newline + 1)
        if (command === "webhook" && argument !== undefined) Effect.runFork(sandbox.setWebhookUrl(argument))
      }
    })
    process.stdout.write(`${JSON.stringify(ready)}\n`)
  }).pipe(Effect.orDie)
)

Ready.pipe(
  Layer.provide(Sandbox.layerServer({
    port: 0,
    host: "127.0.0.1",
    seed: settings.seed,
    timeScale: settings.timeScale,
    aggregationDuration: `${settings.aggregationSeconds} seconds`,
    // Nothing but the client under test starts aggregations.
    background: { enabled: false },
    faults: {
      ...(settings.latencyRealMs > 0 ? { latency: Duration.millis(settings.latencyRealMs) } : {}),
      ...(settings.rateLimit === undefined ? {} : { rateLimit: { requestsPerSecond: settings.rateLimit } })
    }
  })),
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.launch,
  Logger.withMinimumLogLevel(LogLevel.Warning),
  NodeRuntime.runMain
)

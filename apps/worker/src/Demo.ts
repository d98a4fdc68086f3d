/**
 * The embedded demo that `npm start` runs when no MX credentials are configured: the MX sandbox
 * in-process on a free port, demo users whose members cover every MX Bank scenario, and a console
 * reporter that prints one line per status change, a summary table now and then, and, for each
 * CHALLENGED member, its page in the operator console and the `curl` command that answers it through
 * the control API.
 *
 * @since 0.1.0
 */
import type { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { PendingChallenges, TrackedMembers } from "@mx-aggregation/store"
import { Console, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import * as OperatorConsole from "./OperatorConsole.js"
import type * as Tls from "./Tls.js"
import * as WebhookListener from "./WebhookListener.js"
import * as Worker from "./Worker.js"
import type * as WorkerConfig from "./WorkerConfig.js"

/**
 * The demo members' MX Bank passwords: every scenario the worker handles.
 *
 * @since 0.1.0
 * @category constants
 */
export const demoPasswords: ReadonlyArray<string> = [
  "password", // CONNECTED
  "challenge", // TEXT MFA (answer `correct`; or `challenge` then `correct` for two rounds)
  "options", // OPTIONS MFA
  "image", // IMAGE_DATA MFA
  "UNAUTHORIZED", // DENIED -> needs new credentials
  "LOCKED", // the user must act at the bank
  "IMPEDED", // the user must act at the bank
  "DELAYED", // slow, then CONNECTED
  "SERVER_ERROR", // provider trouble -> retry later
  "challenge", // a second TEXT MFA member (two-round answers welcome)
  "DEGRADED", // provider trouble -> retry later
  "password"
]

/**
 * The sandbox of the demo, served on a free port of 127.0.0.1. Its seed is fixed, so that a second
 * `npm start` recreates the same users and members and the worker's database still matches them.
 *
 * @since 0.1.0
 * @category layers
 */
export const sandboxLayer = Sandbox.layerServer({
  port: 0,
  host: "127.0.0.1",
  seed: "mx-aggregation-demo",
  aggregationDuration: "8 seconds",
  delayedDuration: "40 seconds",
  mfaTimeout: "10 minutes"
})

/**
 * Seeds the demo users and members; returns the users' guids.
 *
 * @since 0.1.0
 * @category demo
 */
export const seed = (members: number) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const membersPerUser = 4
    const users = Math.max(1, Math.ceil(members / membersPerUser))
    const seeded = yield* sandbox.seedDemo({ users, membersPerUser, passwords: demoPasswords })
    return seeded.map((u) => u.userGuid as Member.UserGuid)
  })

const curlFor = (
  apiUrl: string,
  token: string,
  memberGuid: string,
  challenges: ReadonlyArray<Member.Challenge>
) => {
  const answers = challenges.map((c) => {
    const options = c.type === "OPTIONS" ? c.options : c.type === "IMAGE_OPTIONS" ? c.image_options : []
    const correct = options.find((o) => o.value === "correct" || o.label?.toLowerCase() === "correct") ?? options[0]
    return { guid: c.guid, value: correct?.value ?? "correct" }
  })
  return `curl -s -X POST ${apiUrl}/members/${memberGuid}/challenges/answers ` +
    `-H "Authorization: Bearer ${token}" -H 'Content-Type: application/json' ` +
    `-d '${JSON.stringify({ answers })}'`
}

/**
 * The console reporter: watches the store and prints what changes.
 *
 * @since 0.1.0
 * @category layers
 */
export const reporterLayer = (options: {
  readonly apiUrl: string
  readonly token: Redacted.Redacted<string>
  /** Print the token in the curl commands (a generated demo token); otherwise `$WORKER_API_TOKEN`. */
  readonly showToken: boolean
}) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const pending = yield* PendingChallenges.PendingChallenges
    // Only a token generated for the demo is printed: it is the operator's, on their machine.
    const token = options.showToken ? Redacted.value(options.token) : "$WORKER_API_TOKEN"
    const seen = new Map<string, string>()
    const announced = new Set<number>()
    let passes = 0
    const report = Effect.gen(function*() {
      const members = yield* tracked.list()
      for (const m of members) {
        const line = `${m.status ?? "null"}${m.isBeingAggregated ? " (aggregating)" : ""}` +
          `${m.nextAction ? ` -> ${m.nextAction}` : ""}`
        if (seen.get(m.memberGuid) !== line) {
          seen.set(m.memberGuid, line)
          yield* Console.log(`[member] ${m.memberGuid} ${line}${m.userAction ? `: ${m.userAction}` : ""}`)
        }
      }
      for (const p of yield* pending.listPending()) {
        if (announced.has(p.id)) continue
        announced.add(p.id)
        yield* Console.log(
          `[mfa] ${p.memberGuid} is CHALLENGED: ${
            p.challenges.map((c) => `${c.type} "${c.label ?? ""}"`).join(", ")
          }\n` +
            `      answer it in the console: ${options.apiUrl}${OperatorConsole.path}/#/members/${p.memberGuid}\n` +
            `      or with:\n      ${curlFor(options.apiUrl, token, p.memberGuid, p.challenges)}`
        )
      }
      if (passes++ % 30 === 29) {
        yield* Console.log(
          "[summary]\n" +
            members.map((m) =>
              `  ${m.memberGuid.padEnd(40)} ${(m.status ?? "null").padEnd(12)} ${(m.nextAction ?? "").padEnd(20)} ${
                m.userAction ?? ""
              }`
            ).join("\n")
        )
      }
    }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("reporter failed", cause)))
    yield* Effect.forkScoped(Effect.repeat(report, Schedule.spaced("1 second")))
  }))

/**
 * The demo's sandbox sends its webhooks to the listener, with the Basic credentials in the URL as MX's
 * webhook configuration takes them.
 */
const demoWebhooks = (config: WorkerConfig.WorkerConfig, scheme: string) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const listener = yield* Effect.serviceOption(WebhookListener.WebhookListener)
    if (Option.isNone(listener) || Option.isNone(config.webhooks)) return
    const { address } = listener.value
    if (address._tag !== "TcpAddress") return
    const { host, password, username } = config.webhooks.value
    const target = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host
    const sandbox = yield* Sandbox.Sandbox
    yield* sandbox.setWebhookUrl(
      `${scheme}://${encodeURIComponent(username)}:${encodeURIComponent(Redacted.value(password))}@` +
        `${target}:${address.port}${WebhookListener.path}`
    )
  }))

/**
 * The worker of the embedded demo: the sandbox in-process, demo members seeded into it, the worker
 * talking to it, and the console reporter. `Daemon` loads this module with a dynamic `import()` only
 * when it runs the demo, so that production never loads the simulator.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly config: WorkerConfig.WorkerConfig
  readonly tls: Tls.Credentials | undefined
  readonly webhooks: Worker.Options["webhooks"]
}) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const { config, tls } = options
    const scheme = tls === undefined ? "http" : "https"
    const token = Option.getOrElse(config.apiToken, () => Redacted.make(randomBytes(24).toString("hex")))
    const { url } = yield* Sandbox.SandboxServer
    const sandbox = yield* Sandbox.Sandbox
    const users = yield* seed(config.demoMembers)
    const apiUrl = `${scheme}://${config.host}:${config.port}`
    yield* Console.log([
      "mx-aggregation worker: embedded demo (no MX credentials, no DATABASE_URL, or WORKER_DEMO=true)",
      `  MX sandbox:   ${url} (in-process)`,
      // The token is printed only when it was generated here for the demo, never one from WORKER_API_TOKEN.
      Option.isNone(config.apiToken)
        ? `  control API:  ${apiUrl}  (Authorization: Bearer ${Redacted.value(token)})`
        : `  control API:  ${apiUrl}  (Authorization: Bearer $WORKER_API_TOKEN)`,
      `  console:      ${apiUrl}${OperatorConsole.path}/  (in a browser; enter the token above)`,
      `  demo users:   ${users.join(", ")}`
    ].join("\n"))
    const mx = MxClient.layer({
      baseUrl: url,
      clientId: sandbox.credentials.clientId,
      apiKey: sandbox.credentials.apiKey
    })
    return Layer.merge(
      reporterLayer({ apiUrl, token, showToken: Option.isNone(config.apiToken) }),
      demoWebhooks(config, scheme)
    ).pipe(
      Layer.provideMerge(Worker.layer({
        users,
        api: { token, port: config.port, host: config.host, limits: config.apiLimits, tls },
        webhooks: options.webhooks,
        notifications: Option.getOrUndefined(config.notifications)
      })),
      Layer.provide(mx)
    )
  })).pipe(Layer.provide(sandboxLayer))

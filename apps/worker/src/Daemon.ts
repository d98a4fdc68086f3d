/**
 * The worker daemon as a Layer (`main.ts` launches it; the CLI's `worker` command too). With nothing
 * configured (or `WORKER_DEMO=true`) it runs the embedded demo: SQLite under ./data and the MX sandbox
 * in-process with demo members. With `MX_CLIENT_ID` / `MX_API_KEY` it talks to MX; with `DATABASE_URL`
 * it keeps its state in PostgreSQL; anything in between is a start-up error (`WorkerConfig`). With
 * `WORKER_TLS_CERT_FILE` / `WORKER_TLS_KEY_FILE` its listeners serve HTTPS. SIGINT/SIGTERM close every
 * scope and exit 0.
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { Database } from "@mx-aggregation/store"
import { Console, Effect, Layer, Option, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import * as Demo from "./Demo.js"
import * as EngineConfig from "./EngineConfig.js"
import * as Metrics from "./Metrics.js"
import * as Observability from "./Observability.js"
import * as OperatorConsole from "./OperatorConsole.js"
import * as ProcessLock from "./ProcessLock.js"
import * as Tls from "./Tls.js"
import * as WebhookListener from "./WebhookListener.js"
import * as Worker from "./Worker.js"
import * as WorkerConfig from "./WorkerConfig.js"

/** What the listeners serve with: the TLS credentials, read at start-up, if configured. */
interface Listeners {
  readonly tls: Tls.Credentials | undefined
}

const scheme = (listeners: Listeners) => (listeners.tls === undefined ? "http" : "https")

const webhookOptions = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Option.getOrUndefined(Option.map(config.webhooks, (settings) => ({ ...settings, tls: listeners.tls })))

/**
 * The demo's sandbox sends its webhooks to the listener, with the Basic credentials in the URL as MX's
 * webhook configuration takes them.
 */
const demoWebhooks = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const listener = yield* Effect.serviceOption(WebhookListener.WebhookListener)
    if (Option.isNone(listener) || Option.isNone(config.webhooks)) return
    const { address } = listener.value
    if (address._tag !== "TcpAddress") return
    const { host, password, username } = config.webhooks.value
    const target = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host
    const sandbox = yield* Sandbox.Sandbox
    yield* sandbox.setWebhookUrl(
      `${scheme(listeners)}://${encodeURIComponent(username)}:${encodeURIComponent(Redacted.value(password))}@` +
        `${target}:${address.port}${WebhookListener.path}`
    )
  }))

const engineConfig = (config: WorkerConfig.WorkerConfig) =>
  EngineConfig.layer({
    timeScale: config.timeScale,
    mxOrigin: Option.getOrUndefined(config.timeOrigin),
    mfaTimeout: config.mfaTimeout,
    challengeWatchInterval: config.challengeCheckInterval,
    maxConcurrentRuns: config.maxConcurrentRuns,
    ...(Option.isSome(config.webhooks) ? { polling: EngineConfig.webhookPolling } : {}),
    policy: { ...EngineConfig.defaults.policy, cadence: config.cadence, freshness: config.freshness }
  })

const embedded = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const token = Option.getOrElse(config.apiToken, () => Redacted.make(randomBytes(24).toString("hex")))
    const { url } = yield* Sandbox.SandboxServer
    const sandbox = yield* Sandbox.Sandbox
    const users = yield* Demo.seed(config.demoMembers)
    const apiUrl = `${scheme(listeners)}://${config.host}:${config.port}`
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
    }).pipe(Layer.provide(Metrics.layerMxHttpClient))
    return Layer.merge(
      Demo.reporterLayer({ apiUrl, token, showToken: Option.isNone(config.apiToken) }),
      demoWebhooks(config, listeners)
    ).pipe(
      Layer.provideMerge(Worker.layer({
        users,
        api: { token, port: config.port, host: config.host, limits: config.apiLimits, tls: listeners.tls },
        webhooks: webhookOptions(config, listeners),
        notifications: Option.getOrUndefined(config.notifications)
      })),
      Layer.provide(mx)
    )
  })).pipe(Layer.provide(Demo.sandboxLayer))

const real = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (Option.isNone(config.apiToken)) {
      return yield* Effect.fail(new Error("WORKER_API_TOKEN must be set when the worker talks to MX"))
    }
    yield* Effect.logInfo("operator console").pipe(
      Effect.annotateLogs({ url: `${scheme(listeners)}://${config.host}:${config.port}${OperatorConsole.path}/` })
    )
    return Worker.layer({
      users: config.users,
      api: {
        token: config.apiToken.value,
        port: config.port,
        host: config.host,
        limits: config.apiLimits,
        tls: listeners.tls
      },
      webhooks: webhookOptions(config, listeners),
      runner: Option.getOrUndefined(config.runner),
      notifications: Option.getOrUndefined(config.notifications)
    }).pipe(Layer.provide(MxClient.layerConfig().pipe(Layer.provide(Metrics.layerMxHttpClient))))
  }))

/**
 * The daemon's layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const MainLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* WorkerConfig.config
  const database = yield* Database.config
  const listeners: Listeners = {
    tls: yield* Option.match(config.tls, { onNone: () => Effect.succeed(undefined), onSome: Tls.load })
  }
  const app = Option.isSome(config.mx) ? real(config, listeners) : embedded(config, listeners)
  const metrics = Layer.mergeAll(
    Observability.layerStoreGauges,
    Option.match(config.metricsPort, {
      onNone: () => Layer.empty,
      onSome: (port) =>
        Layer.discard(Observability.layerMetricsServer({
          port,
          host: config.metricsHost,
          token: Option.getOrUndefined(config.metricsToken)
        }))
    })
  )
  return metrics.pipe(
    Layer.provideMerge(app),
    Layer.provide(engineConfig(config)),
    Layer.provide(Database.layerFrom(database)),
    // Before the database opens: one worker process per SQLite file.
    Layer.provide(database._tag === "Sqlite" ? ProcessLock.layerSqlite(database.filename) : Layer.empty),
    Layer.provide(NodeHttpClient.layerUndici),
    // Beneath everything: the tracer and the logger are in place before any fiber of the worker starts.
    Layer.provide(Observability.layerConfig()),
    Layer.provide(Observability.loggerLayerConfig)
  )
}))

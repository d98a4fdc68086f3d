/**
 * The mx-aggregation worker: durable aggregation engine, scheduler and control API, as layers that
 * `main.ts` composes and that tests and other programs can reuse.
 *
 * @since 0.1.0
 */

/** The aggregation workflow. @since 0.1.0 */
export * as AggregationWorkflow from "./AggregationWorkflow.js"

/** Starting runs, MFA answers, user presence, discovery. @since 0.1.0 */
export * as Aggregations from "./Aggregations.js"

/** The control API definition (for `HttpApiClient`). @since 0.1.0 */
export * as ControlApi from "./ControlApi.js"

/** The control API's errors as RFC 9457 problems. @since 0.1.0 */
export * as Problem from "./Problem.js"

/** Every failed control-API request answered as a problem. @since 0.1.0 */
export * as ProblemResponses from "./ProblemResponses.js"

/** The control API's rate limit, body size and timeout. @since 0.1.0 */
export * as ApiLimits from "./ApiLimits.js"

/** The control API's bearer-token check. @since 0.1.0 */
export * as Authentication from "./Authentication.js"

/** The control API's request log (no query strings). @since 0.1.0 */
export * as RequestLog from "./RequestLog.js"

/** Erasing a member: its rows and its runs' workflow journal. @since 0.1.0 */
export * as MemberErasure from "./MemberErasure.js"

/** The control API's handlers and server. @since 0.1.0 */
export * as ControlApiLive from "./ControlApiLive.js"

/** The operator console's files, served at /console/. @since 0.1.0 */
export * as OperatorConsole from "./OperatorConsole.js"

/** The engine's tunables and time scale. @since 0.1.0 */
export * as EngineConfig from "./EngineConfig.js"

/** MX time for time-scaled runs. @since 0.1.0 */
export * as MxTime from "./MxTime.js"

/** The worker's metrics of runs, MFA waits and polls (Effect metrics). @since 0.1.0 */
export * as Metrics from "./Metrics.js"

/** Who may read the metrics: the bearer token and the loopback rule. @since 0.1.0 */
export * as MetricsAccess from "./MetricsAccess.js"

/** Metrics endpoint and traces under one OpenTelemetry resource. @since 0.1.0 */
export * as Observability from "./Observability.js"

/** The Prometheus endpoint: `GET /metrics` on the control API or on a port of its own. @since 0.1.0 */
export * as MetricsEndpoint from "./MetricsEndpoint.js"

/** The backlog gauges read from the store at each scrape. @since 0.1.0 */
export * as StoreGauges from "./StoreGauges.js"

/** Traces: every Effect span as an OpenTelemetry span, to an OTLP collector. @since 0.1.0 */
export * as Tracing from "./Tracing.js"

/** Structured logs: JSON or pretty, `WORKER_LOG_FORMAT`, `WORKER_LOG_LEVEL`. @since 0.1.0 */
export * as Logging from "./Logging.js"

/** Partner notifications: outbox delivery, signed as Standard Webhooks. @since 0.1.0 */
export * as Notifications from "./Notifications.js"

/** Standard Webhooks signatures of partner notifications: secrets, signing, verifying. @since 0.1.0 */
export * as NotificationSignature from "./NotificationSignature.js"

/** The MX webhook listener (HTTP Basic, hints only). @since 0.1.0 */
export * as WebhookListener from "./WebhookListener.js"

/** HTTPS for the listeners. @since 0.1.0 */
export * as Tls from "./Tls.js"

/** The listeners' HTTP servers, closed within a grace period. @since 0.1.0 */
export * as Listener from "./Listener.js"

/** MX webhook wake-ups. @since 0.1.0 */
export * as Wakeups from "./Wakeups.js"

/** Wake-ups across replicas, routed by the cluster to the runner of the run. @since 0.1.0 */
export * as RunWakeups from "./RunWakeups.js"

/** Sockets between replicas, authenticated by a shared secret. @since 0.1.0 */
export * as RunnerTransport from "./RunnerTransport.js"

/** Ending a run, once. @since 0.1.0 */
export * as RunEnd from "./RunEnd.js"

/** Redelivering runs whose wake-up the workflow engine skipped. @since 0.1.0 */
export * as EngineWatchdog from "./EngineWatchdog.js"

/** The scheduler singleton. @since 0.1.0 */
export * as Scheduler from "./Scheduler.js"

/** Member statuses as read from MX; statuses the domain does not know reported. @since 0.1.0 */
export * as StatusObservations from "./StatusObservations.js"

/** The worker as one layer. @since 0.1.0 */
export * as Worker from "./Worker.js"

/** Configuration from the environment. @since 0.1.0 */
export * as WorkerConfig from "./WorkerConfig.js"

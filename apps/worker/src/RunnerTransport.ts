/**
 * The sockets between worker replicas (cluster runners), authenticated by a shared secret
 * (`WORKER_RUNNER_SECRET`). @effect/cluster's runners speak msgpack RPC over plain TCP with no
 * authentication of their own: anyone who reaches a runner's port could deliver messages to its
 * entities. Here every connection starts with a mutual challenge-response handshake before a single
 * byte of RPC is read; a peer that cannot prove the secret is disconnected and nothing it sent is
 * ever handed to the RPC server.
 *
 * The handshake, on a fresh TCP connection (fixed-size frames, HMAC-SHA256 keyed by the secret):
 *
 * 1. runner (server) -> peer: `magic (8 bytes) | serverNonce (32)`
 * 2. peer -> runner: `magic | clientNonce (32) | HMAC("client" | serverNonce | clientNonce)`
 * 3. runner -> peer, only when the proof holds: `HMAC("server" | serverNonce | clientNonce)`
 *
 * Fresh nonces on both sides make a recorded handshake useless for another connection, and the peer
 * checks the runner's proof too, so a replica never sends messages to something that does not hold the
 * secret. It authenticates the connection; it does not encrypt it (see the README on network isolation).
 *
 * @since 0.1.0
 */
import {
  type MessageStorage,
  RunnerHealth,
  Runners,
  type RunnerStorage,
  type Sharding,
  ShardingConfig,
  SocketRunner
} from "@effect/cluster"
import { Socket, SocketServer } from "@effect/platform"
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Clock, Data, Duration, Effect, Layer, LogLevel, Option, Redacted, type Scope } from "effect"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as Net from "node:net"

/**
 * The shortest shared secret accepted: 32 characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimumSecretLength = 32

const magic = Buffer.from("MXAGRUN1", "ascii")
const nonceBytes = 32
const macBytes = 32
const serverHelloBytes = magic.length + nonceBytes
const clientProofBytes = magic.length + nonceBytes + macBytes

/**
 * A handshake that did not complete: the peer sent something else than a valid proof (`Refused`),
 * went silent (`Timeout`), or the connection ended first (`Closed`).
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerHandshakeError extends Data.TaggedError("RunnerHandshakeError")<{
  readonly reason: "Refused" | "Timeout" | "Closed"
  readonly detail: string
}> {
  override get message() {
    return `runner handshake failed (${this.reason}): ${this.detail}`
  }
}

const mac = (secret: Redacted.Redacted<string>, role: "client" | "server", serverNonce: Buffer, clientNonce: Buffer) =>
  createHmac("sha256", Redacted.value(secret)).update(role).update(serverNonce).update(clientNonce).digest()

const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b)

/**
 * Reads exactly `size` bytes in paused mode (`read(size)` hands out nothing shorter), so that every
 * byte after the handshake stays in the socket's buffer for the RPC protocol that reads it next.
 */
const readExactly = (conn: Net.Socket, size: number): Effect.Effect<Buffer, RunnerHandshakeError> =>
  Effect.async<Buffer, RunnerHandshakeError>((resume) => {
    let done = false
    const finish = (result: Effect.Effect<Buffer, RunnerHandshakeError>) => {
      if (done) return
      done = true
      cleanup()
      resume(result)
    }
    const closed = () =>
      finish(Effect.fail(new RunnerHandshakeError({ reason: "Closed", detail: "the connection ended" })))
    const onReadable = () => {
      const chunk = conn.read(size) as Buffer | null
      if (chunk !== null) {
        finish(
          chunk.length === size
            ? Effect.succeed(chunk)
            : Effect.fail(new RunnerHandshakeError({ reason: "Closed", detail: "the connection ended" }))
        )
      } else if (conn.readableEnded) {
        closed()
      }
    }
    function cleanup() {
      conn.off("readable", onReadable)
      conn.off("end", closed)
      conn.off("close", closed)
      conn.off("error", closed)
    }
    conn.on("readable", onReadable)
    conn.on("end", closed)
    conn.on("close", closed)
    conn.on("error", closed)
    if (conn.destroyed) closed()
    else onReadable()
    return Effect.sync(cleanup)
  })

const write = (conn: Net.Socket, bytes: Buffer): Effect.Effect<void, RunnerHandshakeError> =>
  Effect.async<void, RunnerHandshakeError>((resume) => {
    conn.write(bytes, (error) =>
      resume(
        error === undefined || error === null
          ? Effect.void
          : Effect.fail(new RunnerHandshakeError({ reason: "Closed", detail: error.message }))
      ))
  })

const withDeadline = (timeout: Duration.DurationInput) => <A>(effect: Effect.Effect<A, RunnerHandshakeError>) =>
  Effect.timeoutFail(effect, {
    duration: timeout,
    onTimeout: () =>
      new RunnerHandshakeError({
        reason: "Timeout",
        detail: `no complete handshake within ${Duration.format(Duration.decode(timeout))}`
      })
  })

/**
 * The runner's side of the handshake on a new connection: succeeds only when the peer proved the
 * secret, and then only the RPC bytes that follow the proof remain to be read.
 *
 * @since 0.1.0
 * @category handshake
 */
export const acceptPeer = (
  conn: Net.Socket,
  secret: Redacted.Redacted<string>,
  timeout: Duration.DurationInput
): Effect.Effect<void, RunnerHandshakeError> =>
  Effect.gen(function*() {
    const serverNonce = randomBytes(nonceBytes)
    yield* write(conn, Buffer.concat([magic, serverNonce]))
    const proof = yield* readExactly(conn, clientProofBytes)
    const clientNonce = proof.subarray(magic.length, magic.length + nonceBytes)
    const given = proof.subarray(magic.length + nonceBytes)
    // Both checks always run, so the answer takes as long whichever part is wrong.
    const magicOk = sameBytes(proof.subarray(0, magic.length), magic)
    const macOk = sameBytes(given, mac(secret, "client", serverNonce, clientNonce))
    if (!magicOk || !macOk) {
      return yield* new RunnerHandshakeError({
        reason: "Refused",
        detail: magicOk ? "wrong proof of the runner secret" : "not a runner handshake"
      })
    }
    yield* write(conn, mac(secret, "server", serverNonce, clientNonce))
  }).pipe(withDeadline(timeout))

/**
 * The connecting side of the handshake: proves the secret and checks that the runner holds it too.
 *
 * @since 0.1.0
 * @category handshake
 */
export const connectToRunner = (
  conn: Net.Socket,
  secret: Redacted.Redacted<string>,
  timeout: Duration.DurationInput
): Effect.Effect<void, RunnerHandshakeError> =>
  Effect.gen(function*() {
    const hello = yield* readExactly(conn, serverHelloBytes)
    if (!sameBytes(hello.subarray(0, magic.length), magic)) {
      return yield* new RunnerHandshakeError({ reason: "Refused", detail: "the peer is not a runner" })
    }
    const serverNonce = hello.subarray(magic.length)
    const clientNonce = randomBytes(nonceBytes)
    yield* write(conn, Buffer.concat([magic, clientNonce, mac(secret, "client", serverNonce, clientNonce)]))
    const answer = yield* readExactly(conn, macBytes)
    if (!sameBytes(answer, mac(secret, "server", serverNonce, clientNonce))) {
      return yield* new RunnerHandshakeError({ reason: "Refused", detail: "the runner did not prove the secret" })
    }
  }).pipe(withDeadline(timeout))

/**
 * Options of the authenticated runner transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Shared by every replica of the cluster. */
  readonly secret: Redacted.Redacted<string>
  /** How long a new connection may take to complete its handshake (default 5 seconds). */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
}

const defaultHandshakeTimeout = Duration.seconds(5)

const realClock = Clock.make()

/**
 * A socket server whose connections reach `handler` only after the peer proved the secret. Any other
 * connection is destroyed without a byte of it read as RPC.
 *
 * @since 0.1.0
 * @category layers
 */
export const authenticateServer = (
  server: SocketServer.SocketServer["Type"],
  options: Options
): SocketServer.SocketServer["Type"] => ({
  address: server.address,
  run: (handler) =>
    server.run((socket) =>
      Effect.flatMap(Effect.serviceOption(NodeSocket.NetSocket), (conn) => {
        // NodeSocketServer hands each handler its raw connection; any other server cannot be authenticated.
        if (Option.isNone(conn)) return Effect.dieMessage("RunnerTransport: the socket server is not a Node one")
        const peer = `${conn.value.remoteAddress ?? "unknown"}:${conn.value.remotePort ?? "?"}`
        return acceptPeer(conn.value, options.secret, options.handshakeTimeout ?? defaultHandshakeTimeout).pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              // A peer that hangs up before proving anything (a port probe, a replica shutting down) is
              // no attempt at the secret.
              Effect.logWithLevel(
                error.reason === "Closed" ? LogLevel.Debug : LogLevel.Warning,
                "runner connection refused",
                error.message
              ).pipe(
                Effect.annotateLogs({ peer }),
                Effect.zipRight(Effect.sync(() => conn.value.destroy()))
              ),
            onSuccess: () => handler(socket)
          })
        )
      })
    )
})

/**
 * The runner's listening socket (at `runnerListenAddress`, else `runnerAddress`), authenticated.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSocketServer = (
  options: Options
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, ShardingConfig.ShardingConfig> =>
  Layer.scoped(
    SocketServer.SocketServer,
    Effect.gen(function*() {
      const config = yield* ShardingConfig.ShardingConfig
      const listen = Option.orElse(config.runnerListenAddress, () => config.runnerAddress)
      if (Option.isNone(listen)) return yield* Effect.dieMessage("RunnerTransport: no runner address to listen on")
      const server = yield* NodeSocketServer.make({ host: listen.value.host, port: listen.value.port })
      return authenticateServer(server, options)
    })
  )

const openAuthenticated = (
  address: { readonly host: string; readonly port: number },
  options: Options
): Effect.Effect<Net.Socket, Socket.SocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Socket.SocketError>((resume) => {
      const conn = Net.createConnection({ host: address.host, port: address.port })
      let connected = false
      // Kept for the connection's life: a later error reaches the RPC protocol as a close, never the
      // process as an unhandled 'error' event.
      conn.on("error", (cause) => {
        if (connected) return
        conn.destroy()
        resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause })))
      })
      conn.once("connect", () => {
        connected = true
        resume(Effect.succeed(conn))
      })
      return Effect.sync(() => conn.destroy())
    }),
    (conn) => Effect.sync(() => conn.destroy())
  ).pipe(
    Effect.tap((conn) =>
      connectToRunner(conn, options.secret, options.handshakeTimeout ?? defaultHandshakeTimeout).pipe(
        Effect.mapError((cause) => new Socket.SocketGenericError({ reason: "Open", cause }))
      )
    )
  )

/**
 * How a runner reaches another: a TCP connection that completes the handshake before the RPC client
 * uses it. A failed handshake is a failure to open, which the RPC client retries as it retries an
 * unreachable runner.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClientProtocol = (
  options: Options
): Layer.Layer<Runners.RpcClientProtocol, never, RpcSerialization.RpcSerialization> =>
  Layer.effect(
    Runners.RpcClientProtocol,
    Effect.map(RpcSerialization.RpcSerialization, (serialization) => (address) =>
      Effect.flatMap(
        // The open timeout covers the TCP connection and the handshake.
        NodeSocket.fromDuplex(openAuthenticated(address, options), {
          openTimeout: options.handshakeTimeout ?? defaultHandshakeTimeout
        }),
        (socket) =>
          RpcClient.makeProtocolSocket().pipe(
            Effect.provideService(Socket.Socket, socket),
            Effect.provideService(RpcSerialization.RpcSerialization, serialization)
          )
      ).pipe(
        // The connection's fibers (its open timeout, reconnections, pings) inherit the clock of whoever
        // sent the first message: on a time-scaled MX clock (`MxTime`) the open timeout would shrink by
        // the scale and cut handshakes short. Connections between runners keep real time.
        Effect.withClock(realClock)
      ))
  )

/**
 * A cluster runner over authenticated sockets: what `NodeClusterSocket.layer({ storage: "byo" })` of
 * @effect/platform-node builds (socket runner, msgpack serialization, runner health by ping), with
 * the handshake on every connection, in both directions (the health pings included).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  Sharding.Sharding | Runners.Runners,
  SocketServer.SocketServerError,
  MessageStorage.MessageStorage | RunnerStorage.RunnerStorage | ShardingConfig.ShardingConfig
> => {
  const clientProtocol = layerClientProtocol(options)
  return SocketRunner.layer.pipe(
    Layer.provide([layerSocketServer(options), clientProtocol]),
    Layer.provide(RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(clientProtocol))),
    Layer.provide(RpcSerialization.layerMsgPack)
  )
}

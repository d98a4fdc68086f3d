/**
 * Runner traffic is authenticated: worker replicas (cluster runners on one PostgreSQL database, over
 * sockets on 127.0.0.1) that share `WORKER_RUNNER_SECRET` deliver messages to each other, and a peer
 * that cannot prove the secret gets nothing served: no message of it reaches an entity.
 *
 * The oracle is a volatile test entity registered on every replica (a volatile message is never
 * stored: it reaches its entity only through the runner's socket) that records what it received.
 */
import { Entity, EntityAddress, EntityId, EntityType, Runners, Sharding, Snowflake } from "@effect/cluster"
import { Headers, Socket as SocketApi } from "@effect/platform"
import { NodeClusterSocket, NodeHttpClient, NodeSocket } from "@effect/platform-node"
import { Rpc, RpcClient, RpcSerialization } from "@effect/rpc"
import { assert, describe, it } from "@effect/vitest"
import { MxClient } from "@mx-aggregation/mx-api"
import { Database, TestDatabase } from "@mx-aggregation/store"
import { EngineConfig, MxTime, RunnerTransport, Worker, WorkerConfig } from "@mx-aggregation/worker"
import {
  type Clock,
  ConfigProvider,
  Context,
  Effect,
  Either,
  Exit,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema
} from "effect"
import { createHmac, randomBytes } from "node:crypto"
import { createConnection, createServer, type Socket } from "node:net"

const secret = Redacted.make("security-runners-secret-5e0d9c2a7b41f386")
const wrongSecret = Redacted.make("security-runners-wrong-secret-11aa22bb33cc44dd")

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A volatile entity: every message it handles is recorded with the runner that handled it. */
const Echo = Entity.make("SecurityEcho", [
  Rpc.make("Echo", { payload: { text: Schema.String }, success: Schema.String })
])

interface Replica {
  readonly port: number
  readonly sharding: Sharding.Sharding["Type"]
  /** The texts the replica's Echo entities received. */
  readonly received: Array<string>
  readonly echo: (entityId: string, text: string) => Effect.Effect<string, unknown>
}

/** One replica: the worker's engine as a cluster runner with `secret`, plus the Echo entity. */
const replica = (database: Database.DatabaseConfig, runnerSecret: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const received: Array<string> = []
    const engine = yield* Layer.build(
      Worker.layerEngine({
        runner: { host: "127.0.0.1", port, secret: runnerSecret, handshakeTimeout: "2 seconds" }
      }).pipe(
        // No run is started: the MX client is never called.
        Layer.provide(MxClient.layer({ baseUrl: "http://127.0.0.1:9", clientId: "unused", apiKey: secret })),
        Layer.provide(EngineConfig.layer()),
        Layer.provide(Database.layerFrom(database)),
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
    const echoLayer = Echo.toLayer(Effect.succeed(Echo.of({
      Echo: ({ payload }) =>
        Effect.sync(() => {
          received.push(payload.text)
          return `${port}:${payload.text}`
        })
    })))
    yield* Layer.build(echoLayer.pipe(Layer.provide(Layer.succeedContext(engine))))
    const sharding = Context.get(engine, Sharding.Sharding)
    const client = yield* Effect.provide(Echo.client, engine)
    return {
      port,
      sharding,
      received,
      echo: (entityId: string, text: string) => client(entityId).Echo({ text })
    } satisfies Replica
  })

const runs = (r: Replica, entityId: string) =>
  r.sharding.hasShardId(r.sharding.getShardId(EntityId.make(entityId), "default"))

/** An Echo entity id whose shard `owner` holds and `other` does not (once the shards are assigned). */
const entityOwnedBy = (owner: Replica, other: Replica) =>
  Effect.gen(function*() {
    for (let i = 0; i < 300; i++) {
      const id = `echo-${i}`
      if (runs(owner, id) && !runs(other, id)) return id
    }
    return yield* Effect.fail("shards not assigned yet" as const)
  }).pipe(
    Effect.retry(Schedule.spaced("100 millis")),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("no shard assignment within 60 s") })
  )

/** An Echo entity id whose shard `owner` holds (the only runner). */
const entityOn = (owner: Replica) =>
  Effect.gen(function*() {
    for (let i = 0; i < 300; i++) if (runs(owner, `echo-${i}`)) return `echo-${i}`
    return yield* Effect.fail("shards not assigned yet" as const)
  }).pipe(
    Effect.retry(Schedule.spaced("100 millis")),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("no shard assignment within 60 s") })
  )

/**
 * A raw Runners RPC client to the runner at `port` over `protocol` (the cluster's own wire format),
 * sending one volatile Echo request to `entityId`.
 */
const sendEcho = (
  protocol: Layer.Layer<Runners.RpcClientProtocol, never, RpcSerialization.RpcSerialization>,
  target: Replica,
  entityId: string,
  text: string,
  clock?: Clock.Clock
) =>
  Effect.gen(function*() {
    const makeProtocol = yield* Runners.RpcClientProtocol
    const client = yield* Runners.makeRpcClient.pipe(
      Effect.provideServiceEffect(RpcClient.Protocol, makeProtocol({ host: "127.0.0.1", port: target.port } as never))
    )
    const id = EntityId.make(entityId)
    return yield* client.Effect({
      request: {
        _tag: "Request",
        requestId: Snowflake.Snowflake(BigInt(Date.now()) << 22n),
        address: EntityAddress.make({
          shardId: target.sharding.getShardId(id, "default"),
          entityType: EntityType.EntityType.make("SecurityEcho"),
          entityId: id
        }),
        tag: "Echo",
        payload: { text },
        headers: Headers.empty
      },
      persisted: false
    })
  }).pipe(
    (effect) => clock === undefined ? effect : Effect.withClock(effect, clock),
    Effect.timeout("8 seconds"),
    Effect.scoped,
    Effect.provide(protocol.pipe(Layer.provide(RpcSerialization.layerMsgPack)))
  )

/** The first `size` bytes of a connection, in paused mode (nothing after them is consumed). */
const readBytes = (conn: Socket, size: number) =>
  Effect.async<Buffer, Error>((resume) => {
    const onReadable = () => {
      const chunk = conn.read(size) as Buffer | null
      if (chunk === null) return
      conn.off("readable", onReadable)
      resume(Effect.succeed(chunk))
    }
    conn.on("readable", onReadable)
    conn.once("close", () => resume(Effect.fail(new Error("closed"))))
    onReadable()
  })

/**
 * An attacker that knows the protocol but not the secret: it answers the runner's challenge with a
 * proof made with `peerSecret` and, without waiting for any answer, speaks RPC on the connection. Only
 * the runner's own check stands between its messages and the entity.
 */
const attackerProtocol = (
  peerSecret: Redacted.Redacted<string>
): Layer.Layer<Runners.RpcClientProtocol, never, RpcSerialization.RpcSerialization> =>
  Layer.effect(
    Runners.RpcClientProtocol,
    Effect.map(RpcSerialization.RpcSerialization, (serialization) => (address) => {
      const open = Effect.acquireRelease(
        Effect.async<Socket>((resume) => {
          const conn = createConnection({ host: address.host, port: address.port })
          conn.on("error", () => {})
          conn.once("connect", () => resume(Effect.succeed(conn)))
        }),
        (conn) => Effect.sync(() => conn.destroy())
      ).pipe(
        Effect.tap((conn) =>
          Effect.map(readBytes(conn, 40), (hello) => {
            const serverNonce = hello.subarray(8)
            const clientNonce = randomBytes(32)
            const proof = createHmac("sha256", Redacted.value(peerSecret)).update("client").update(serverNonce)
              .update(clientNonce).digest()
            conn.write(Buffer.concat([hello.subarray(0, 8), clientNonce, proof]))
          })
        ),
        Effect.mapError((cause) => new SocketApi.SocketGenericError({ reason: "Open", cause }))
      )
      return Effect.flatMap(NodeSocket.fromDuplex(open), (socket) =>
        RpcClient.makeProtocolSocket().pipe(
          Effect.provideService(SocketApi.Socket, socket),
          Effect.provideService(RpcSerialization.RpcSerialization, serialization)
        ))
    })
  )

/** Everything a raw TCP peer receives from `port` until the runner closes the connection. */
const rawPeer = (port: number, onHello: (socket: Socket) => void) =>
  Effect.async<{ readonly bytes: Buffer; readonly closed: boolean }>((resume) => {
    const chunks: Array<Buffer> = []
    let helloSeen = false
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.on("data", (chunk) => {
      chunks.push(chunk)
      if (!helloSeen && Buffer.concat(chunks).length >= 40) {
        helloSeen = true
        onHello(socket)
      }
    })
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed({ bytes: Buffer.concat(chunks), closed: true })))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("the runner kept the connection") }))

describe("runner traffic is authenticated", () => {
  it.live("replicas sharing the secret deliver messages to each other", () =>
    Effect.gen(function*() {
      const database = yield* TestDatabase.fresh("pg")
      const a = yield* replica(database, secret)
      const b = yield* replica(database, secret)
      const onB = yield* entityOwnedBy(b, a)
      const onA = yield* entityOwnedBy(a, b)
      assert.strictEqual(yield* a.echo(onB, "from a"), `${b.port}:from a`)
      assert.strictEqual(yield* b.echo(onA, "from b"), `${a.port}:from b`)
      assert.deepStrictEqual(b.received, ["from a"])
      assert.deepStrictEqual(a.received, ["from b"])
    }).pipe(Effect.scoped), 120_000)

  it.live("a peer without the secret, or with a wrong one, gets no message delivered", () =>
    Effect.gen(function*() {
      const database = yield* TestDatabase.fresh("pg")
      const target = yield* replica(database, secret)
      const entityId = yield* entityOn(target)

      // @effect/cluster's own client, which knows no handshake: its request bytes are read as a proof.
      const stock = yield* sendEcho(NodeClusterSocket.layerClientProtocol, target, entityId, "stock").pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(stock), "the stock client gets no reply")
      // A client that answers the challenge with a wrong secret and speaks RPC at once.
      const wrong = yield* sendEcho(attackerProtocol(wrongSecret), target, entityId, "wrong").pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(wrong), "the wrong secret gets no reply")
      assert.deepStrictEqual(target.received, [], "no message reached the entity")

      // The same request through the transport with the secret is served: the two above failed for the
      // secret alone.
      const right = yield* sendEcho(RunnerTransport.layerClientProtocol({ secret }), target, entityId, "right")
      assert.strictEqual(right._tag, "WithExit")
      assert.deepStrictEqual(target.received, ["right"])
    }).pipe(Effect.scoped), 120_000)

  it.live("a connection first used on MX time (a time-scaled clock) still authenticates", () =>
    Effect.gen(function*() {
      // The worker sends from activities that run on MX time; the connection's open timeout must not
      // shrink with the scale (here 5 s of handshake deadline would be 50 microseconds of real time).
      const database = yield* TestDatabase.fresh("pg")
      const target = yield* replica(database, secret)
      const entityId = yield* entityOn(target)
      const reply = yield* sendEcho(
        RunnerTransport.layerClientProtocol({ secret }),
        target,
        entityId,
        "on mx time",
        MxTime.make(100_000)
      )
      assert.strictEqual(reply._tag, "WithExit")
      assert.deepStrictEqual(target.received, ["on mx time"])
    }).pipe(Effect.scoped), 120_000)

  it.live(
    "a raw peer gets the runner's challenge and then a closed connection, whatever it sends",
    () =>
      Effect.gen(function*() {
        const database = yield* TestDatabase.fresh("pg")
        const target = yield* replica(database, secret)
        // A proof-sized frame of garbage; a stream of bytes longer than any proof; nothing at all (the
        // handshake deadline closes it).
        const garbage = yield* rawPeer(target.port, (socket) => socket.write(Buffer.alloc(72, 7)))
        const flood = yield* rawPeer(target.port, (socket) => socket.write(Buffer.alloc(64 * 1024, 1)))
        const silent = yield* rawPeer(target.port, () => {})
        for (const peer of [garbage, flood, silent]) {
          assert.isTrue(peer.closed)
          // The challenge (magic + nonce) and not one byte more: no proof of the runner, no RPC answer.
          assert.strictEqual(peer.bytes.length, 40)
          assert.strictEqual(peer.bytes.subarray(0, 8).toString("ascii"), "MXAGRUN1")
        }
        assert.notStrictEqual(
          garbage.bytes.subarray(8).toString("hex"),
          silent.bytes.subarray(8).toString("hex"),
          "a new challenge per connection"
        )
        assert.deepStrictEqual(target.received, [])
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("WORKER_RUNNER_SECRET", () => {
  const parse = (env: Record<string, string>) =>
    Effect.either(Effect.withConfigProvider(WorkerConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))
  const value = Redacted.value(secret)

  it.effect("is required with WORKER_RUNNER_PORT", () =>
    Effect.gen(function*() {
      const config = yield* parse({ WORKER_RUNNER_PORT: "34431" })
      assert(Either.isLeft(config))
      assert.include(String(config.left), "WORKER_RUNNER_SECRET must be set when WORKER_RUNNER_PORT is")
    }))

  it.effect("must be at least 32 characters, and the refusal does not print it", () =>
    Effect.gen(function*() {
      const short = "s".repeat(31) + "X"
      const config = yield* parse({ WORKER_RUNNER_PORT: "34431", WORKER_RUNNER_SECRET: short.slice(1) })
      assert(Either.isLeft(config))
      assert.include(String(config.left), "WORKER_RUNNER_SECRET must be at least 32 characters")
      assert.notInclude(String(config.left), short.slice(1))
    }))

  it.effect("is kept Redacted in the configuration", () =>
    Effect.gen(function*() {
      const config = yield* parse({ WORKER_RUNNER_PORT: "34431", WORKER_RUNNER_SECRET: value })
      assert(Either.isRight(config))
      const runner = Option.getOrThrow(config.right.runner)
      assert.isTrue(Redacted.isRedacted(runner.secret))
      assert.strictEqual(Redacted.value(runner.secret), value)
      assert.notInclude(JSON.stringify(config.right), value)
      assert.notInclude(String(runner.secret), value)
    }))

  it.effect("is not needed without WORKER_RUNNER_PORT (a single process has no runner port)", () =>
    Effect.gen(function*() {
      const config = yield* parse({})
      assert(Either.isRight(config))
      assert.isTrue(Option.isNone(config.right.runner))
    }))
})

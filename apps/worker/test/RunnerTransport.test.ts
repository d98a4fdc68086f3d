/**
 * The runner handshake on real TCP connections over 127.0.0.1: both sides prove the secret, the bytes
 * that follow the handshake reach the RPC protocol intact, and every way of not knowing the secret
 * (a wrong one, a replayed proof, an impostor runner, silence) ends the handshake with a typed error.
 * Deadlines run on the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Fiber, Redacted, type Scope, TestClock } from "effect"
import { randomBytes } from "node:crypto"
import { createConnection, createServer, type Socket } from "node:net"
import * as RunnerTransport from "../src/RunnerTransport.js"

const secret = Redacted.make("unit-runner-secret-0f1e2d3c4b5a69788796")
const other = Redacted.make("unit-runner-other-secret-a1b2c3d4e5f60718")

/** A connected pair of TCP sockets: the runner's end and the peer's end. */
const socketPair: Effect.Effect<{ readonly runner: Socket; readonly peer: Socket }, never, Scope.Scope> = Effect
  .acquireRelease(
    Effect.async<{ readonly runner: Socket; readonly peer: Socket; readonly close: () => void }>((resume) => {
      const server = createServer((runner) => {
        runner.on("error", () => {})
        resume(Effect.succeed({ runner, peer, close: () => server.close() }))
      })
      let peer!: Socket
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        peer = createConnection({ host: "127.0.0.1", port })
        peer.on("error", () => {})
      })
    }),
    ({ close, peer, runner }) =>
      Effect.sync(() => {
        peer.destroy()
        runner.destroy()
        close()
      })
  )

/** The next `size` bytes of a socket, in flowing mode (as the RPC protocol reads them). */
const nextBytes = (socket: Socket, size: number) =>
  Effect.async<Buffer>((resume) => {
    const chunks: Array<Buffer> = []
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      const all = Buffer.concat(chunks)
      if (all.length >= size) {
        socket.off("data", onData)
        resume(Effect.succeed(all))
      }
    }
    socket.on("data", onData)
  })

/** Everything a socket receives until the other end closes it. */
const untilClosed = (socket: Socket) =>
  Effect.async<Buffer>((resume) => {
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("close", () => resume(Effect.succeed(Buffer.concat(chunks))))
  })

describe("RunnerTransport handshake", () => {
  it.live("with the same secret both sides succeed, and the bytes after it reach the RPC protocol intact", () =>
    Effect.gen(function*() {
      const { peer, runner } = yield* socketPair
      const rpcBytes = Buffer.from("first rpc frame, sent right after the handshake")
      const accepted = yield* Effect.fork(RunnerTransport.acceptPeer(runner, secret, "30 seconds"))
      yield* RunnerTransport.connectToRunner(peer, secret, "30 seconds")
      peer.write(rpcBytes)
      yield* Fiber.join(accepted)
      assert.strictEqual((yield* nextBytes(runner, rpcBytes.length)).toString(), rpcBytes.toString())
      // And the other way round: nothing of the handshake is left over for the peer's protocol either.
      runner.write("reply")
      assert.strictEqual((yield* nextBytes(peer, 5)).toString(), "reply")
    }).pipe(Effect.scoped))

  it.live("a peer with another secret is refused, and gets no proof from the runner", () =>
    Effect.gen(function*() {
      const { peer, runner } = yield* socketPair
      const accepted = yield* Effect.fork(Effect.either(RunnerTransport.acceptPeer(runner, secret, "30 seconds")))
      const connected = yield* Effect.fork(Effect.either(RunnerTransport.connectToRunner(peer, other, "30 seconds")))
      const refused = yield* Fiber.join(accepted)
      assert(Either.isLeft(refused))
      assert.strictEqual(refused.left.reason, "Refused")
      assert.include(refused.left.message, "wrong proof")
      // As the runner's server does on a refusal: hang up without answering.
      runner.destroy()
      const result = yield* Fiber.join(connected)
      assert(Either.isLeft(result))
      assert.strictEqual(result.left.reason, "Closed")
    }).pipe(Effect.scoped))

  it.live("a proof recorded on one connection is refused on another (a new challenge per connection)", () =>
    Effect.gen(function*() {
      const first = yield* socketPair
      const accepted = yield* Effect.fork(RunnerTransport.acceptPeer(first.runner, secret, "30 seconds"))
      // Record what the genuine peer sends.
      const sent: Array<Buffer> = []
      const write = first.peer.write.bind(first.peer)
      first.peer.write = ((chunk: Buffer, ...rest: Array<never>) => {
        sent.push(Buffer.from(chunk))
        return write(chunk, ...rest)
      }) as typeof first.peer.write
      yield* RunnerTransport.connectToRunner(first.peer, secret, "30 seconds")
      yield* Fiber.join(accepted)
      const proof = Buffer.concat(sent)
      assert.strictEqual(proof.length, 72)

      // Replayed on a new connection, after reading the new challenge.
      const second = yield* socketPair
      const replayed = yield* Effect.fork(
        Effect.either(RunnerTransport.acceptPeer(second.runner, secret, "30 seconds"))
      )
      yield* nextBytes(second.peer, 40)
      second.peer.write(proof)
      const result = yield* Fiber.join(replayed)
      assert(Either.isLeft(result))
      assert.strictEqual(result.left.reason, "Refused")
    }).pipe(Effect.scoped))

  it.live("an impostor runner (no secret) is refused by the peer, which then sends nothing more", () =>
    Effect.gen(function*() {
      const { peer, runner } = yield* socketPair
      // The impostor speaks the protocol but cannot compute the runner's proof: it answers random bytes.
      runner.write(Buffer.concat([Buffer.from("MXAGRUN1", "ascii"), randomBytes(32)]))
      const received = yield* Effect.fork(nextBytes(runner, 72))
      const connected = yield* Effect.fork(Effect.either(RunnerTransport.connectToRunner(peer, secret, "30 seconds")))
      yield* Fiber.join(received)
      const afterProof = yield* Effect.fork(untilClosed(runner))
      runner.write(randomBytes(32))
      const result = yield* Fiber.join(connected)
      assert(Either.isLeft(result))
      assert.strictEqual(result.left.reason, "Refused")
      assert.strictEqual(result.left.detail, "the runner did not prove the secret")
      // What the transport does on a failed open: close the connection.
      peer.destroy()
      assert.strictEqual((yield* Fiber.join(afterProof)).length, 0, "no byte after the proof")
    }).pipe(Effect.scoped))

  it.live("a peer that is not a runner handshake at all is refused on the first frame", () =>
    Effect.gen(function*() {
      const { peer, runner } = yield* socketPair
      const received = yield* Effect.fork(untilClosed(peer))
      const accepted = yield* Effect.fork(Effect.either(RunnerTransport.acceptPeer(runner, secret, "30 seconds")))
      yield* nextBytes(peer, 40)
      peer.write(Buffer.alloc(72, 0x41))
      const result = yield* Fiber.join(accepted)
      assert(Either.isLeft(result))
      assert.strictEqual(result.left.detail, "not a runner handshake")
      runner.destroy()
      assert.strictEqual((yield* Fiber.join(received)).length, 40, "only the challenge was ever sent")
    }).pipe(Effect.scoped))

  it.effect("a silent peer is dropped when the handshake deadline passes", () =>
    Effect.gen(function*() {
      const { peer, runner } = yield* socketPair
      const accepted = yield* Effect.fork(Effect.either(RunnerTransport.acceptPeer(runner, secret, "5 seconds")))
      // The challenge has gone out: the handshake (and its deadline) is under way.
      yield* nextBytes(peer, 40)
      yield* TestClock.adjust("4 seconds")
      assert.isNull(accepted.unsafePoll(), "still waiting before the deadline")
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(accepted)
      assert(Either.isLeft(result))
      assert.strictEqual(result.left.reason, "Timeout")
    }).pipe(Effect.scoped))
})

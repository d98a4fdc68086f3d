/**
 * HTTPS for the worker's listeners (the control API and the MX webhook listener): a certificate chain
 * and its private key, read once at start-up from the files that `WORKER_TLS_CERT_FILE` and
 * `WORKER_TLS_KEY_FILE` name. Without them the listeners serve plain HTTP (for loopback, or behind a
 * proxy that terminates TLS).
 *
 * @since 0.1.0
 */
import { Config, ConfigError, Data, Effect, Either, Option, Redacted } from "effect"
import { readFile } from "node:fs/promises"
import * as Http from "node:http"
import * as Https from "node:https"
import { createSecureContext } from "node:tls"

/**
 * Where the certificate chain and the private key are (PEM files).
 *
 * @since 0.1.0
 * @category models
 */
export interface Files {
  readonly certFile: string
  readonly keyFile: string
}

/**
 * A certificate chain and its private key, read and checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  readonly cert: string
  readonly key: Redacted.Redacted<string>
}

/**
 * `WORKER_TLS_CERT_FILE` and `WORKER_TLS_KEY_FILE`: both, or neither (plain HTTP).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Option.Option<Files>> = Config.all({
  certFile: Config.option(Config.nonEmptyString("WORKER_TLS_CERT_FILE")),
  keyFile: Config.option(Config.nonEmptyString("WORKER_TLS_KEY_FILE"))
}).pipe(
  Config.mapOrFail(({ certFile, keyFile }) => {
    if (Option.isSome(certFile) && Option.isSome(keyFile)) {
      return Either.right(Option.some({ certFile: certFile.value, keyFile: keyFile.value }))
    }
    if (Option.isNone(certFile) && Option.isNone(keyFile)) return Either.right(Option.none())
    const missing = Option.isNone(certFile) ? "WORKER_TLS_CERT_FILE" : "WORKER_TLS_KEY_FILE"
    return Either.left(ConfigError.InvalidData(
      [missing],
      "WORKER_TLS_CERT_FILE and WORKER_TLS_KEY_FILE go together: set both (HTTPS) or neither (plain HTTP)"
    ))
  })
)

/**
 * The TLS files could not be used: unreadable, or not a PEM certificate chain with its private key.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsError extends Data.TaggedError("TlsError")<{
  /** The variable that names the file at fault, or both when the pair does not match. */
  readonly variable: string
  readonly message: string
}> {}

const read = (variable: string, path: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) =>
      new TlsError({
        variable,
        message: `${variable}: cannot read ${path} (${
          (error as NodeJS.ErrnoException | undefined)?.code ?? String(error)
        })`
      })
  })

/**
 * Reads the certificate chain and the key, and checks that they make a TLS context (PEM, and a key
 * that belongs to the certificate), so that a mistake stops start-up instead of every handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (files: Files): Effect.Effect<Credentials, TlsError> =>
  Effect.gen(function*() {
    const cert = yield* read("WORKER_TLS_CERT_FILE", files.certFile)
    const key = yield* read("WORKER_TLS_KEY_FILE", files.keyFile)
    yield* Effect.try({
      try: () => createSecureContext({ cert, key }),
      // The library's message may quote neither file's content; it names what failed (e.g. a key
      // that does not match the certificate).
      catch: (error) =>
        new TlsError({
          variable: "WORKER_TLS_CERT_FILE, WORKER_TLS_KEY_FILE",
          message: `WORKER_TLS_CERT_FILE / WORKER_TLS_KEY_FILE (${files.certFile}, ${files.keyFile}) are not a PEM ` +
            `certificate chain and its private key: ${error instanceof Error ? error.message : String(error)}`
        })
    })
    return { cert, key: Redacted.make(key) }
  })

/**
 * The server of a listener, for `NodeHttpServer.layer`: HTTPS with the credentials, plain HTTP
 * without.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServer = (credentials: Credentials | undefined) => (): Http.Server =>
  credentials === undefined
    ? Http.createServer()
    : Https.createServer({ cert: credentials.cert, key: Redacted.value(credentials.key) })

import { Args, Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"

const n = Options.integer("limit").pipe(Options.withDefault(1))
const kv = Options.keyValueMap("answer").pipe(Options.optional)
const cls = Options.choice("status-class", ["Connected", "Challenged"]).pipe(Options.optional)
const a = Command.make(
  "a",
  { n, kv, cls, who: Args.text({ name: "who" }) },
  ({ n, who, kv, cls }) => Console.log("a", n, who, kv, cls)
)
const b = Command.make("b", {}, () => Console.log("b"))
const grp = Command.make("grp").pipe(Command.withSubcommands([a, b]))
const url = Options.text("url").pipe(Options.withDefault("http://x"))
const root = Command.make("mx", { url }).pipe(Command.withSubcommands([grp, b]))
const cli = Command.run(root, { name: "mx", version: "0.1.0" })
cli(process.argv).pipe(
  Effect.tapErrorCause((c) => Console.log("CAUGHT", String(c).slice(0, 300))),
  Effect.catchAll(() => Effect.void),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)

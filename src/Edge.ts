// What the app stands on, built before it: the shutdown state and its settings, and the listener built on them.
import * as Layer from "effect/Layer"
import type { Listener, ListenError } from "./http/Listener.js"
import { Shutdown, type ShutdownSettings } from "./Shutdown.js"

export const make = <E, R>(
  listener: Layer.Layer<Listener, E | ListenError, R | Shutdown | ShutdownSettings>,
  settings: Layer.Layer<ShutdownSettings, E, R>
): Layer.Layer<Listener | Shutdown | ShutdownSettings, E | ListenError, R> =>
  listener.pipe(Layer.provideMerge(Layer.merge(Shutdown.layer, settings)))

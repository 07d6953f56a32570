// The status page's script, run in the browser: polls `GET /status` once a second and draws the report into the
// page's static shell. A failed poll keeps the last report on screen, marked as stale, with when contact was lost.
// Compiled by esbuild into the string served as /status/app.js (see src/http/StatusPageScript.ts).
import type { StatusReport } from "../Status.js"

type DependencyReport = StatusReport["dependencies"][string]
type Segment = DependencyReport["uptime"][number]
type LatencyPoint = DependencyReport["latencySeries"][number]
type Windows = StatusReport["windows"]

const pollMillis = 1_000
/** A hidden tab polls less; it catches up at once when shown again. */
const hiddenPollMillis = 10_000
/** A poll that takes longer than this counts as lost contact. */
const requestTimeoutMillis = 2_500
const changesShown = 20

const labels: Readonly<Record<string, string>> = { database: "PostgreSQL", redis: "Redis" }
const labelOf = (name: string) => labels[name] ?? name

const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`the page has no #${id}`)
  return element as T
}

const element = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] => {
  const created = document.createElement(tag)
  if (className !== undefined) created.className = className
  if (text !== undefined) created.textContent = text
  return created
}

const svgNamespace = "http://www.w3.org/2000/svg"
const svg = <K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string>) => {
  const created = document.createElementNS(svgNamespace, tag)
  for (const [name, value] of Object.entries(attributes)) created.setAttribute(name, value)
  return created
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const pad = (n: number) => String(n).padStart(2, "0")
const clock = (date: Date) => `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
const hourMinute = (date: Date) => `${pad(date.getHours())}:${pad(date.getMinutes())}`
const isToday = (date: Date, now: Date) => date.toDateString() === now.toDateString()
/** A time of day, with the date when it is not today. */
const when = (date: Date, now = new Date()) =>
  isToday(date, now) ?
    clock(date) :
    `${date.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${clock(date)}`

const duration = (millis: number) => {
  const seconds = Math.max(0, Math.floor(millis / 1000))
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ${minutes % 60} min`
  return `${Math.floor(hours / 24)} d ${hours % 24} h`
}

const percent = (ratio: number | null) => {
  if (ratio === null) return "no data"
  if (ratio === 1) return "100 %"
  // Never round a failure up to 100 %.
  return `${(Math.floor(ratio * 10_000) / 100).toFixed(2)} %`
}

const milliseconds = (ms: number | null) => ms === null ? "–" : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`

// ---------------------------------------------------------------------------------------------------------------
// State

type Overall = "ready" | "not-ready" | "shutting-down" | "unknown" | "loading"

const overallOf = (report: StatusReport): Overall => {
  const dependencies = Object.values(report.dependencies)
  if (dependencies.length > 0 && dependencies.every((d) => d.error === "shutting down")) return "shutting-down"
  return report.status === "ready" ? "ready" : "not-ready"
}

const overallText: Record<Overall, { readonly icon: string; readonly label: string }> = {
  ready: { icon: "✓", label: "Ready" },
  "not-ready": { icon: "✕", label: "Not ready" },
  "shutting-down": { icon: "⏻", label: "Shutting down" },
  unknown: { icon: "?", label: "Unknown: no contact" },
  loading: { icon: "…", label: "Loading" }
}

const dependencyText = (dependency: DependencyReport) =>
  dependency.status === "up"
    ? { icon: "✓", label: "Up" }
    : { icon: "✕", label: dependency.error === undefined ? "Down" : `Down: ${dependency.error}` }

let lastReport: StatusReport | undefined
/** When the last report arrived, by the browser's clock. */
let lastReceivedAt: Date | undefined
let lostSince: Date | undefined
/** What was last announced per thing, so a screen reader hears changes, not every poll. */
const announced = new Map<string, string>()

const announce = (message: string) => {
  const announcer = byId("announcer")
  // A new node each time: some screen readers ignore a live region whose text is set to the same value again.
  announcer.replaceChildren(element("span", undefined, message))
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing

const drawAvailability = (list: HTMLElement, windows: Windows) => {
  const entries: Array<[string, number | null]> = [
    ["1 h", windows.lastHour.availability],
    ["24 h", windows.lastDay.availability],
    ["since start", windows.sinceStart.availability]
  ]
  list.replaceChildren(...entries.map(([term, ratio]) => {
    const row = element("div")
    row.append(element("dt", undefined, term), element("dd", undefined, percent(ratio)))
    return row
  }))
}

const segmentClass = (availability: number | null) =>
  availability === null
    ? "seg-none"
    : availability === 1
    ? "seg-full"
    : availability >= 0.99
    ? "seg-high"
    : availability >= 0.9
    ? "seg-partial"
    : "seg-low"

const segmentTitle = (segment: Segment) => {
  const start = new Date(segment.start)
  const end = new Date(start.getTime() + 15 * 60_000)
  const span = `${hourMinute(start)}–${hourMinute(end)}`
  if (segment.availability === null) return `${span}: no data`
  const upSeconds = segment.availability * segment.observedSeconds
  return `${span}: ${percent(segment.availability)} up (${duration(upSeconds * 1000)} of ${
    duration(segment.observedSeconds * 1000)
  } observed)`
}

interface Card {
  readonly root: HTMLElement
  readonly icon: HTMLElement
  readonly state: HTMLElement
  readonly since: HTMLElement
  readonly availability: HTMLElement
  readonly bar: HTMLElement
  readonly segments: Array<HTMLElement>
  readonly barStart: HTMLElement
  readonly chart: SVGSVGElement
  readonly p50: SVGPathElement
  readonly p99: SVGPathElement
  readonly chartMax: HTMLElement
  readonly latencyNow: HTMLElement
}

const cards = new Map<string, Card>()

const makeCard = (name: string, segmentCount: number): Card => {
  const root = element("article", "dependency")
  root.id = `dependency-${name}`
  const headingId = `dependency-${name}-heading`
  root.setAttribute("aria-labelledby", headingId)

  const header = element("header")
  const heading = element("h3", undefined, labelOf(name))
  heading.id = headingId
  const stateLine = element("p", "state")
  const icon = element("span", "icon")
  icon.setAttribute("aria-hidden", "true")
  const state = element("span", "state-text")
  stateLine.append(icon, state)
  header.append(heading, stateLine)
  const since = element("p", "since")

  const availabilityHeading = element("h4", undefined, "Availability")
  const availability = element("dl", "availability")

  const barHeading = element("h4", undefined, "Uptime, last 24 hours")
  const bar = element("div", "bar")
  bar.setAttribute("role", "img")
  const segments = Array.from({ length: segmentCount }, () => bar.appendChild(element("span")))
  const axis = element("div", "bar-axis")
  const barStart = element("span")
  axis.append(barStart, element("span", undefined, "now"))
  const legend = element("ul", "legend")
  legend.setAttribute("aria-label", "Colours of the uptime bar")
  for (
    const [className, text] of [
      ["seg-full", "100 %"],
      ["seg-high", "≥ 99 %"],
      ["seg-partial", "≥ 90 %"],
      ["seg-low", "< 90 %"],
      ["seg-none", "no data"]
    ] as const
  ) {
    const item = element("li")
    const swatch = element("span", className)
    swatch.setAttribute("aria-hidden", "true")
    item.append(swatch, text)
    legend.append(item)
  }

  const latencyHeading = element("h4", undefined, "Check latency, last 5 minutes")
  const latencyNow = element("p", "latency-now")
  const scale = element("div", "chart-scale")
  const chartMax = element("span")
  scale.append(chartMax, element("span", undefined, ""))
  const chart = svg("svg", { class: "chart", viewBox: "0 0 300 100", preserveAspectRatio: "none", role: "img" })
  for (const y of [0, 50, 100]) chart.append(svg("line", { class: "grid", x1: "0", x2: "300", y1: `${y}`, y2: `${y}` }))
  const p50 = svg("path", { class: "p50", d: "" })
  const p99 = svg("path", { class: "p99", d: "" })
  chart.append(p99, p50)
  const axisLatency = element("div", "bar-axis")
  axisLatency.append(element("span", undefined, "5 min ago"), element("span", undefined, "now"))
  const key = element("p", "chart-key")
  const p50Key = element("span", "key-p50")
  const p99Key = element("span", "key-p99")
  p50Key.setAttribute("aria-hidden", "true")
  p99Key.setAttribute("aria-hidden", "true")
  key.append(p50Key, "p50 ", p99Key, "p99 (dashed)")

  root.append(
    header,
    since,
    availabilityHeading,
    availability,
    barHeading,
    bar,
    axis,
    legend,
    latencyHeading,
    latencyNow,
    scale,
    chart,
    axisLatency,
    key
  )
  return {
    root,
    icon,
    state,
    since,
    availability,
    bar,
    segments,
    barStart,
    chart,
    p50,
    p99,
    chartMax,
    latencyNow
  }
}

/** The path of one percentile across the buckets, broken where a bucket has no sample. */
const linePath = (points: ReadonlyArray<number | null>, max: number) => {
  const step = points.length > 1 ? 300 / (points.length - 1) : 0
  let d = ""
  let drawing = false
  points.forEach((value, i) => {
    if (value === null) {
      drawing = false
      return
    }
    const x = (i * step).toFixed(1)
    const y = (100 - (value / max) * 100).toFixed(1)
    d += `${drawing ? "L" : "M"}${x} ${y}`
    // A lone point is drawn as a dot (a zero-length segment with round caps).
    if (!drawing && (i + 1 >= points.length || points[i + 1] === null)) d += `L${x} ${y}`
    drawing = true
  })
  return d
}

/** A round upper bound for the chart's scale: 1, 2 or 5 times a power of ten. */
const niceMax = (value: number) => {
  if (value <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  return ([1, 2, 5, 10].find((m) => m * power >= value) ?? 10) * power
}

const drawLatency = (card: Card, dependency: DependencyReport) => {
  const series: ReadonlyArray<LatencyPoint> = dependency.latencySeries
  const highest = Math.max(0, ...series.map((point) => point.p99 ?? 0))
  const max = niceMax(highest * 1.1)
  card.p50.setAttribute("d", linePath(series.map((point) => point.p50), max))
  card.p99.setAttribute("d", linePath(series.map((point) => point.p99), max))
  card.chartMax.textContent = milliseconds(max)
  const { p50, p99, samples } = dependency.latencyMs
  card.latencyNow.textContent = samples === 0
    ? "No check in the last 5 minutes."
    : `p50 ${milliseconds(p50)} · p99 ${milliseconds(p99)} over ${samples} checks`
  card.chart.setAttribute(
    "aria-label",
    `Check latency over the last 5 minutes: p50 ${milliseconds(p50)}, p99 ${milliseconds(p99)}`
  )
}

const drawDependency = (name: string, dependency: DependencyReport, now: Date, stale: boolean) => {
  let card = cards.get(name)
  if (card === undefined) {
    card = makeCard(name, dependency.uptime.length)
    cards.set(name, card)
    byId("dependencies").append(card.root)
  }
  const text = dependencyText(dependency)
  card.root.dataset.state = dependency.status
  card.icon.textContent = text.icon
  card.state.textContent = stale ? `Last known: ${text.label}` : text.label
  const since = new Date(dependency.since)
  card.since.textContent = `${dependency.status === "up" ? "Up" : "Down"} since ${when(since, now)} (${
    duration(now.getTime() - since.getTime())
  })`
  drawAvailability(card.availability, dependency.windows)

  dependency.uptime.forEach((segment, i) => {
    const span = card.segments[i]
    if (span === undefined) return
    span.className = segmentClass(segment.availability)
    span.title = segmentTitle(segment)
  })
  const first = dependency.uptime[0]
  card.barStart.textContent = first === undefined ? "" : `${hourMinute(new Date(first.start))}, 24 h ago`
  card.bar.setAttribute(
    "aria-label",
    `${labelOf(name)} uptime over the last 24 hours: ${percent(dependency.windows.lastDay.availability)}`
  )
  drawLatency(card, dependency)

  const said = `${labelOf(name)} is ${text.label.toLowerCase()}`
  if (announced.has(name) && announced.get(name) !== said) announce(said)
  announced.set(name, said)
}

type ChangeRow = DependencyReport["changes"][number] & { readonly name: string }

let changesKey = ""

const drawChanges = (report: StatusReport, now: Date) => {
  const rows: Array<ChangeRow> = Object.entries(report.dependencies)
    .flatMap(([name, dependency]) => dependency.changes.map((change) => ({ ...change, name })))
    .sort((a, b) => b.at.localeCompare(a.at))
    .slice(0, changesShown)
  byId("no-changes").hidden = rows.length > 0
  const key = JSON.stringify(rows)
  if (key === changesKey) return
  changesKey = key
  byId("changes").replaceChildren(...rows.map((row) => {
    const item = element("li")
    item.dataset.state = row.status
    const time = element("time", undefined, when(new Date(row.at), now))
    time.dateTime = row.at
    const icon = element("span", "icon", row.status === "up" ? "✓" : "✕")
    icon.setAttribute("aria-hidden", "true")
    const state = element("span", "state change-state")
    state.append(
      icon,
      element("span", "state-text", row.status === "up" ? "up" : `down: ${row.error ?? "unknown reason"}`)
    )
    item.append(time, element("span", "change-name", labelOf(row.name)), state)
    return item
  }))
}

const draw = () => {
  const report = lastReport
  const now = new Date()
  const stale = lostSince !== undefined
  const main = byId("main")
  main.classList.toggle("stale", stale)
  const contact = byId("contact")
  contact.hidden = !stale
  if (lostSince !== undefined) {
    const icon = element("span", "icon", "!")
    icon.setAttribute("aria-hidden", "true")
    contact.replaceChildren(
      icon,
      `Lost contact with the service since ${when(lostSince, now)}. ` + (lastReceivedAt === undefined
        ? "No data received yet."
        : `Showing the last data received, as of ${when(lastReceivedAt, now)}: it may no longer be true.`)
    )
  }
  byId("freshness").textContent = lastReceivedAt === undefined
    ? "Loading…"
    : stale
    ? `Not updating · last update ${when(lastReceivedAt, now)}`
    : `Live · updated ${clock(lastReceivedAt)}`
  if (report === undefined) {
    if (stale) drawOverall("unknown", "The service has not answered yet.")
    return
  }
  main.setAttribute("aria-busy", "false")

  const overall = overallOf(report)
  const since = new Date(report.since)
  const down = Object.entries(report.dependencies).filter(([, d]) => d.status === "down").map(([name]) => labelOf(name))
  const detail = overall === "shutting-down"
    ? "The service is stopping."
    : overall === "ready"
    ? `All dependencies up since ${when(since, now)} (${duration(now.getTime() - since.getTime())}).`
    : `${down.join(" and ")} down; not ready since ${when(since, now)} (${duration(now.getTime() - since.getTime())}).`
  if (stale) {
    drawOverall("unknown", `Last known: ${overallText[overall].label.toLowerCase()}. ${detail}`)
  } else {
    drawOverall(overall, detail)
  }
  drawAvailability(byId("overall-availability"), report.windows)
  for (const [name, dependency] of Object.entries(report.dependencies)) drawDependency(name, dependency, now, stale)
  drawChanges(report, now)
}

const drawOverall = (overall: Overall, detail: string) => {
  byId("overall").dataset.state = overall
  byId("overall-icon").textContent = overallText[overall].icon
  byId("overall-label").textContent = overallText[overall].label
  byId("overall-detail").textContent = detail
  const said = `Service ${overallText[overall].label.toLowerCase()}`
  if (announced.has("overall") && announced.get("overall") !== said) announce(said)
  announced.set("overall", said)
}

// ---------------------------------------------------------------------------------------------------------------
// Polling

const isReport = (value: unknown): value is StatusReport =>
  typeof value === "object" && value !== null && "status" in value && "dependencies" in value

let timer: number | undefined

const poll = async () => {
  timer = undefined
  const attemptedAt = new Date()
  try {
    const response = await fetch("status", {
      headers: { accept: "application/json" },
      cache: "no-store",
      signal: AbortSignal.timeout(requestTimeoutMillis)
    })
    if (!response.ok) throw new Error(`status ${response.status}`)
    const body: unknown = await response.json()
    if (!isReport(body)) throw new Error("not a status report")
    lastReport = body
    lastReceivedAt = new Date()
    lostSince = undefined
  } catch {
    // A failed poll is the news: the service is gone, restarting, or unreachable. The last report stays, marked stale.
    lostSince ??= attemptedAt
  }
  draw()
  schedule()
}

const schedule = () => {
  if (timer !== undefined) return
  timer = window.setTimeout(() => void poll(), document.hidden ? hiddenPollMillis : pollMillis)
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden || timer === undefined) return
  window.clearTimeout(timer)
  timer = undefined
  void poll()
})

void poll()

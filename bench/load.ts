// One autocannon run. Latencies are recorded from autocannon's per-response timings rather than its histogram,
// which keeps whole milliseconds only: too coarse for a p99 ratio between two runs of a 2 ms route.
import autocannon from "autocannon"

export interface LoadOptions {
  readonly url: string
  readonly connections: number
  readonly durationS?: number
  readonly amount?: number
}

export interface LoadResult {
  readonly url: string
  readonly connections: number
  readonly durationS: number
  readonly ok: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
}

const percentile = (sorted: Float64Array, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

export const load = (options: LoadOptions): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16)
    let count = 0
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        ...(options.amount === undefined ? { duration: options.durationS ?? 5 } : { amount: options.amount })
      },
      (error: unknown, result) => {
        if (error !== null && error !== undefined) return reject(error)
        const sorted = latencies.subarray(0, count).sort()
        resolve({
          url: options.url,
          connections: options.connections,
          durationS: result.duration,
          ok: result["2xx"],
          rps: result.duration > 0 ? result["2xx"] / result.duration : 0,
          p50Ms: percentile(sorted, 0.5),
          p99Ms: percentile(sorted, 0.99),
          maxMs: percentile(sorted, 1),
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts
        })
      }
    )
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode >= 300) return
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2)
        grown.set(latencies)
        latencies = grown
      }
      latencies[count++] = responseTime
    })
  })

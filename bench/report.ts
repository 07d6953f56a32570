// Targets of the bench and their markdown rendering; a missed target is reported, never an exit code.
export interface Row {
  readonly measure: string
  readonly target: string
  readonly value: string
  readonly met: boolean | undefined
}

export const fixed = (value: number | undefined, digits = 2): string =>
  value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(digits)

export const atMost = (value: number | undefined, limit: number): boolean | undefined =>
  value === undefined || !Number.isFinite(value) ? undefined : value <= limit

export const atLeast = (value: number | undefined, limit: number): boolean | undefined =>
  value === undefined || !Number.isFinite(value) ? undefined : value >= limit

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Per-round ratios between neighbouring measurements, summed up: their median and range. */
export interface PairedRatio {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly rounds: number
}

/**
 * The two figures of a round are measured seconds apart, so drift of the machine's rate over the run cancels, and a
 * dip in a few rounds does not move the median.
 */
export const pairedRatio = (
  numerator: ReadonlyArray<number>,
  denominator: ReadonlyArray<number>
): PairedRatio => {
  const ratios = numerator.map((value, i) => value / denominator[i]!)
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds: ratios.length }
}

export const describeRatio = (ratio: PairedRatio): string =>
  `${fixed(ratio.median)} (median of ${ratio.rounds} paired rounds, ${fixed(ratio.min)}-${fixed(ratio.max)})`

const metLabel = (met: boolean | undefined): string => (met === undefined ? "n/a" : met ? "yes" : "**no**")

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n")

export const targetsTable = (rows: ReadonlyArray<Row>): string =>
  table(
    ["measure", "target", "value", "met?"],
    rows.map((row) => [row.measure, row.target, row.value, metLabel(row.met)])
  )

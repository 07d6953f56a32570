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

const metLabel = (met: boolean | undefined): string => (met === undefined ? "n/a" : met ? "yes" : "**no**")

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n")

export const targetsTable = (rows: ReadonlyArray<Row>): string =>
  table(
    ["measure", "target", "value", "met?"],
    rows.map((row) => [row.measure, row.target, row.value, metLabel(row.met)])
  )

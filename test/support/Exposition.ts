// Reads samples out of a Prometheus text exposition, for assertions. (The service never formats one by hand.)

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export const parse = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) return []
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]))
    return [{ name: match[1]!, labels, value: Number(match[3]) }]
  })

/** The value of the one sample with exactly these labels, or undefined. */
export const value = (
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number | undefined => {
  const wanted = Object.entries(labels)
  const found = parse(text).find((sample) =>
    sample.name === name && Object.keys(sample.labels).length === wanted.length &&
    wanted.every(([key, v]) => sample.labels[key] === v)
  )
  return found?.value
}

/** The `# TYPE` of each metric family. */
export const types = (text: string): ReadonlyMap<string, string> =>
  new Map(
    text.split("\n").flatMap((line) => {
      const match = /^# TYPE (\S+) (\S+)$/.exec(line)
      return match === null ? [] : [[match[1]!, match[2]!] as const]
    })
  )

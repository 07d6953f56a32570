// The chaos suite runs only on purpose: `pnpm test:chaos` sets the variable; anything else stops here.
if (process.env.DASHBOARD_CHAOS !== "1") {
  throw new Error("The chaos suite is opt-in: run it with `pnpm test:chaos` (it sets DASHBOARD_CHAOS=1).")
}

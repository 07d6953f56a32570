// The browser suite runs only on purpose: `pnpm test:browser` builds and sets the variable; anything else stops here.
if (process.env.DASHBOARD_BROWSER !== "1") {
  throw new Error("The browser suite is opt-in: run it with `pnpm test:browser` (it sets DASHBOARD_BROWSER=1).")
}

/**
 * How the stats tools (`luanet stats`, `tasks`, `top`) print numbers: short, fixed units, so a
 * column of them lines up and reads at a glance.
 * @internal
 */

/** Milliseconds: "7us", "1.25ms", "12.3ms", "1.20s". */
export function ms(value: number): string {
  if (value < 1) return `${Math.round(value * 1000)}us`;
  if (value < 10) return `${value.toFixed(2)}ms`;
  if (value < 1000) return `${value.toFixed(1)}ms`;
  return `${(value / 1000).toFixed(2)}s`;
}

/** How long something has run (ms): "42s", "4m10s", "3h5m" (luanet ls, ps, stats). */
export function uptime(value: number): string {
  const s = Math.floor(value / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** A duration of waiting, finer below a minute: "850ms", "3.2s", "4m10s". */
export function waited(value: number): string {
  if (value < 1000) return `${Math.round(value)}ms`;
  return value < 60_000 ? `${(value / 1000).toFixed(1)}s` : uptime(value);
}

/** Bytes: "512B", "1.5K", "20.3M", "1.10G" (powers of 1024). */
export function bytes(value: number): string {
  if (value < 1024) return `${value}B`;
  if (value < 1048576) return `${(value / 1024).toFixed(1)}K`;
  if (value < 1073741824) return `${(value / 1048576).toFixed(1)}M`;
  return `${(value / 1073741824).toFixed(2)}G`;
}

/** A rate per second: "0", "3.5", "1234". */
export function rate(value: number): string {
  if (value === 0) return "0";
  return value < 100 ? value.toFixed(1) : String(Math.round(value));
}

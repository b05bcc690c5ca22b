// Numbers as the daemons' status pages print them (the CPE's, the HAG's): rates in bit/s, byte
// counts, durations.

export function fmtRate(b: number): string {
  if (b >= 1e6) return `${(b / 1e6).toFixed(b >= 1e7 ? 0 : 1)} Mbit/s`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(0)} kbit/s`;
  return `${b.toFixed(0)} bit/s`;
}

export function fmtBytes(b: number): string {
  if (b >= 1e9) return `${(b / 1e9).toFixed(2)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  return `${(b / 1e3).toFixed(0)} kB`;
}

export function fmtDuration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return m > 0 ? `${m} min ${Math.floor(s % 60)} s` : `${Math.floor(s)} s`;
}

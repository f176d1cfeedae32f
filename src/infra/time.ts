// Times a person reads (docs/configuration.md, "Times"): the user's local time zone with its
// offset, no milliseconds, and how far away it is — `14:05 (+01:00), in 59 min`. JSON output keeps
// RFC 3339 UTC; this is only for stderr and tables.

/** `+01:00`, `-05:30`, `+00:00` for the local zone at that moment (TZ is honoured by Node). */
export function offsetOf(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `14:05 (+01:00)` on the same local day as `now`, else `2026-12-05 14:05 (+01:00)`. */
export function localTime(at: number, now: number): string {
  const d = new Date(at);
  const n = new Date(now);
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${sameDay ? '' : `${day} `}${pad(d.getHours())}:${pad(d.getMinutes())} (${offsetOf(d)})`;
}

/** `in 59 min`, `in 2 h 5 min`, `in 3 days`, `12 min ago`, `now`. */
export function relative(at: number, now: number): string {
  const ahead = at >= now;
  // Rounded down: "in 59 min" for a token good for 59.5 more minutes never overstates.
  const min = Math.floor(Math.abs(at - now) / 60_000);
  let span: string;
  if (min < 1) return 'now';
  if (min < 60) span = `${min} min`;
  else if (min < 48 * 60) span = `${Math.floor(min / 60)} h${min % 60 ? ` ${min % 60} min` : ''}`;
  else span = `${Math.round(min / 1440)} days`;
  return ahead ? `in ${span}` : `${span} ago`;
}

/** `14:05 (+01:00), in 59 min` */
export function when(at: number, now: number): string {
  return `${localTime(at, now)}, ${relative(at, now)}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

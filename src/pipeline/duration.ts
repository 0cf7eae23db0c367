// GitLab parses `timeout` and `expire_in` with ChronicDuration: human durations like `1h 30m`,
// `3 hours and 5 minutes`, `90 minutes`, `1:30:00`, or a bare number of seconds.

const UNITS: Record<string, number> = {};
function unit(seconds: number, ...names: string[]): void {
  for (const n of names) UNITS[n] = seconds;
}
unit(1, 's', 'sec', 'secs', 'second', 'seconds');
unit(60, 'm', 'min', 'mins', 'minute', 'minutes');
unit(3600, 'h', 'hr', 'hrs', 'hour', 'hours');
unit(86400, 'd', 'day', 'days');
unit(604800, 'w', 'wk', 'wks', 'week', 'weeks');
unit(30 * 86400, 'mo', 'mos', 'month', 'months'); // ChronicDuration's month is 30 days
unit(31557600, 'y', 'yr', 'yrs', 'year', 'years'); // and its year 365.25 days

const CLOCK = /^(?:(\d+):)?(\d+):(\d{1,2})$/;
const PART = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/;

/** Seconds, or null when the text is not a duration. */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? Math.round(input) : null;
  const text = input.trim().toLowerCase();
  if (text === '') return null;
  const clock = CLOCK.exec(text);
  if (clock) return Number(clock[1] ?? 0) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
  // "1h30m" and "1 hour, 30 minutes and 5 seconds" both split into number+unit parts.
  const parts = text
    .replace(/,/g, ' ')
    .replace(/\band\b/g, ' ')
    .match(/(\d+(?:\.\d+)?|\.\d+)\s*[a-z]*/g);
  const rest = text.replace(/,/g, ' ').replace(/\band\b/g, ' ').replace(/(\d+(?:\.\d+)?|\.\d+)\s*[a-z]*/g, '').trim();
  if (!parts || rest !== '') return null;
  let total = 0;
  for (const p of parts) {
    const m = PART.exec(p.trim());
    if (!m) return null;
    const u = m[2] === '' ? 1 : UNITS[m[2]!];
    if (u === undefined) return null;
    total += Number(m[1]) * u;
  }
  return Math.round(total);
}

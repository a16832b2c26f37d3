// Schedules of policies: a cron expression or an interval, in a time zone. Pure functions of
// time (milliseconds since the epoch), so the scheduler runs on any clock and tests control it.
//
// - *cron*: five fields "minute hour day-of-month month day-of-week" (numbers, `*`, lists,
//   ranges, steps such as `*/15` or `1-5`; day-of-week 0 or 7 is Sunday; when both day fields
//   are restricted a day matching either runs, as in Vixie cron), or @hourly, @daily,
//   @weekly, @monthly, @yearly. Evaluated on the wall clock of the schedule's time zone.
//   A wall time that does not exist (spring forward) runs shifted by the gap (02:30 runs at
//   03:30); a wall time that happens twice (fall back) runs once, at its first occurrence.
// - *interval*: every N minutes of elapsed time, counted from midnight of 2000-01-01 on the
//   zone's wall clock (so "every 6 hours" lands on 00:00, 06:00 ... until a DST change
//   shifts the wall clock by an hour; elapsed time between runs never changes).

export interface Schedule {
  /** cron expression (five fields or @daily ...); exactly one of cron and everyMinutes */
  cron?: string;
  everyMinutes?: number;
  /** IANA zone such as "Europe/Berlin"; default UTC */
  timeZone?: string;
}

interface CronFields {
  minutes: number[];
  hours: number[];
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  daysRestricted: boolean;
  weekdaysRestricted: boolean;
}

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

function parseField(text: string, min: number, max: number, what: string): number[] {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw new Error(`${what}: "${part}" is not a number, range, list or step`);
    let from = min;
    let to = max;
    if (match[1] !== '*') {
      from = Number(match[2]);
      to = match[3] === undefined ? (match[4] === undefined ? from : max) : Number(match[3]);
    }
    const step = match[4] === undefined ? 1 : Number(match[4]);
    if (from < min || to > max || from > to) throw new Error(`${what}: "${part}" is outside ${min}-${max}`);
    if (step < 1) throw new Error(`${what}: step must be at least 1`);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

export function parseCron(expression: string): CronFields {
  const text = MACROS[expression.trim().toLowerCase()] ?? expression.trim();
  const fields = text.split(/\s+/);
  if (fields.length !== 5) throw new Error(`a cron expression has five fields (minute hour day month weekday), got ${fields.length}`);
  const weekdays = parseField(fields[4], 0, 7, 'day of week').map((d) => (d === 7 ? 0 : d));
  return {
    minutes: parseField(fields[0], 0, 59, 'minute'),
    hours: parseField(fields[1], 0, 23, 'hour'),
    days: new Set(parseField(fields[2], 1, 31, 'day of month')),
    months: new Set(parseField(fields[3], 1, 12, 'month')),
    weekdays: new Set(weekdays),
    daysRestricted: fields[2] !== '*',
    weekdaysRestricted: fields[4] !== '*',
  };
}

/** A problem with a schedule, or null when it is usable. */
export function scheduleProblem(schedule: Schedule): string | null {
  if ((schedule.cron === undefined) === (schedule.everyMinutes === undefined)) return 'give either a cron expression or an interval';
  if (schedule.everyMinutes !== undefined && (!Number.isInteger(schedule.everyMinutes) || schedule.everyMinutes < 1 || schedule.everyMinutes > 366 * 1440)) {
    return 'the interval must be a whole number of minutes from 1 to 527040';
  }
  if (schedule.timeZone !== undefined && !validTimeZone(schedule.timeZone)) return `unknown time zone "${schedule.timeZone}"`;
  if (schedule.cron !== undefined) {
    try {
      parseCron(schedule.cron);
    } catch (error) {
      return (error as Error).message;
    }
  }
  return null;
}

export function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's wall clock at an instant. */
export function wallClock(time: number, zone = 'UTC'): { year: number; month: number; day: number; hour: number; minute: number; weekday: number } {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
    formatters.set(zone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(new Date(time))) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday),
  };
}

/** Minutes the zone is ahead of UTC at an instant. */
function offsetMinutes(time: number, zone: string): number {
  const w = wallClock(time, zone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  return Math.round((asUtc - Math.floor(time / 60_000) * 60_000) / 60_000);
}

/**
 * The instant of a wall time in a zone: the first occurrence when it happens twice; for a
 * wall time inside a spring-forward gap, the first instant after the gap.
 */
export function zonedTime(year: number, month: number, day: number, hour: number, minute: number, zone = 'UTC'): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const candidates: number[] = [];
  // Offsets a zone has around this wall time: before and after any change within a day.
  for (const probe of [wall - 86_400_000, wall, wall + 86_400_000]) {
    const t = wall - offsetMinutes(probe, zone) * 60_000;
    const w = wallClock(t, zone);
    if (w.year === year && w.month === month && w.day === day && w.hour === hour && w.minute === minute) candidates.push(t);
  }
  if (candidates.length) return Math.min(...candidates);
  // In a gap: shift by the offset before the change, which lands just past the gap.
  return wall - offsetMinutes(wall - 86_400_000, zone) * 60_000;
}

function cronDayTimes(fields: CronFields, year: number, month: number, day: number, zone: string): number[] {
  if (!fields.months.has(month)) return [];
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  const dayOk = fields.days.has(day);
  const weekdayOk = fields.weekdays.has(weekday);
  const matches = fields.daysRestricted && fields.weekdaysRestricted ? dayOk || weekdayOk : dayOk && weekdayOk;
  if (!matches) return [];
  const times = new Set<number>();
  for (const hour of fields.hours) for (const minute of fields.minutes) times.add(zonedTime(year, month, day, hour, minute, zone));
  return [...times].sort((a, b) => a - b);
}

function intervalAnchor(zone: string): number {
  return zonedTime(2000, 1, 1, 0, 0, zone);
}

/** How far the search for a cron slot looks (a Feb 29 schedule fires within 8 years). */
const SEARCH_DAYS = 8 * 366 + 2;

/** The first slot strictly after `after`; null when the schedule never fires. */
export function nextSlot(schedule: Schedule, after: number): number | null {
  const zone = schedule.timeZone ?? 'UTC';
  if (schedule.everyMinutes !== undefined) {
    const step = schedule.everyMinutes * 60_000;
    const anchor = intervalAnchor(zone);
    return anchor + (Math.floor((after - anchor) / step) + 1) * step;
  }
  const fields = parseCron(schedule.cron!);
  const start = wallClock(after, zone);
  for (let i = -1; i < SEARCH_DAYS; i++) {
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + i));
    const times = cronDayTimes(fields, date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), zone);
    const found = times.find((t) => t > after);
    if (found !== undefined) return found;
  }
  return null;
}

/** The last slot at or before `atOrBefore`; null when there is none in the search window. */
export function previousSlot(schedule: Schedule, atOrBefore: number): number | null {
  const zone = schedule.timeZone ?? 'UTC';
  if (schedule.everyMinutes !== undefined) {
    const step = schedule.everyMinutes * 60_000;
    const anchor = intervalAnchor(zone);
    return anchor + Math.floor((atOrBefore - anchor) / step) * step;
  }
  const fields = parseCron(schedule.cron!);
  const start = wallClock(atOrBefore, zone);
  for (let i = 1; i > -SEARCH_DAYS; i--) {
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + i));
    const times = cronDayTimes(fields, date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), zone);
    const found = times.filter((t) => t <= atOrBefore).pop();
    if (found !== undefined) return found;
  }
  return null;
}

/** "every 6 h", "cron 0 2 * * * (Europe/Berlin)" */
export function describeSchedule(schedule: Schedule): string {
  const zone = schedule.timeZone && schedule.timeZone !== 'UTC' ? ` (${schedule.timeZone})` : ' (UTC)';
  if (schedule.everyMinutes !== undefined) {
    const m = schedule.everyMinutes;
    const text = m % 1440 === 0 ? `${m / 1440} d` : m % 60 === 0 ? `${m / 60} h` : `${m} min`;
    return `every ${text}${zone}`;
  }
  return `cron ${schedule.cron}${zone}`;
}

/** "30m", "6h", "1d", "90" (minutes) in minutes; null when not a duration. */
export function parseEvery(text: string): number | null {
  const match = /^(\d+)\s*(m|min|h|d|w)?$/i.exec(text.trim());
  if (!match) return null;
  const factor = { m: 1, min: 1, h: 60, d: 1440, w: 10080 }[(match[2] ?? 'm').toLowerCase() as 'm'];
  const minutes = Number(match[1]) * factor;
  return minutes > 0 ? minutes : null;
}

// Desktop notifications of the Electron app: a job that ended badly (failed, or ran and found
// problems, such as a scheduled verify that found damaged blocks) tells the admin even when
// the window is hidden. Pure: the Electron entry shows what this returns.
import { jobOutcome } from '../src-shared/api/outcome';
import { isFinished, type Job } from '../src-shared/api/types';

export interface DesktopNotice {
  title: string;
  body: string;
}

/** What to show for a job's change, or null (still running, all good, or canceled by someone). */
export function noticeFor(job: Job): DesktopNotice | null {
  if (!isFinished(job.state) || job.state === 'canceled') return null;
  const outcome = jobOutcome(job);
  if (outcome.tone !== 'bad' && outcome.tone !== 'warn') return null;
  const what = job.state === 'failed' ? `${job.kind} failed` : `${job.kind} found problems`;
  const detail = job.error ? job.error.message : outcome.label;
  return { title: `Blockvault: ${what}`, body: `${job.title}\n${detail}`.slice(0, 500) };
}

/** Remembers which jobs were announced: a finished job's final state may arrive more than once. */
export class NoticeBoard {
  private readonly announced = new Set<string>();
  next(job: Job): DesktopNotice | null {
    if (this.announced.has(job.id)) return null;
    const notice = noticeFor(job);
    if (notice) this.announced.add(job.id);
    return notice;
  }
}

import { formatDeadline } from './task-email';
import { type LinkAnswer, verifyTaskLink } from './task-links';
import { answerTask, type TaskRecord, type TaskResumer, type TaskStore } from './tasks';
import { stripControl } from './text';

/** A request to the task page: a function URL's, or the local server's. */
export interface TaskPageRequest {
  method: string;
  /** Path and query, e.g. `/?link=...`. */
  url: string;
  /** The form, `application/x-www-form-urlencoded`, on POST. */
  body?: string;
}

export interface TaskPageResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface TaskPageDeps {
  store: TaskStore;
  resumer: TaskResumer;
  /** The HMAC key the links are signed with. */
  key: () => Promise<Uint8Array>;
  now?: () => Date;
}

/** Longest name and reason kept: enough for any real answer, not for a flood. */
const MAX_NAME = 200;
const MAX_REASON = 2000;

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // No script, no external anything: the page is a form posting to itself.
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

/** Every character HTML could read as markup, escaped. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"'`]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] ?? c,
  );
}

function page(status: number, title: string, bodyHtml: string): TaskPageResponse {
  return {
    status,
    headers: { ...HEADERS },
    body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
dt{font-weight:bold}dd{margin:0 0 .5rem 0}label{display:block;margin-top:1rem}input,textarea{width:100%;font:inherit}
button{margin-top:1rem;font:inherit;padding:.4rem 1rem}.problem{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${bodyHtml}
</body></html>
`,
  };
}

function detailsHtml(task: TaskRecord): string {
  const d = task.details;
  const rows: Array<[string, unknown]> =
    task.kind === 'release-brake'
      ? [
          ['Offboardings in the window', d.count],
          ['Limit', `${d.limit} in ${d.windowMinutes} minutes`],
          // Live, not as the email said: every offboarding while the pause is open joins it.
          ['Runs waiting now', task.tokens.length],
          ...(Array.isArray(d.emails) && d.emails.length > 0
            ? ([['Waiting', d.emails.join(', ')]] as Array<[string, unknown]>)
            : []),
          ['Decide by', formatDeadline(task.deadline)],
        ]
      : [
          ['Person', d.email],
          ['System', `${d.type} (connection ${d.connection})`],
          ['User id', d.userId],
          ['Why by hand', d.why],
          ['By', formatDeadline(task.deadline)],
        ];
  return `<dl>${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function wording(task: TaskRecord, answer: LinkAnswer) {
  const brake = task.kind === 'release-brake';
  if (answer === 'done')
    return {
      title: brake ? 'Release the safety brake' : 'Confirm: the account is switched off',
      button: brake ? 'Release' : 'Confirm: done',
      ask: brake
        ? 'The waiting offboardings go on when you confirm.'
        : `Confirm only once you have switched the account off in ${task.details.type}'s admin console. The workflow then checks it through the vendor's API.`,
    };
  return {
    title: brake ? 'Keep the offboardings stopped' : 'Report: I could not switch the account off',
    button: brake ? 'Keep stopped' : 'Send: I could not',
    ask: brake
      ? 'The waiting offboardings fail, with nothing written, when you confirm.'
      : 'The offboarding records this connection as failed, with your reason.',
  };
}

function formHtml(
  task: TaskRecord,
  link: string,
  answer: LinkAnswer,
  values: { by?: string; reason?: string; problem?: string } = {},
): string {
  const w = wording(task, answer);
  const reason =
    answer === 'failed'
      ? `<label for="reason">Why not?</label><textarea id="reason" name="reason" rows="4" required maxlength="${MAX_REASON}">${escapeHtml(values.reason)}</textarea>`
      : '';
  return `${detailsHtml(task)}
<p>${escapeHtml(w.ask)}</p>
${values.problem ? `<p class="problem" role="alert">${escapeHtml(values.problem)}</p>` : ''}
<form method="post" action="">
<input type="hidden" name="link" value="${escapeHtml(link)}">
${
  task.kind === 'release-brake'
    ? `<input type="hidden" name="waiting" value="${task.tokens.length}">
`
    : ''
}<label for="by">Your name</label><input id="by" name="by" required maxlength="${MAX_NAME}" autocomplete="name" value="${escapeHtml(values.by)}">
${reason}
<button type="submit">${escapeHtml(w.button)}</button>
</form>`;
}

function answeredPage(task: TaskRecord, status: number): TaskPageResponse {
  const a = task.answer;
  if (!a) throw new Error('answeredPage: task has no answer');
  const what =
    task.kind === 'release-brake'
      ? a.ok
        ? 'released the brake'
        : 'kept the offboardings stopped'
      : a.ok
        ? 'switched the account off'
        : 'could not switch the account off';
  return page(
    status,
    'This task was already answered',
    `<p>${escapeHtml(a.by)} ${escapeHtml(what)} at ${escapeHtml(formatDeadline(a.at))}${a.reason ? `: ${escapeHtml(a.reason)}` : ''}.</p>
${detailsHtml(task)}
<p>Nothing more to do here.</p>`,
  );
}

const PROBLEM_PAGES = {
  malformed: [
    400,
    'This link is not complete',
    'The link is cut short or mangled. Open it again from the email, whole.',
  ],
  tampered: [
    400,
    'This link is not valid',
    'The link was changed after it was sent, so it answers nothing. Open it again from the email, unchanged.',
  ],
  unknown: [404, 'No such task', 'This link names a task this workflow does not hold. Nothing was answered.'],
} as const;

function problemPage(problem: keyof typeof PROBLEM_PAGES): TaskPageResponse {
  const [status, title, text] = PROBLEM_PAGES[problem];
  return page(status, title, `<p>${escapeHtml(text)}</p>`);
}

/**
 * The task page. GET shows the task and a confirmation form and never acts (mail scanners
 * open links); POST answers through answerTask. Expired, tampered, unknown and already
 * answered links get a page that says so and resume nothing.
 */
export async function handleTaskPage(
  request: TaskPageRequest,
  deps: TaskPageDeps,
): Promise<TaskPageResponse> {
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'POST' && method !== 'HEAD')
    return {
      ...page(405, 'Not allowed', '<p>Open the link from the email.</p>'),
      headers: { ...HEADERS, allow: 'GET, POST' },
    };
  const query = new URL(request.url, 'http://task.invalid').searchParams;
  const form = method === 'POST' ? new URLSearchParams(request.body ?? '') : undefined;
  const link = form?.get('link') ?? query.get('link') ?? '';
  const now = (deps.now ?? (() => new Date()))();
  const check = verifyTaskLink(link, await deps.key(), now.getTime());
  if (!check.ok && check.problem !== 'expired') return problemPage(check.problem);
  const id = check.ok ? check.link.id : check.link.id;
  const task = await deps.store.get(id);
  if (!task) return problemPage('unknown');
  if (task.answer) return answeredPage(task, method === 'POST' ? 409 : 200);
  if (!check.ok)
    return page(
      410,
      'This link has expired',
      `<p>The task's deadline, ${escapeHtml(formatDeadline(task.deadline))}, has passed: the offboarding no longer waits for it, and nothing was answered.</p>${detailsHtml(task)}`,
    );
  const answer = check.link.answer;
  if (method !== 'POST' || !form) return page(200, wording(task, answer).title, formHtml(task, link, answer));

  // Shown later on terminals (report --brake, a refusal's cause): no escape sequences.
  const by = stripControl(form.get('by') ?? '').trim();
  const reason = stripControl(form.get('reason') ?? '').trim();
  const problem =
    by === ''
      ? 'Please give your name.'
      : by.length > MAX_NAME
        ? `Please keep your name under ${MAX_NAME} characters.`
        : answer === 'failed' && reason === ''
          ? 'Please say why you could not.'
          : reason.length > MAX_REASON
            ? `Please keep the reason under ${MAX_REASON} characters.`
            : undefined;
  if (problem)
    return page(400, wording(task, answer).title, formHtml(task, link, answer, { by, reason, problem }));
  // A release lets through every run waiting on the pause: only as many as the person saw.
  const seen = form.get('waiting');
  if (task.kind === 'release-brake' && answer === 'done' && seen !== String(task.tokens.length))
    return page(
      409,
      wording(task, answer).title,
      formHtml(task, link, answer, {
        by,
        reason,
        problem: `${task.tokens.length} runs wait on this release now, not ${seen ?? 'the number'} this page showed: check again, and confirm to release them all.`,
      }),
    );

  const result = await answerTask(deps, id, {
    ok: answer === 'done',
    ...(answer === 'failed' ? { reason } : {}),
    by,
    at: now.toISOString(),
  });
  if (!result.first) return answeredPage(result.record, 409);
  const thanks =
    task.kind === 'release-brake'
      ? answer === 'done'
        ? 'The brake is released: the waiting offboardings go on.'
        : 'The offboardings stay stopped: the waiting runs fail with nothing written.'
      : answer === 'done'
        ? `Recorded. The workflow now checks through ${String(task.details.type)}'s API that the account is off.`
        : 'Recorded: this connection fails with your reason, for someone to follow up.';
  return page(200, 'Thank you', `<p>${escapeHtml(thanks)}</p>${detailsHtml(task)}`);
}

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newTaskId, taskTimes } from '../../lambdas/shared/tasks';
import { FileTaskStore, LocalTaskStore } from '../../local/tasks';

/**
 * Local tasks are files shared by terminals. A write a terminal has begun but not finished (the
 * file created, its bytes not yet written: a descheduled process, a slow disk) must not crash
 * a run that reads the task at that moment, nor lose it its answer.
 */

/** The armed writeFile stops after creating its file (empty) until `release()`. */
const slow = vi.hoisted(() => {
  const state = {
    /** A file system without hard links: `link` fails with EPERM. */
    noHardLinks: false,
    gate: undefined as undefined | { entered: () => void; released: Promise<void> },
    /** Resolves when the armed write has created its file. */
    entered: Promise.resolve(),
    release: () => {},
    /** Writes to let through before the armed one. */
    skip: 0,
    /** Arms the `nth` writeFile from now. */
    arm(nth = 1) {
      state.skip = nth - 1;
      let entered = () => {};
      state.entered = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const released = new Promise<void>((resolve) => {
        state.release = resolve;
      });
      state.gate = { entered, released };
    },
  };
  return state;
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof real.writeFile = async (file, data, options) => {
    const gate = slow.gate;
    if (!gate || slow.skip-- > 0) return real.writeFile(file, data, options);
    slow.gate = undefined;
    const flags = typeof options === 'object' && options ? options : {};
    await real.writeFile(file, '', flags);
    gate.entered();
    await gate.released;
    return real.writeFile(file, data, { ...flags, flag: 'w' });
  };
  const link: typeof real.link = async (from, to) => {
    if (slow.noHardLinks)
      throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
    return real.link(from, to);
  };
  return { ...real, default: { ...real, writeFile, link }, writeFile, link };
});

/** A fresh store, and a release-brake task to open in it. */
function prepare() {
  const store = new FileTaskStore(mkdtempSync(join(tmpdir(), 'offboard-task-files-')));
  const now = new Date();
  const task = {
    id: newTaskId(),
    kind: 'release-brake' as const,
    createdAt: now.toISOString(),
    ...taskTimes(now, 3_600),
    executionId: 'local',
    details: { limit: 2 },
  };
  return { store, task, at: now.toISOString() };
}

afterEach(() => {
  slow.noHardLinks = false;
});

describe('local task files written by another terminal', () => {
  it.each([
    // The answer's temporary file is the write that stops half-way
    ['', false, 1],
    // The temporary is written whole; the in-place create that stands in for a link stops
    [' on a file system without hard links', true, 2],
  ])(
    'a run joining while the answer is half-written%s neither crashes nor misses the answer',
    async (_, noHardLinks, nth) => {
      // Prepare: a task one run waits on
      slow.noHardLinks = noHardLinks;
      const { store, task, at } = prepare();
      const first = LocalTaskStore.newToken();
      await store.openOrJoin(task, first);
      // Act: the answer stops after creating its file; a second run joins at that moment
      slow.arm(nth);
      const answering = store.answer(task.id, { ok: true, by: 'hr-lead', at });
      await slow.entered;
      const second = LocalTaskStore.newToken();
      const joined = await store.openOrJoin(task, second);
      slow.release();
      const answered = await answering;
      // Assess: the joining run read a whole task and no answer; the answer resumes it
      expect(joined.record.id).toBe(task.id);
      expect(answered.first).toBe(true);
      expect(joined.record.answer).toBeUndefined();
      expect(answered.record.tokens).toEqual([first, second].sort());
      expect((await store.get(task.id))?.answer).toMatchObject({ ok: true, by: 'hr-lead' });
    },
  );

  it('on a file system without hard links, a task is still opened once and answered once', async () => {
    // Prepare
    slow.noHardLinks = true;
    const { store, task, at } = prepare();
    // Act
    const opened = await Promise.all([
      store.openOrJoin(task, LocalTaskStore.newToken()),
      store.openOrJoin(task, LocalTaskStore.newToken()),
    ]);
    const answers = await Promise.all([
      store.answer(task.id, { ok: true, by: 'a', at }),
      store.answer(task.id, { ok: false, reason: 'no', by: 'b', at }),
    ]);
    // Assess
    expect(opened.map((o) => o.created).sort()).toEqual([false, true]);
    expect(answers.filter((a) => a.first)).toHaveLength(1);
    expect((await store.get(task.id))?.tokens).toHaveLength(2);
  });
});

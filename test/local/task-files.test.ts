import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { taskTimes } from '../../lambdas/shared/tasks';
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

describe('local task files written by another terminal', () => {
  it('a run joining while the answer is half-written neither crashes nor misses the answer', async () => {
    // Prepare: a task one run waits on
    const store = new FileTaskStore(mkdtempSync(join(tmpdir(), 'offboard-task-files-')));
    const now = new Date();
    const task = {
      id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      kind: 'release-brake' as const,
      createdAt: now.toISOString(),
      ...taskTimes(now, 3_600),
      executionId: 'local',
      details: { limit: 2 },
    };
    const first = LocalTaskStore.newToken();
    await store.openOrJoin(task, first);
    // Act: the answer stops after creating its file; a second run joins at that moment
    slow.arm();
    const answering = store.answer(task.id, { ok: true, by: 'hr-lead', at: now.toISOString() });
    await slow.entered;
    const second = LocalTaskStore.newToken();
    const joined = await store.openOrJoin(task, second);
    slow.release();
    const answered = await answering;
    // Assess: the joining run read a whole task; if it saw no answer, the answer resumes it
    expect(joined.record.id).toBe(task.id);
    expect(answered.first).toBe(true);
    expect(joined.record.answer).toBeUndefined();
    expect(answered.record.tokens).toEqual([first, second].sort());
    expect((await store.get(task.id))?.answer).toMatchObject({ ok: true, by: 'hr-lead' });
  });

  it('on a file system without hard links, a task is still opened once and answered once', async () => {
    // Prepare
    slow.noHardLinks = true;
    const store = new FileTaskStore(mkdtempSync(join(tmpdir(), 'offboard-task-files-')));
    const now = new Date();
    const task = {
      id: '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
      kind: 'release-brake' as const,
      createdAt: now.toISOString(),
      ...taskTimes(now, 3_600),
      executionId: 'local',
      details: { limit: 2 },
    };
    try {
      // Act
      const opened = await Promise.all([
        store.openOrJoin(task, LocalTaskStore.newToken()),
        store.openOrJoin(task, LocalTaskStore.newToken()),
      ]);
      const answers = await Promise.all([
        store.answer(task.id, { ok: true, by: 'a', at: now.toISOString() }),
        store.answer(task.id, { ok: false, reason: 'no', by: 'b', at: now.toISOString() }),
      ]);
      // Assess
      expect(opened.map((o) => o.created).sort()).toEqual([false, true]);
      expect(answers.filter((a) => a.first)).toHaveLength(1);
      expect((await store.get(task.id))?.tokens).toHaveLength(2);
    } finally {
      slow.noHardLinks = false;
    }
  });

  it('without hard links, a run reading a half-written answer sees no answer yet, and the answer resumes it', async () => {
    // Prepare
    slow.noHardLinks = true;
    const store = new FileTaskStore(mkdtempSync(join(tmpdir(), 'offboard-task-files-')));
    const now = new Date();
    const task = {
      id: '1f2e3d4c5b6a79880796a5b4c3d2e1f0',
      kind: 'release-brake' as const,
      createdAt: now.toISOString(),
      ...taskTimes(now, 3_600),
      executionId: 'local',
      details: { limit: 2 },
    };
    const first = LocalTaskStore.newToken();
    await store.openOrJoin(task, first);
    try {
      // Act: the answer's temporary is written, then its in-place create stops half-way
      slow.arm(2);
      const answering = store.answer(task.id, { ok: true, by: 'hr-lead', at: now.toISOString() });
      await slow.entered;
      const second = LocalTaskStore.newToken();
      const joined = await store.openOrJoin(task, second);
      slow.release();
      const answered = await answering;
      // Assess
      expect(joined.record.answer).toBeUndefined();
      expect(answered.record.tokens).toEqual([first, second].sort());
    } finally {
      slow.noHardLinks = false;
    }
  });
});

import { afterEach, expect } from 'vitest';

/** What every vendor sandbox offers a test: the requests it received, and a way to stop it. */
interface Sandbox {
  requests: ReadonlyArray<{ method: string }>;
  close(): Promise<void>;
}

/**
 * `start`, with every sandbox it starts in a test closed after that test, and then checked
 * to hold no request that `forbidden` matches: the calls a connector must never send (a
 * DELETE that removes an account for good, say). Call it once, at the top of a test file.
 */
export function sandboxStarter<Args extends unknown[], Box extends Sandbox>(
  start: (...args: Args) => Promise<Box>,
  forbidden: (request: Box['requests'][number]) => boolean = () => false,
): (...args: Args) => Promise<Box> {
  const opened: Box[] = [];
  afterEach(async () => {
    const boxes = opened.splice(0);
    await Promise.all(boxes.map((box) => box.close()));
    for (const box of boxes) expect(box.requests.filter((request) => forbidden(request))).toEqual([]);
  });
  return async (...args) => {
    const box = await start(...args);
    opened.push(box);
    return box;
  };
}

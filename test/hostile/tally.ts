import { afterAll, afterEach } from 'vitest';

/**
 * Counts the cases of one part of the hostile suite and prints the count when the file is
 * done, so that `npm test` says how much was tried, not only that it passed.
 */
export function countCases(kind: string): void {
  let tried = 0;
  afterEach(() => {
    tried++;
  });
  afterAll(() => {
    console.log(`hostile suite: ${tried} ${kind} tried`);
  });
}
